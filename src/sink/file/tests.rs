//! Behaviour of a `FileSet` on real files in temporary directories, with a manual clock.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug)]
struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    fn at(rfc3339: &str) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(t(rfc3339))))
    }
    fn set(&self, to: SystemTime) {
        *self.0.lock().unwrap() = to;
    }
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

fn t(rfc3339: &str) -> SystemTime {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .into()
}

/// Indexes of closed files are authenticated under a key derived from this chain key.
#[cfg(feature = "gzip")]
fn index_key() -> crate::chain::index::IndexKey {
    crate::chain::index::IndexKey::derive(&crate::chain::ChainKey::new("k1", b"index key"))
}

/// `config` for a keyed trail: closed files get their authenticated index.
#[cfg(feature = "gzip")]
fn keyed(config: FileSink) -> FileSink {
    config.index_key(Some(index_key()))
}

fn sink(dir: &Path, clock: &Arc<ManualClock>) -> FileSink {
    FileSink::new(dir).clock(Arc::clone(clock) as Arc<dyn Clock>)
}

/// What the writer thread does per record: rotate first if due, then write the whole line.
fn emit(set: &mut FileSet, line: &str) {
    let now = set.now();
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    if set.needs_rotation(now, bytes.len() as u64) {
        let expected = set.next_name(now);
        set.rotate(now).unwrap();
        assert_eq!(set.current_name(), expected);
    }
    set.write(&bytes).unwrap();
}

/// Names of this prefix's data files, sorted as text.
fn data_files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| naming::parse(prefix, n).is_some())
        .collect();
    names.sort();
    names
}

fn read(dir: &Path, name: &str) -> String {
    String::from_utf8(fs::read(dir.join(name)).unwrap()).unwrap()
}

fn set_mtime(path: &Path, to: SystemTime) {
    fs::File::options()
        .append(true)
        .open(path)
        .unwrap()
        .set_modified(to)
        .unwrap();
}

fn check_time_rotation(
    rotation: Rotation,
    start: &str,
    before: &str,
    boundary: &str,
    names: [&str; 2],
) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(start);
    let config = sink(dir.path(), &clock).rotation(rotation);
    let (mut set, _) = FileSet::open(&config, "audit").unwrap();
    assert_eq!(set.current_name(), names[0]);
    emit(&mut set, "one");
    assert_eq!(set.next_deadline(), Some(t(boundary)));
    assert!(!set.needs_rotation(t(before), 4));
    assert!(set.needs_rotation(t(boundary), 4));
    clock.set(t(boundary));
    emit(&mut set, "two");
    assert_eq!(set.current_name(), names[1]);
    assert_eq!(data_files(dir.path(), "audit"), names);
    assert_eq!(read(dir.path(), names[0]), "one\n");
    assert_eq!(read(dir.path(), names[1]), "two\n");
    assert_eq!(set.take_stats().rotations, 1);
}

#[test]
fn minutely_rotation_happens_at_the_utc_minute() {
    check_time_rotation(
        Rotation::Minutely,
        "2026-11-26T05:56:07Z",
        "2026-11-26T05:56:59.999999999Z",
        "2026-11-26T05:57:00Z",
        [
            "audit.2026-11-26T05-56.0001.jsonl",
            "audit.2026-11-26T05-57.0001.jsonl",
        ],
    );
}

#[test]
fn hourly_rotation_happens_at_the_utc_hour() {
    check_time_rotation(
        Rotation::Hourly,
        "2026-11-26T05:56:07Z",
        "2026-11-26T05:59:59.999Z",
        "2026-11-26T06:00:00Z",
        [
            "audit.2026-11-26T05.0001.jsonl",
            "audit.2026-11-26T06.0001.jsonl",
        ],
    );
}

#[test]
fn daily_rotation_happens_at_utc_midnight() {
    check_time_rotation(
        Rotation::Daily,
        "2026-11-26T23:56:07+05:00", // 18:56 UTC: the UTC day decides, not the local one
        "2026-11-26T23:59:59Z",
        "2026-11-27T00:00:00Z",
        ["audit.2026-11-26.0001.jsonl", "audit.2026-11-27.0001.jsonl"],
    );
}

#[test]
fn weekly_rotation_happens_on_monday_and_names_the_monday() {
    // 2026-11-26 is a Thursday; its week began on Monday 2026-11-23.
    check_time_rotation(
        Rotation::Weekly,
        "2026-11-26T05:56:07Z",
        "2026-11-29T23:59:59Z",
        "2026-11-30T00:00:00Z",
        ["audit.2026-11-23.0001.jsonl", "audit.2026-11-30.0001.jsonl"],
    );
}

#[test]
fn never_rotation_has_no_deadline_and_names_the_creation_date() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (set, _) =
        FileSet::open(&sink(dir.path(), &clock).rotation(Rotation::Never), "debug").unwrap();
    assert_eq!(set.current_name(), "debug.2026-11-26.0001.jsonl");
    assert_eq!(set.next_deadline(), None);
    assert!(!set.needs_rotation(t("2030-01-01T00:00:00Z"), 1 << 40));
}

#[test]
fn size_rotation_starts_a_new_counter_before_the_limit_is_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(dir.path(), &clock).max_file_size(10), "audit").unwrap();
    for line in ["aaaa", "bbbb", "cccc", "dddd", "eeee"] {
        emit(&mut set, line); // 5 bytes each: two fit into 10
    }
    assert_eq!(
        data_files(dir.path(), "audit"),
        [
            "audit.2026-11-26.0001.jsonl",
            "audit.2026-11-26.0002.jsonl",
            "audit.2026-11-26.0003.jsonl"
        ]
    );
    assert_eq!(
        read(dir.path(), "audit.2026-11-26.0001.jsonl"),
        "aaaa\nbbbb\n"
    );
    assert_eq!(read(dir.path(), "audit.2026-11-26.0003.jsonl"), "eeee\n");
}

#[test]
fn oversize_record_goes_alone_into_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(dir.path(), &clock).max_file_size(8), "audit").unwrap();
    assert!(
        !set.needs_rotation(set.now(), 1000),
        "an empty file takes any record"
    );
    let big = "x".repeat(50);
    emit(&mut set, "a");
    emit(&mut set, &big);
    emit(&mut set, "b");
    let files = data_files(dir.path(), "audit");
    assert_eq!(files.len(), 3);
    assert_eq!(read(dir.path(), &files[0]), "a\n");
    assert_eq!(read(dir.path(), &files[1]), format!("{big}\n"));
    assert_eq!(read(dir.path(), &files[2]), "b\n");
}

