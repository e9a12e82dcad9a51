//! Retention of a chained trail is provable: the writer records a chained `prune` record naming
//! the files and the last record in them, makes it durable, and only then deletes them. The
//! trail verifies with the record; a head deletion beyond it does not; a crash between the
//! record and the deletion leaves a trail that verifies. Real sink, real files, real child
//! process for the crash.

mod chain_support;

use chain_support::*;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tracing_audit::chain::ChainConfig;
use tracing_audit::sink::Retention;
use tracing_audit::sink::{testing, FileSink, Rotation, SinkHandle};
use tracing_audit::verify::{verify, Keys, ProblemKind};
use tracing_audit::Stream;

const CRASH_CHILD: &str = "TRACING_AUDIT_PRUNE_CRASH_CHILD";

fn config(dir: &Path, retention: Retention) -> FileSink {
    FileSink::new(dir)
        .rotation(Rotation::Never)
        .max_file_size(600)
        .retention(retention)
}

fn chain() -> ChainConfig {
    keyed()
}

fn submit(handle: &SinkHandle, records: std::ops::Range<u32>) {
    for i in records {
        let record = format!(
            r#"{{"ts":"2026-11-26T06:00:00.000000000Z","stream":"audit","level":"INFO","target":"audit","actor":"user{i}","message":"r{i}"}}"#
        );
        testing::submit(handle, record.as_bytes());
    }
    handle.sync().unwrap();
}

/// Writes records `records` through a sink that keeps every file.
fn write(dir: &Path, records: std::ops::Range<u32>) {
    let (handle, guard) = testing::spawn_files(
        Stream::Audit,
        config(dir, Retention::keep_all()),
        Some(&chain()),
    )
    .unwrap();
    submit(&handle, records);
    drop(guard);
}

/// Waits until the sink has deleted `n` files (retention runs on its own threads).
fn wait_pruned(handle: &SinkHandle, n: u64) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while handle.health().pruned < n {
        assert!(
            Instant::now() < give_up,
            "retention did not delete {n} files: {:?}",
            handle.health()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn prune_records(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for f in trail_files(dir) {
        for l in read_lines(&f) {
            let v: serde_json::Value = serde_json::from_slice(&l).unwrap();
            if v["record"] == "prune" {
                out.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
            }
        }
    }
    out
}

fn names(dir: &Path) -> Vec<String> {
    trail_files(dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn first_record(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&read_lines(path)[0]).unwrap()
}

#[test]
fn retention_of_a_chained_trail_writes_one_prune_record_before_deleting() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), 0..60);
    let before = names(d.path());
    assert!(before.len() >= 5, "{before:?}");

    // A restart with a limit: one pass deletes every file beyond it, recorded once.
    let keep = Retention::keep_all().max_files(2);
    let (handle, guard) =
        testing::spawn_files(Stream::Audit, config(d.path(), keep), Some(&chain())).unwrap();
    let doomed = before.len() as u64 - 2;
    wait_pruned(&handle, doomed);
    drop(guard);
    assert_eq!(handle.health().pruned, doomed);

    let records = prune_records(d.path());
    assert_eq!(records.len(), 1, "{records:?}");
    let (holder, prune) = &records[0];
    let named: Vec<&str> = prune["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        named,
        before[..doomed as usize],
        "oldest first, exactly those"
    );
    let after = names(d.path());
    assert_eq!(after, before[doomed as usize..]);
    // The record lies in a file that was kept (the active one), and covers up to the record
    // before the oldest kept file.
    assert!(after.contains(holder), "{holder}");
    let oldest = first_record(&d.path().join(&after[0]));
    assert_eq!(
        prune["through_seq"].as_u64().unwrap() + 1,
        oldest["seq"].as_u64().unwrap()
    );
    assert_eq!(prune["through_mac"], oldest["prev"]);
    assert_eq!(
        prune["message"],
        format!(
            "retention deleted {doomed} files: records up to {}",
            prune["through_seq"]
        )
    );
    assert!(prune["seq"].as_u64().unwrap() > prune["through_seq"].as_u64().unwrap());

    let r = verify(d.path(), &Keys::from(key())).unwrap();
    assert!(r.intact(), "{r}");

    // Deleting one more file at the head than the record covers is tampering.
    let cut = tempfile::tempdir().unwrap();
    copy_dir(d.path(), cut.path());
    fs::remove_file(cut.path().join(&after[0])).unwrap();
    let r = verify(cut.path(), &Keys::from(key())).unwrap();
    assert!(!r.intact(), "{r}");
    assert!(
        r.problems()
            .iter()
            .any(|p| p.kind() == ProblemKind::Deleted),
        "{r}"
    );
}