#[test]
fn time_and_size_rotation_together_keep_names_in_order_and_records_whole() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:58:30Z");
    let config = sink(dir.path(), &clock)
        .rotation(Rotation::Minutely)
        .max_file_size(64);
    let (mut set, _) = FileSet::open(&config, "audit").unwrap();
    let mut written = Vec::new();
    for i in 0..300 {
        let line = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "p".repeat(i % 23));
        emit(&mut set, &line);
        written.push(line);
        clock.advance(Duration::from_millis(700));
    }
    let files = data_files(dir.path(), "audit");
    assert!(files.len() > 10, "{files:?}");
    assert!(
        files.iter().any(|f| f.contains("T06-00.")),
        "crossed the hour: {files:?}"
    );
    // Sorted by name, the files hold the records in the order they were written.
    let mut on_disk = Vec::new();
    for f in &files {
        let content = read(dir.path(), f);
        assert!(content.ends_with('\n'), "{f} ends mid-record");
        assert!(
            content.len() <= 64 || content.lines().count() == 1,
            "{f} too big"
        );
        on_disk.extend(content.lines().map(str::to_owned));
    }
    assert_eq!(on_disk, written);
}

#[test]
fn quiet_sink_rotates_at_the_deadline_without_writes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(
        &sink(dir.path(), &clock).rotation(Rotation::Hourly),
        "audit",
    )
    .unwrap();
    let deadline = set.next_deadline().unwrap();
    assert_eq!(deadline, t("2026-11-26T06:00:00Z"));
    // The writer wakes at the deadline with nothing to write.
    assert!(set.needs_rotation(deadline, 0));
    set.rotate(deadline).unwrap();
    assert_eq!(set.current_name(), "audit.2026-11-26T06.0001.jsonl");
    assert_eq!(set.next_deadline(), Some(t("2026-11-26T07:00:00Z")));
}

#[test]
fn current_link_follows_the_active_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(dir.path(), &clock).max_file_size(4), "audit").unwrap();
    let link = dir.path().join("audit.current.jsonl");
    assert_eq!(fs::read_link(&link).unwrap(), Path::new(set.current_name()));
    emit(&mut set, "one");
    emit(&mut set, "two");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        Path::new("audit.2026-11-26.0002.jsonl")
    );
    assert_eq!(fs::read(&link).unwrap(), b"two\n");
}

#[test]
fn clock_going_backwards_keeps_names_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T06:00:05Z");
    let (mut set, _) = FileSet::open(
        &sink(dir.path(), &clock).rotation(Rotation::Hourly),
        "audit",
    )
    .unwrap();
    let earlier = t("2026-11-26T05:59:00Z");
    assert!(!set.needs_rotation(earlier, 1));
    set.rotate(earlier).unwrap();
    assert_eq!(set.current_name(), "audit.2026-11-26T06.0002.jsonl");
}

#[test]
fn unset_durability_falls_back_to_the_streams_default() {
    let unset = FileSink::new("/nonexistent");
    assert_eq!(
        unset.durability_or(Durability::EveryBatch),
        Durability::EveryBatch
    );
    let set = unset.durability(Durability::Interval(Duration::from_millis(5)));
    assert_eq!(
        set.durability_or(Durability::Never),
        Durability::Interval(Duration::from_millis(5))
    );
}

// ---- retention ----

/// Opens a sink rotating by size (one record per file) and writes `n` records.
fn files_by_size(dir: &Path, clock: &Arc<ManualClock>, retention: Retention, n: usize) -> FileSet {
    let config = sink(dir, clock).max_file_size(1).retention(retention);
    let (mut set, _) = FileSet::open(&config, "audit").unwrap();
    for i in 0..n {
        emit(&mut set, &format!("record {i}"));
    }
    set.settle();
    set
}

#[test]
fn retention_by_count_keeps_the_newest_files_including_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let mut set = files_by_size(dir.path(), &clock, Retention::keep_all().max_files(3), 7);
    let files = data_files(dir.path(), "audit");
    assert_eq!(
        files,
        [
            "audit.2026-11-26.0005.jsonl",
            "audit.2026-11-26.0006.jsonl",
            "audit.2026-11-26.0007.jsonl"
        ]
    );
    assert_eq!(set.current_name(), "audit.2026-11-26.0007.jsonl");
    assert_eq!(set.take_stats().pruned, 4);
}

#[test]
fn retention_by_age_deletes_closed_files_older_than_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let mut set = files_by_size(
        dir.path(),
        &clock,
        Retention::keep_all().max_age(Duration::from_secs(86_400)),
        4,
    );
    let files = data_files(dir.path(), "audit");
    assert_eq!(files.len(), 4, "real mtimes are younger than a day");
    let now = t("2026-11-26T05:56:07Z");
    set_mtime(
        &dir.path().join(&files[0]),
        now - Duration::from_secs(3 * 86_400),
    );
    set_mtime(
        &dir.path().join(&files[1]),
        now - Duration::from_secs(2 * 86_400),
    );
    set_mtime(
        &dir.path().join(&files[2]),
        now - Duration::from_secs(3_600),
    );
    // The active file is old too, and must survive.
    set_mtime(
        &dir.path().join(&files[3]),
        now - Duration::from_secs(9 * 86_400),
    );
    set.maintain(Job::Prune(now));
    set.settle();
    let left = data_files(dir.path(), "audit");
    assert_eq!(left, [files[2].clone(), files[3].clone()]);
    assert_eq!(set.current_name(), files[3]);
    assert_eq!(set.take_stats().pruned, 2);
}

#[test]
fn retention_by_total_bytes_deletes_oldest_until_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    // Each file holds "record N\n" = 9 bytes; 30 bytes keep three files.
    let set = files_by_size(
        dir.path(),
        &clock,
        Retention::keep_all().max_total_bytes(30),
        6,
    );
    // With every file written (the active one included), the newest three fit in 30 bytes.
    let now = set.now();
    set.maintain(Job::Prune(now));
    set.settle();
    assert_eq!(
        data_files(dir.path(), "audit"),
        [
            "audit.2026-11-26.0004.jsonl",
            "audit.2026-11-26.0005.jsonl",
            "audit.2026-11-26.0006.jsonl"
        ]
    );
    assert_eq!(set.current_name(), "audit.2026-11-26.0006.jsonl");
}

#[test]
fn min_age_protects_young_files_from_every_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let retention = Retention::keep_all()
        .max_files(1)
        .max_total_bytes(1)
        .max_age(Duration::ZERO)
        .min_age(Duration::from_secs(400 * 86_400));
    let mut set = files_by_size(dir.path(), &clock, retention, 5);
    assert_eq!(data_files(dir.path(), "audit").len(), 5);
    // Once a file is older than min_age, the limits apply to it.
    let oldest = dir.path().join("audit.2026-11-26.0001.jsonl");
    set_mtime(&oldest, t("2025-01-01T00:00:00Z"));
    let now = set.now();
    set.rotate(now).unwrap();
    set.settle();
    assert!(!oldest.exists());
    assert_eq!(data_files(dir.path(), "audit").len(), 5);
}

#[test]
fn foreign_files_with_similar_names_survive_retention() {
    let dir = tempfile::tempdir().unwrap();
    let old = t("2020-01-01T00:00:00Z");
    let foreign = [
        "audit_debug.2026-11-20.0001.jsonl",
        "auditx.2026-11-20.0001.jsonl",
        "audit.2026-11-20.0001.jsonl.bak",
        "audit.debug.2026-11-20.0001.jsonl",
        "audit.2026-11-20.001.jsonl",
        "audit.torn-1.partial",
        "audit.checkpoint",
        "notes.txt",
    ];
    for name in foreign {
        fs::write(dir.path().join(name), b"keep me\n").unwrap();
        set_mtime(&dir.path().join(name), old);
    }
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let retention = Retention::keep_all()
        .max_files(1)
        .max_age(Duration::ZERO)
        .max_total_bytes(0);
    let mut set = files_by_size(dir.path(), &clock, retention, 4);
    // A debug sink in the same directory keeps its own files too.
    let debug_config = sink(dir.path(), &clock)
        .max_file_size(1)
        .retention(Retention::keep_all().max_files(2));
    let (mut debug, _) = FileSet::open(&debug_config, "debug").unwrap();
    for i in 0..3 {
        emit(&mut debug, &format!("debug {i}"));
    }
    emit(&mut set, "last");
    set.settle();
    debug.settle();
    for name in foreign {
        assert_eq!(
            fs::read(dir.path().join(name)).unwrap(),
            b"keep me\n",
            "{name}"
        );
    }
    assert_eq!(data_files(dir.path(), "audit"), [set.current_name()]);
    assert_eq!(data_files(dir.path(), "debug").len(), 2);
}

#[test]
fn active_file_survives_any_retention() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let retention = Retention::keep_all()
        .max_files(0)
        .max_age(Duration::ZERO)
        .max_total_bytes(0);
    let (mut set, _) =
        FileSet::open(&sink(dir.path(), &clock).retention(retention), "audit").unwrap();
    emit(&mut set, "still here");
    set_mtime(&set.active_path(), t("2000-01-01T00:00:00Z"));
    let now = set.now();
    set.maintain(Job::Prune(now));
    set.settle();
    assert_eq!(read(dir.path(), set.current_name()), "still here\n");
}

#[test]
fn retention_never_deletes_a_planted_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("audit.2026-01-01.0001.jsonl")).unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let _set = files_by_size(dir.path(), &clock, Retention::keep_all().max_files(1), 3);
    assert!(fs::symlink_metadata(dir.path().join("audit.2026-01-01.0001.jsonl")).is_ok());
    assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
}

// ---- restart ----

#[test]
fn restart_appends_to_the_newest_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = sink(dir.path(), &clock);
    let (mut first, recovered) = FileSet::open(&config, "audit").unwrap();
    assert!(recovered.last_line.is_none() && recovered.torn.is_none());
    emit(&mut first, "from run 1");
    first.sync().unwrap();
    let name = first.current_name().to_owned();
    drop(first);
    clock.advance(Duration::from_secs(60));
    let (mut second, recovered) = FileSet::open(&config, "audit").unwrap();
    assert_eq!(second.current_name(), name);
    assert_eq!(recovered.last_line.as_deref(), Some(&b"from run 1"[..]));
    assert!(!second.needs_rotation(second.now(), 20));
    emit(&mut second, "from run 2");
    assert_eq!(read(dir.path(), &name), "from run 1\nfrom run 2\n");
    assert_eq!(data_files(dir.path(), "audit"), [name]);
}

#[test]
fn restart_after_the_boundary_passed_rotates_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T23:59:58Z");
    let config = sink(dir.path(), &clock);
    let (mut first, _) = FileSet::open(&config, "audit").unwrap();
    emit(&mut first, "before midnight");
    drop(first);
    clock.set(t("2026-11-28T10:00:00Z"));
    let (mut second, recovered) = FileSet::open(&config, "audit").unwrap();
    assert_eq!(second.current_name(), "audit.2026-11-26.0001.jsonl");
    assert_eq!(
        recovered.last_line.as_deref(),
        Some(&b"before midnight"[..])
    );
    assert!(second.needs_rotation(second.now(), 0));
    emit(&mut second, "after restart");
    assert_eq!(second.current_name(), "audit.2026-11-28.0001.jsonl");
    assert_eq!(
        read(dir.path(), "audit.2026-11-26.0001.jsonl"),
        "before midnight\n"
    );
}

#[test]
fn restart_with_an_empty_newest_file_reports_the_previous_files_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = sink(dir.path(), &clock).max_file_size(5);
    let (mut first, _) = FileSet::open(&config, "audit").unwrap();
    emit(&mut first, "seal");
    let now = first.now();
    first.rotate(now).unwrap();
    drop(first);
    let (second, recovered) = FileSet::open(&config, "audit").unwrap();
    assert_eq!(second.current_name(), "audit.2026-11-26.0002.jsonl");
    assert_eq!(recovered.last_line.as_deref(), Some(&b"seal"[..]));
}

#[test]
fn torn_last_line_is_set_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let name = "audit.2026-11-26.0001.jsonl";
    fs::write(
        dir.path().join(name),
        b"{\"n\":1}\n{\"n\":2}\n{\"n\":3,\"half",
    )
    .unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, recovered) = FileSet::open(&sink(dir.path(), &clock), "audit").unwrap();
    let torn = recovered.torn.expect("torn tail reported");
    assert_eq!(torn.file, name);
    assert_eq!(torn.bytes, 12);
    let nanos = t("2026-11-26T05:56:07Z")
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert_eq!(
        torn.set_aside,
        dir.path().join(format!("audit.torn-{nanos}.partial"))
    );
    assert_eq!(fs::read(&torn.set_aside).unwrap(), b"{\"n\":3,\"half");
    assert_eq!(recovered.last_line.as_deref(), Some(&b"{\"n\":2}"[..]));
    emit(&mut set, "{\"n\":3}");
    assert_eq!(read(dir.path(), name), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
}