#[test]
fn retention_while_writing_records_every_pass_and_the_trail_stays_verifiable() {
    let d = tempfile::tempdir().unwrap();
    let keep = Retention::keep_all().max_files(3);
    let (handle, guard) =
        testing::spawn_files(Stream::Audit, config(d.path(), keep), Some(&chain())).unwrap();
    for batch in 0..12 {
        submit(&handle, batch * 10..batch * 10 + 10);
    }
    drop(guard);
    let pruned = handle.health().pruned;
    let records = prune_records(d.path());
    assert!(pruned > 0 && !records.is_empty(), "{pruned} {records:?}");
    // Older prune records went with the files that held them; what is left names only files
    // that are gone, and the newest covers everything up to the oldest present file.
    let present = names(d.path());
    let oldest = &present[0];
    for (_, v) in &records {
        for n in v["files"].as_array().unwrap() {
            let n = n.as_str().unwrap();
            assert!(
                n < oldest.as_str(),
                "{n} recorded as deleted, {oldest} is the oldest present"
            );
        }
    }
    let newest = &records.last().unwrap().1;
    assert_eq!(
        newest["through_seq"].as_u64().unwrap() + 1,
        first_record(&d.path().join(oldest))["seq"]
            .as_u64()
            .unwrap()
    );
    let r = verify(d.path(), &Keys::from(key())).unwrap();
    assert!(r.intact(), "{r}");
}

/// The child: restarts the sink on the trail in `$CRASH_CHILD` with a retention limit; the
/// crash hook aborts the process once the prune record is durable, before any deletion.
#[test]
fn prune_crash_child() {
    let Ok(dir) = std::env::var(CRASH_CHILD) else {
        return;
    };
    let keep = Retention::keep_all().max_files(2);
    // Die where a real crash leaves a durable prune record and every file.
    let files = config(Path::new(&dir), keep).before_prune_deletes(|| std::process::abort());
    let (handle, _guard) = testing::spawn_files(Stream::Audit, files, Some(&chain())).unwrap();
    submit(&handle, 1000..1001);
    // The writer aborts the process; if it never does, exit normally and let the parent fail.
    let give_up = Instant::now() + Duration::from_secs(60);
    while Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_crash_between_the_prune_record_and_the_deletion_leaves_a_trail_that_verifies() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), 0..60);
    let before = names(d.path());
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "prune_crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, d.path())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the child was to die at the hook: {status}"
    );
    // Every file is still there (the child's record may have opened one more), and the prune
    // record that names the oldest ones is on disk.
    let after_crash = names(d.path());
    for n in &before {
        assert!(after_crash.contains(n), "{n} was deleted");
    }
    let records = prune_records(d.path());
    assert_eq!(records.len(), 1, "{records:?}");
    let r = verify(d.path(), &Keys::from(key())).unwrap();
    assert!(
        r.intact(),
        "a prune record covering files still present is fine: {r}"
    );

    // The next start carries retention out (recording it again: the first plan was never
    // confirmed done), and the trail verifies.
    let keep = Retention::keep_all().max_files(2);
    let (handle, guard) =
        testing::spawn_files(Stream::Audit, config(d.path(), keep), Some(&chain())).unwrap();
    wait_pruned(&handle, after_crash.len() as u64 - 2);
    drop(guard);
    assert_eq!(names(d.path()), after_crash[after_crash.len() - 2..]);
    assert_eq!(prune_records(d.path()).len(), 2);
    let r = verify(d.path(), &Keys::from(key())).unwrap();
    assert!(r.intact(), "{r}");
}

#[test]
fn the_unchained_debug_stream_prunes_directly_and_leaves_no_indexes_behind() {
    let d = tempfile::tempdir().unwrap();
    let keep = Retention::keep_all().max_files(2);
    let (handle, guard) =
        testing::spawn_files(Stream::Debug, config(d.path(), keep), None).unwrap();
    for batch in 0..6 {
        submit(&handle, batch * 10..batch * 10 + 10);
    }
    drop(guard);
    assert!(handle.health().pruned > 0);
    assert!(prune_records(d.path()).is_empty());
    for e in fs::read_dir(d.path()).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        if let Some(data) = n.strip_suffix(".idx") {
            assert!(d.path().join(data).exists(), "{n} outlived its file");
        }
    }
}