#[test]
fn restart_does_not_follow_a_symlink_planted_as_the_newest_file() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap(); // no trailing newline: would be "torn"
    std::os::unix::fs::symlink(&victim, dir.path().join("audit.2026-11-26.0001.jsonl")).unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, recovered) = FileSet::open(&sink(dir.path(), &clock), "audit").unwrap();
    assert!(recovered.torn.is_none());
    assert_eq!(set.current_name(), "audit.2026-11-26.0002.jsonl");
    emit(&mut set, "x");
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert!(
        !set.take_stats().errors.is_empty(),
        "the refused file is reported"
    );
}

// ---- security ----

#[test]
fn audit_files_are_created_0600_in_a_0700_dir() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("logs/audit");
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(&dir, &clock).max_file_size(1), "audit").unwrap();
    emit(&mut set, "a");
    emit(&mut set, "b");
    set.publish_checkpoint(b"{\"checkpoint\":1}").unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&base.path().join("logs")), 0o700);
    for name in data_files(&dir, "audit") {
        assert_eq!(mode(&dir.join(&name)), 0o600, "{name}");
    }
    assert_eq!(mode(&dir.join("audit.checkpoint")), 0o600);
}

#[test]
fn file_and_dir_modes_are_configurable() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("shared");
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = sink(&dir, &clock).file_mode(0o640).dir_mode(0o750);
    let (set, _) = FileSet::open(&config, "debug").unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&dir), 0o750);
    assert_eq!(mode(&set.active_path()), 0o640);
}

#[test]
fn symlink_planted_at_the_next_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious\n").unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(dir.path(), &clock), "audit").unwrap();
    emit(&mut set, "one");
    let now = set.now();
    let planned = set.next_name(now);
    assert_eq!(planned, "audit.2026-11-26.0002.jsonl");
    std::os::unix::fs::symlink(&victim, dir.path().join(&planned)).unwrap();
    set.rotate(now).unwrap();
    assert_eq!(set.current_name(), "audit.2026-11-26.0003.jsonl");
    emit(&mut set, "two");
    assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
    assert!(fs::symlink_metadata(dir.path().join(&planned))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn file_planted_at_the_next_name_is_not_clobbered() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(dir.path(), &clock), "audit").unwrap();
    let now = set.now();
    let planted = dir.path().join(set.next_name(now));
    fs::write(&planted, b"not ours\n").unwrap();
    set.rotate(now).unwrap();
    emit(&mut set, "ours");
    assert_eq!(fs::read(&planted).unwrap(), b"not ours\n");
    assert_eq!(set.current_name(), "audit.2026-11-26.0003.jsonl");
    // Planted between choosing a name and creating it: the exclusive create moves on.
    let racing = dir.path().join("audit.2026-11-26.0004.jsonl");
    fs::write(&racing, b"raced\n").unwrap();
    let active = create_active(
        &set.settings,
        Rotation::Daily,
        "audit.2026-11-26.0004.jsonl".to_owned(),
    )
    .unwrap();
    assert_eq!(active.name, "audit.2026-11-26.0005.jsonl");
    assert_eq!(fs::read(&racing).unwrap(), b"raced\n");
}

#[test]
fn files_are_not_inherited_by_child_processes() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (set, _) = FileSet::open(&sink(dir.path(), &clock), "audit").unwrap();
    let flags = unsafe { libc::fcntl(set.active.file.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0 && flags & libc::FD_CLOEXEC != 0);
}

#[test]
fn deleted_active_file_is_noticed_and_a_new_one_opened() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(dir.path(), &clock), "audit").unwrap();
    emit(&mut set, "one");
    fs::remove_file(set.active_path()).unwrap();
    clock.advance(Duration::from_secs(1));
    emit(&mut set, "two");
    assert_eq!(set.current_name(), "audit.2026-11-26.0002.jsonl");
    assert_eq!(read(dir.path(), "audit.current.jsonl"), "two\n");
    let stats = set.take_stats();
    assert_eq!(stats.errors.len(), 1);
    assert!(stats.errors[0].to_string().contains("deleted or replaced"));
}

#[test]
fn removed_directory_is_recreated_with_its_mode() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("audit");
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(&dir, &clock), "audit").unwrap();
    emit(&mut set, "one");
    fs::remove_dir_all(&dir).unwrap();
    clock.advance(Duration::from_secs(1));
    emit(&mut set, "two");
    assert_eq!(read(&dir, set.current_name()), "two\n");
    assert_eq!(read(&dir, "audit.current.jsonl"), "two\n");
    let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
}

#[test]
fn replaced_active_file_is_noticed_and_a_new_one_opened() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(dir.path(), &clock), "audit").unwrap();
    emit(&mut set, "one");
    let impostor = dir.path().join("impostor");
    fs::write(&impostor, b"forged\n").unwrap();
    fs::rename(&impostor, set.active_path()).unwrap();
    clock.advance(Duration::from_secs(1));
    emit(&mut set, "two");
    assert_eq!(read(dir.path(), "audit.2026-11-26.0001.jsonl"), "forged\n");
    assert_eq!(read(dir.path(), set.current_name()), "two\n");
    assert_ne!(set.current_name(), "audit.2026-11-26.0001.jsonl");
}

#[test]
fn identity_check_is_rate_limited_by_clock_seconds_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(dir.path(), &clock), "audit").unwrap();
    fs::remove_file(set.active_path()).unwrap();
    emit(&mut set, "same second");
    assert_eq!(set.current_name(), "audit.2026-11-26.0001.jsonl");
    for _ in 0..WRITES_PER_IDENTITY_CHECK {
        emit(&mut set, "x");
    }
    assert_eq!(set.current_name(), "audit.2026-11-26.0002.jsonl");
}

#[test]
fn checkpoint_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (set, _) = FileSet::open(&sink(dir.path(), &clock), "audit").unwrap();
    set.publish_checkpoint(b"{\"seq\":1}").unwrap();
    set.publish_checkpoint(b"{\"seq\":2}").unwrap();
    assert_eq!(read(dir.path(), "audit.checkpoint"), "{\"seq\":2}\n");
    assert!(!dir.path().join(".audit.checkpoint.tmp").exists());
}

#[test]
fn a_second_writer_of_the_same_trail_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = sink(dir.path(), &clock);
    let (first, _) = FileSet::open(&config, "audit").unwrap();
    let err = FileSet::open(&config, "audit").unwrap_err();
    assert!(
        err.to_string().contains("another writer holds the lock"),
        "{err}"
    );
    // Another prefix in the same directory is a different trail.
    FileSet::open(&config, "debug").unwrap();
    drop(first);
    FileSet::open(&config, "audit").unwrap();
}

#[test]
fn unusable_prefix_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = FileSet::open(&FileSink::new(dir.path()).prefix("../escape"), "audit").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

// ---- compression ----

#[cfg(feature = "gzip")]
fn gunzip(path: &Path) -> String {
    use std::io::Read;
    let mut out = String::new();
    flate2::read::GzDecoder::new(fs::File::open(path).unwrap())
        .read_to_string(&mut out)
        .unwrap();
    out
}

#[cfg(feature = "gzip")]
#[test]
fn closed_files_are_gzipped_with_identical_content() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = sink(dir.path(), &clock).max_file_size(100).compress(true);
    let (mut set, _) = FileSet::open(&config, "audit").unwrap();
    let mut expected = Vec::new();
    for i in 0..30 {
        let line = format!("{{\"n\":{i}}}");
        emit(&mut set, &line);
        expected.push(line);
    }
    let active = set.current_name().to_owned();
    drop(set); // waits for the queued compressions
    let files = data_files(dir.path(), "audit");
    let mut all = String::new();
    for f in &files {
        if f == &active {
            all.push_str(&read(dir.path(), f));
        } else {
            assert!(f.ends_with(".jsonl.gz"), "{f} not compressed");
            all.push_str(&gunzip(&dir.path().join(f)));
        }
    }
    assert!(files.len() > 2);
    assert_eq!(all.lines().collect::<Vec<_>>(), expected);
    assert!(!fs::read_dir(dir.path())
        .unwrap()
        .any(|e| { e.unwrap().file_name().to_string_lossy().ends_with(".tmp") }));
}

#[cfg(feature = "gzip")]
#[test]
fn compression_leftovers_are_finished_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Crash during compression: the original and a half-written temporary.
    fs::write(d.join("audit.2026-11-24.0001.jsonl"), b"one\n").unwrap();
    fs::write(
        d.join("audit.2026-11-24.0001.jsonl.gz.tmp"),
        b"\x1f\x8b garbage",
    )
    .unwrap();
    // Crash after the rename, before removing the original.
    fs::write(d.join("audit.2026-11-25.0001.jsonl"), b"two\n").unwrap();
    {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"two\n").unwrap();
        fs::write(
            d.join("audit.2026-11-25.0001.jsonl.gz"),
            gz.finish().unwrap(),
        )
        .unwrap();
    }
    // The newest file is continued, not compressed.
    fs::write(d.join("audit.2026-11-26.0001.jsonl"), b"three\n").unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (set, recovered) = FileSet::open(&keyed(sink(d, &clock)).compress(true), "audit").unwrap();
    assert_eq!(recovered.last_line.as_deref(), Some(&b"three"[..]));
    drop(set);
    let mut names: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".audit.lock",
            // Compressed files are indexed in their final form; so is the newest closed one,
            // which a crash may have left without its index.
            "audit.2026-11-24.0001.jsonl.gz",
            "audit.2026-11-24.0001.jsonl.gz.idx",
            "audit.2026-11-25.0001.jsonl.gz",
            "audit.2026-11-25.0001.jsonl.gz.idx",
            "audit.2026-11-26.0001.jsonl",
            "audit.current.jsonl",
        ]
    );
    assert_eq!(gunzip(&d.join("audit.2026-11-24.0001.jsonl.gz")), "one\n");
    assert_eq!(gunzip(&d.join("audit.2026-11-25.0001.jsonl.gz")), "two\n");
}

#[cfg(feature = "gzip")]
#[test]
fn compressed_files_keep_their_modification_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let old = t("2026-01-01T00:00:00Z");
    fs::write(d.join("audit.2026-01-01.0001.jsonl"), b"old\n").unwrap();
    set_mtime(&d.join("audit.2026-01-01.0001.jsonl"), old);
    fs::write(d.join("audit.2026-11-26.0001.jsonl"), b"new\n").unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    drop(FileSet::open(&sink(d, &clock).compress(true), "audit").unwrap());
    // Compression must not make the old file look new to retention by age.
    let gz = d.join("audit.2026-01-01.0001.jsonl.gz");
    assert_eq!(fs::metadata(gz).unwrap().modified().unwrap(), old);
}

#[test]
fn a_file_and_its_compressed_copy_count_once_for_retention() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in [
        "audit.2026-11-24.0001.jsonl",
        "audit.2026-11-24.0001.jsonl.gz",
        "audit.2026-11-25.0001.jsonl",
        "audit.2026-11-26.0001.jsonl",
    ] {
        fs::write(d.join(name), b"x\n").unwrap();
    }
    let now = t("2026-11-26T05:56:07Z");
    let active = "audit.2026-11-26.0001.jsonl";
    let keep3 = Retention::keep_all().max_files(3);
    let done = retention::prune(d, "audit", &keep3, active, now);
    assert_eq!(done.files, 0);
    assert_eq!(data_files(d, "audit").len(), 4);
    let keep2 = Retention::keep_all().max_files(2);
    let done = retention::prune(d, "audit", &keep2, active, now);
    assert_eq!(done.files, 1);
    assert_eq!(
        data_files(d, "audit"),
        ["audit.2026-11-25.0001.jsonl", "audit.2026-11-26.0001.jsonl"]
    );
}

// ---- write failures ----

const CHILD_DIR: &str = "TRACING_AUDIT_FILES_TEST_CHILD_DIR";

/// Runs this very test in a child process with `dir` in the environment, returning its stdout.
fn run_child(test: &str, dir: &Path) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn failed_write_under_rlimit_fsize_leaves_no_partial_record() {
    const RECORD: &[u8] = b"{\"record\":\"twenty-nine bytes\"}\n";
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        // Child: the file size limit makes the write that crosses 1000 bytes short, then EFBIG.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
            limit.rlim_cur = 1000;
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        }
        let (mut set, _) = FileSet::open(&FileSink::new(PathBuf::from(dir)), "audit").unwrap();
        let mut ok = 0;
        let err = loop {
            match set.write(RECORD) {
                Ok(()) => ok += 1,
                Err(e) => break e,
            }
        };
        // A retry fails the same way and still leaves nothing behind.
        let again = set.write(RECORD).unwrap_err();
        println!(
            "ok={ok} err={err} again={again} name={}",
            set.current_name()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_child(
        "sink::file::tests::failed_write_under_rlimit_fsize_leaves_no_partial_record",
        dir.path(),
    );
    // The harness may print the test's name on the same line before the child's output.
    let line = out[out.find("ok=").unwrap()..].lines().next().unwrap();
    let ok: usize = line["ok=".len()..line.find(' ').unwrap()].parse().unwrap();
    assert_eq!(ok, 1000 / RECORD.len());
    // Both errors name the file and keep the OS error.
    let efbig = format!("os error {}", libc::EFBIG);
    assert_eq!(line.matches(&efbig).count(), 2, "{line}");
    assert_eq!(line.matches("cannot write to").count(), 2, "{line}");
    let name = &line[line.find("name=").unwrap() + 5..];
    let content = fs::read(dir.path().join(name)).unwrap();
    assert_eq!(content, RECORD.repeat(ok), "only whole records remain");
}

// ---- properties ----

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn rotation() -> impl Strategy<Value = Rotation> {
        prop_oneof![
            Just(Rotation::Minutely),
            Just(Rotation::Hourly),
            Just(Rotation::Daily),
            Just(Rotation::Weekly),
            Just(Rotation::Never),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whatever the rotation, size limit, record sizes and clock steps: sorted by name, the
        /// files hold exactly the records in write order, each whole, each in the file of its
        /// own period, and no file exceeds the limit unless it holds a single record.
        #[test]
        fn files_hold_every_record_whole_in_order_and_in_its_period(
            rotation in rotation(),
            max in prop::option::of(20u64..400),
            steps in prop::collection::vec((0u64..5_000, 0usize..120), 1..80),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let clock = ManualClock::at("2026-11-26T23:41:13Z");
            let mut config = sink(dir.path(), &clock).rotation(rotation);
            if let Some(max) = max {
                config = config.max_file_size(max);
            }
            let (mut set, _) = FileSet::open(&config, "audit").unwrap();
            let mut written = Vec::new();
            for (i, (advance_secs, pad)) in steps.into_iter().enumerate() {
                clock.advance(Duration::from_secs(advance_secs * 60));
                let secs = period::unix_secs(set.now());
                let line = format!("{i} {secs} {}", "p".repeat(pad));
                emit(&mut set, &line);
                written.push(line);
            }
            let mut on_disk = Vec::new();
            for name in data_files(dir.path(), "audit") {
                let content = read(dir.path(), &name);
                prop_assert!(content.is_empty() || content.ends_with('\n'));
                let lines: Vec<&str> = content.lines().collect();
                if let Some(max) = max {
                    prop_assert!(content.len() as u64 <= max || lines.len() == 1, "{name}");
                }
                let parsed = naming::parse("audit", &name).unwrap();
                let start = period::period_start(rotation, parsed.start);
                for line in &lines {
                    let secs: i64 = line.split(' ').nth(1).unwrap().parse().unwrap();
                    prop_assert!(secs >= start, "{line} before {name}");
                    if let Some(end) = period::period_end(rotation, start) {
                        prop_assert!(secs < end, "{line} after {name}");
                    }
                }
                on_disk.extend(lines.into_iter().map(str::to_owned));
            }
            prop_assert_eq!(on_disk, written);
        }
    }
}

#[test]
fn upkeep_stays_linear_in_the_number_of_files() {
    let dir = tempfile::tempdir().unwrap();
    for day in 0..20_000u64 {
        let start = 1_000_000_000 + day as i64 * 86_400;
        let name = naming::file_name("audit", &period::stamp(Rotation::Daily, start), 1);
        fs::File::create(dir.path().join(name)).unwrap();
    }
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let retention = Retention::keep_all().max_files(30_000);
    let started = std::time::Instant::now();
    let config = sink(dir.path(), &clock)
        .max_file_size(1)
        .retention(retention);
    let (mut set, _) = FileSet::open(&config, "audit").unwrap();
    for i in 0..20 {
        emit(&mut set, &format!("{i}"));
    }
    let now = set.now();
    set.maintain(Job::Prune(now));
    set.settle();
    let took = started.elapsed();
    // Pairwise matching of 20k names would take tens of seconds here (debug build); linear
    // work takes about a second.
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(set.take_stats().pruned, 0);
}

#[test]
fn a_burst_of_rotations_prunes_once_it_is_over() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let set = files_by_size(dir.path(), &clock, Retention::keep_all().max_files(2), 200);
    assert_eq!(data_files(dir.path(), "audit").len(), 2);
    assert_eq!(set.current_name(), "audit.2026-11-26.0200.jsonl");
}

// ---- crashes (real child processes killed with SIGKILL) ----

/// Starts this very test as a child process with `dir` in the environment.
fn spawn_child(test: &str, dir: &Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads the child's `acked N` lines until `n` records are acknowledged, then SIGKILLs it.
/// Returns the highest acknowledged record.
#[cfg(feature = "gzip")]
fn kill_after_acks(mut child: std::process::Child, n: u64) -> u64 {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut acked = None;
    for line in io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(pos) = line.find("acked ") {
            let seq: u64 = line[pos + 6..].trim().parse().unwrap();
            acked = Some(seq);
            if seq >= n {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    acked.expect("the child acknowledged records")
}

fn record(seq: u64, pad: usize) -> Vec<u8> {
    let mut line = format!("{{\"seq\":{seq},\"pad\":\"").into_bytes();
    line.resize(line.len() + pad, b'p');
    line.extend_from_slice(b"\"}\n");
    line
}

/// Checks that `lines` are records numbered 0.. without gaps or repeats, returning how many.
fn check_sequence<'a>(lines: impl Iterator<Item = &'a str>) -> u64 {
    let mut next = 0;
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("whole records only");
        assert_eq!(v["seq"].as_u64(), Some(next), "gap or repeat");
        next += 1;
    }
    next
}

#[test]
fn process_killed_mid_record_restarts_with_the_tear_set_aside_and_nothing_lost() {
    const TEST: &str = "sink::file::tests::process_killed_mid_record_restarts_with_the_tear_set_aside_and_nothing_lost";
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let (mut set, _) = FileSet::open(&FileSink::new(PathBuf::from(dir)), "audit").unwrap();
        for seq in 0..30 {
            set.write(&record(seq, 4096)).unwrap();
        }
        set.sync().unwrap();
        // The state a kill in the middle of a write leaves: half of the next record.
        let next = record(30, 4096);
        set.write(&next[..1000]).unwrap();
        set.sync().unwrap();
        unsafe { libc::raise(libc::SIGKILL) };
        unreachable!("SIGKILL cannot be caught");
    }
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let status = spawn_child(TEST, dir.path()).wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    let (mut set, recovered) = FileSet::open(&FileSink::new(dir.path()), "audit").unwrap();
    let name = set.current_name().to_owned();
    let torn = recovered.torn.expect("the torn record is reported");
    assert_eq!((torn.file.as_str(), torn.bytes), (name.as_str(), 1000));
    assert_eq!(
        fs::read(&torn.set_aside).unwrap(),
        &record(30, 4096)[..1000]
    );
    let last: serde_json::Value =
        serde_json::from_slice(recovered.last_line.as_deref().unwrap()).unwrap();
    assert_eq!(last["seq"].as_u64(), Some(29));
    // The restarted writer continues the same file right after the last whole record.
    set.write(&record(30, 4096)).unwrap();
    assert_eq!(check_sequence(read(dir.path(), &name).lines()), 31);
}

#[cfg(feature = "gzip")]
#[test]
fn sigkill_mid_compression_loses_and_repeats_nothing() {
    const TEST: &str = "sink::file::tests::sigkill_mid_compression_loses_and_repeats_nothing";
    let config = |dir: &Path| FileSink::new(dir).max_file_size(256 << 10).compress(true);
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let (mut set, _) = FileSet::open(&config(Path::new(&dir)), "audit").unwrap();
        for seq in 0..10_000_000 {
            let line = record(seq, 900);
            let now = set.now();
            if set.needs_rotation(now, line.len() as u64) {
                set.rotate(now).unwrap();
            }
            set.write(&line).unwrap();
            if seq % 64 == 63 {
                set.sync().unwrap();
                println!("acked {seq}");
            }
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // About 20 closed files: the compressor lags behind and is killed mid-file.
    let acked = kill_after_acks(spawn_child(TEST, dir.path()), 5_000);
    let (set, _) = FileSet::open(&config(dir.path()), "audit").unwrap();
    let active = set.current_name().to_owned();
    drop(set); // finishes the compressions
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    let files = data_files(dir.path(), "audit");
    assert!(files.len() > 10, "{files:?}");
    let mut all = String::new();
    for name in &files {
        if *name == active {
            all.push_str(&read(dir.path(), name));
        } else {
            assert!(name.ends_with(".gz"), "{name} left uncompressed");
            all.push_str(&gunzip(&dir.path().join(name)));
        }
    }
    let n = check_sequence(all.lines());
    assert!(n > acked, "acknowledged {acked}, found {n}");
}

#[cfg(feature = "gzip")]
#[test]
fn failed_compression_keeps_the_original_and_leaves_no_temporary() {
    const TEST: &str =
        "sink::file::tests::failed_compression_keeps_the_original_and_leaves_no_temporary";
    let closed = "audit.2026-11-25.0001.jsonl";
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        // The compressed copy cannot be written past 16 KiB.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
            limit.rlim_cur = 16 << 10;
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        }
        let config = FileSink::new(PathBuf::from(dir)).compress(true);
        let (mut set, _) = FileSet::open(&config, "audit").unwrap();
        set.settle();
        for e in set.take_stats().errors {
            println!("upkeep error: {e}");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Incompressible enough: pseudo-random printable bytes, 64 KiB.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut content: Vec<u8> = (0..64 << 10)
        .map(|i| {
            if i % 100 == 99 {
                return b'\n';
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'!' + (state % 94) as u8
        })
        .collect();
    content.push(b'\n');
    fs::write(dir.path().join(closed), &content).unwrap();
    fs::write(dir.path().join("audit.2026-11-26.0001.jsonl"), b"{}\n").unwrap();

    let out = run_child(TEST, dir.path());
    assert!(
        out.contains("upkeep error"),
        "the failure is reported: {out}"
    );
    assert!(out.contains(&format!("os error {}", libc::EFBIG)), "{out}");
    assert_eq!(fs::read(dir.path().join(closed)).unwrap(), content);
    for leftover in [format!("{closed}.gz.tmp"), format!("{closed}.gz")] {
        assert!(!dir.path().join(&leftover).exists(), "{leftover}");
    }
}

/// A closed file of a chained trail: `count` framed records from `first`, the first carrying
/// `"prev"` (as every file after the trail's first does).
fn chained_file(dir: &Path, name: &str, first: u64, count: u64, seal_epoch: Option<u64>) {
    let mut s = String::new();
    for seq in first..first + count {
        let prev = if seq == first {
            format!(",\"prev\":\"{}\"", format!("{:02x}", seq % 256).repeat(32))
        } else {
            String::new()
        };
        let kind = match seal_epoch {
            Some(_) if seq == first + count - 1 => ",\"record\":\"epoch_seal\"",
            _ => "",
        };
        let epoch = seal_epoch
            .map(|e| format!(",\"epoch\":{e}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "{{\"seq\":{seq},\"ts\":\"2026-11-26T05:00:00.000000000Z\",\"stream\":\"audit\"{kind}{epoch}{prev},\"mac\":\"sha256:{}\"}}\n",
            "ab".repeat(32)
        ));
    }
    fs::write(dir.join(name), s).unwrap();
}

#[test]
fn a_chained_file_set_plans_retention_and_deletes_nothing_until_the_writer_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chained_file(d, "audit.2026-11-26.0001.jsonl", 0, 3, None);
    chained_file(d, "audit.2026-11-26.0002.jsonl", 3, 4, None);
    chained_file(d, "audit.2026-11-26.0003.jsonl", 7, 2, None);
    fs::write(d.join("audit.2026-11-26.0001.jsonl.idx"), b"stale").unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = sink(d, &clock).retention(Retention::keep_all().max_files(1));
    let (mut set, _) = FileSet::open_for(&config, "audit", Some(false)).unwrap();
    set.settle();
    // Planned, not done: a writer that never takes the plan deletes nothing.
    assert_eq!(data_files(d, "audit").len(), 3);
    let intent = set.take_prune_intent().expect("a plan");
    assert!(set.take_prune_intent().is_none());
    assert_eq!(
        intent.files,
        ["audit.2026-11-26.0001.jsonl", "audit.2026-11-26.0002.jsonl"]
    );
    // The oldest kept file's first record: seq 7, prev 07..07.
    assert_eq!(intent.through_seq, 6);
    assert_eq!(intent.through_mac, [7u8; 32]);
    assert!(intent.seals.is_empty());
    set.apply_prune(&intent);
    assert_eq!(data_files(d, "audit"), ["audit.2026-11-26.0003.jsonl"]);
    assert!(!d.join("audit.2026-11-26.0001.jsonl.idx").exists());
    assert_eq!(set.take_stats().pruned, 2);
}

#[test]
fn a_plan_after_a_rotation_reads_the_end_of_the_newest_deleted_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chained_file(d, "audit.2026-11-26.0001.jsonl", 0, 3, None);
    chained_file(d, "audit.2026-11-26.0002.jsonl", 3, 4, None);
    // The active file is empty: it was just opened by a rotation.
    fs::write(d.join("audit.2026-11-26.0003.jsonl"), b"").unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = sink(d, &clock).retention(Retention::keep_all().max_files(1));
    let (set, _) = FileSet::open_for(&config, "audit", Some(false)).unwrap();
    set.settle();
    let intent = set.take_prune_intent().expect("a plan");
    assert_eq!(intent.files.len(), 2);
    assert_eq!(intent.through_seq, 6);
    assert_eq!(intent.through_mac, [0xab; 32]);
}

#[test]
fn a_signed_plan_carries_the_epoch_seals_and_they_are_archived_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chained_file(d, "audit.2026-11-26.0001.jsonl", 0, 3, Some(0));
    chained_file(d, "audit.2026-11-26.0002.jsonl", 3, 4, Some(1));
    chained_file(d, "audit.2026-11-26.0003.jsonl", 7, 2, None);
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = sink(d, &clock).retention(Retention::keep_all().max_files(1));
    let (mut set, _) = FileSet::open_for(&config, "audit", Some(true)).unwrap();
    set.settle();
    let intent = set.take_prune_intent().expect("a plan");
    assert_eq!(intent.seals.len(), 2);
    let archive = d.join("audit.seals.jsonl");
    // A crash while appending left a torn line; the seal of epoch 0 was archived already.
    let mut torn = intent.seals[0].clone();
    torn.extend_from_slice(b"\n{\"seq\":6,\"ts");
    fs::write(&archive, &torn).unwrap();
    set.apply_prune(&intent);
    let mut want = Vec::new();
    for s in &intent.seals {
        want.extend_from_slice(s);
        want.push(b'\n');
    }
    assert_eq!(fs::read(&archive).unwrap(), want);
    assert_eq!(data_files(d, "audit").len(), 1);
    // Archiving again (a crash before the deletion) appends nothing.
    retention::archive_seals(d, "audit", &intent.seals, 0o600).unwrap();
    assert_eq!(fs::read(&archive).unwrap(), want);
}

#[test]
fn a_seals_archive_that_is_a_symlink_stops_the_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chained_file(d, "audit.2026-11-26.0001.jsonl", 0, 3, Some(0));
    chained_file(d, "audit.2026-11-26.0002.jsonl", 3, 2, None);
    std::os::unix::fs::symlink(d.join("elsewhere"), d.join("audit.seals.jsonl")).unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = sink(d, &clock).retention(Retention::keep_all().max_files(1));
    let (mut set, _) = FileSet::open_for(&config, "audit", Some(true)).unwrap();
    set.settle();
    let intent = set.take_prune_intent().expect("a plan");
    set.apply_prune(&intent);
    assert_eq!(data_files(d, "audit").len(), 2, "nothing deleted");
    assert!(!d.join("elsewhere").exists());
    let stats = set.take_stats();
    assert_eq!(stats.pruned, 0);
    assert!(!stats.errors.is_empty());
}

#[cfg(feature = "gzip")]
#[test]
fn a_rotated_file_is_indexed_in_its_final_form() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = keyed(sink(d, &clock).max_file_size(200).compress(true));
    let (mut set, _) = FileSet::open(&config, "audit").unwrap();
    for i in 0..6 {
        emit(
            &mut set,
            &format!(
                r#"{{"ts":"2026-11-26T05:56:0{i}.000000000Z","actor":"alice{i}","action":"read","outcome":"ok","pad":"{}"}}"#,
                "x".repeat(60)
            ),
        );
    }
    set.settle();
    let listing = crate::trail::files::list(d, Some("audit")).unwrap();
    let closed: Vec<_> = listing.files.iter().filter(|f| f.is_compressed()).collect();
    assert!(closed.len() >= 2, "{:?}", listing.files);
    let keys = crate::verify::Keys::from(crate::chain::ChainKey::new("k1", b"index key"));
    for f in closed {
        let index = crate::chain::index::FileIndex::load(f, &keys)
            .unwrap_or_else(|why| panic!("{}: its index {why}", f.name()));
        assert!(index.describes(f).is_some(), "{}", f.name());
        let idx = d.join(format!("{}.idx", f.name()));
        assert_eq!(
            fs::metadata(&idx).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!d.join(format!("{}.idx", f.written_as())).exists());
    }
}

#[cfg(feature = "gzip")]
#[cfg(feature = "gzip")]
#[test]
fn a_symlink_planted_at_an_index_name_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious\n").unwrap();
    let trail = d.join("trail");
    fs::create_dir(&trail).unwrap();
    let planted = trail.join("audit.2026-11-26.0001.jsonl.gz.idx");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let config = keyed(sink(&trail, &clock).max_file_size(200).compress(true));
    let (mut set, _) = FileSet::open(&config, "audit").unwrap();
    for i in 0..4 {
        emit(
            &mut set,
            &format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(120)),
        );
    }
    set.settle();
    assert!(trail.join("audit.2026-11-26.0001.jsonl.gz").exists());
    assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
    assert!(fs::symlink_metadata(&planted).unwrap().is_symlink());
    let errors: Vec<String> = set
        .take_stats()
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("audit.2026-11-26.0001.jsonl")),
        "{errors:?}"
    );
    // The other closed files were indexed.
    assert!(trail.join("audit.2026-11-26.0002.jsonl.gz.idx").exists());
}

#[test]
fn an_unkeyed_trail_gets_no_index_nobody_could_trust() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    let (mut set, _) = FileSet::open(&sink(d, &clock).max_file_size(200), "audit").unwrap();
    for i in 0..6 {
        emit(
            &mut set,
            &format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(120)),
        );
    }
    set.settle();
    let names: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().filter(|n| n.contains(".0")).count() >= 3,
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with(".idx")), "{names:?}");
}

#[cfg(feature = "gzip")]
#[test]
fn closed_files_are_not_indexed_when_indexing_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clock = ManualClock::at("2026-11-26T05:56:07Z");
    for compress in [true, false] {
        let sub = d.join(format!("compress-{compress}"));
        let config = keyed(sink(&sub, &clock))
            .max_file_size(200)
            .compress(compress)
            .index(false);
        let (mut set, _) = FileSet::open(&config, "audit").unwrap();
        for i in 0..6 {
            emit(
                &mut set,
                &format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(120)),
            );
        }
        set.settle();
        let names: Vec<String> = fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().filter(|n| n.contains(".0")).count() >= 3,
            "rotated: {names:?}"
        );
        assert!(!names.iter().any(|n| n.ends_with(".idx")), "{names:?}");
        assert_eq!(
            names.iter().any(|n| n.ends_with(".gz")),
            compress,
            "{names:?}"
        );
    }
}
