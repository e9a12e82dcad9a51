//! Side indexes (`<file>.idx`) cannot lie, and read commands write nothing.
//!
//! An attacker with a shell on the log host can write any file in the trail directory but does
//! not hold the chain key. These tests forge, stale and swap indexes through real files and run
//! the real CLI over them: no search may skip a record because of an index the key did not
//! authenticate for exactly that file's bytes; `verify` with the key names a forged index; the
//! index builder never writes through a planted symlink; read commands leave the directory
//! byte for byte as they found it.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::ops::ControlFlow;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::investigate::{IndexUse, Query, Search};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_audit::trail::Trail;
use tracing_subscriber::prelude::*;

const KEY: &[u8] = b"forged index test chain key";
const ACTORS: [&str; 3] = ["alice", "bob", "carol"];

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .expect("run tracing-audit")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A keyed audit trail and a debug log in `root/audit` and `root/debug`, written through the
/// real layer: request `i` has one debug and one audit record (actor `ACTORS[i % 3]`), in
/// files of about `file_size` bytes, closed files gzipped when `compress`.
fn write(root: &Path, requests: usize, file_size: u64, compress: bool) -> PathBuf {
    write_actors(root, requests, file_size, compress, &ACTORS)
}

/// [`write`], request `i` by `actors[i % actors.len()]`.
fn write_actors(
    root: &Path,
    requests: usize,
    file_size: u64,
    compress: bool,
    actors: &[&str],
) -> PathBuf {
    let files = |d: &str| {
        FileSink::new(root.join(d))
            .max_file_size(file_size)
            .compress(compress)
    };
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(files("audit"))
        .debug_to_files(files("debug"))
        .debug_filter("debug")
        .chain(ChainConfig::new().key(ChainKey::new("k1", KEY)))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..requests {
            let span = tracing::info_span!("request", request_id = i);
            let _g = span.enter();
            let actor = actors[i % actors.len()];
            tracing::debug!(step = i, "handling request {i}");
            tracing::info!(target: "audit", actor, action = "read", resource = %format!("/doc/{i}"), outcome = "success");
        }
    });
    drop(guard);
    let key = root.join("chain.key");
    fs::write(&key, KEY).unwrap();
    key
}

/// What a search that reads every line finds.
fn scanned(dir: &Path, q: &Query) -> Vec<Vec<u8>> {
    let trail = Trail::open(dir, None).unwrap();
    let mut hits = Vec::new();
    let summary = Search::new().index(IndexUse::Off).run(&[&trail], q, |h| {
        hits.push(h.into_line());
        ControlFlow::Continue(())
    });
    assert!(summary.problems().is_empty());
    hits
}

/// The closed data files of the trail in `dir` (every file but the newest), oldest first.
fn closed_files(dir: &Path) -> Vec<PathBuf> {
    let trail = Trail::open(dir, None).unwrap();
    let files = trail.files();
    files[..files.len() - 1]
        .iter()
        .map(|f| f.path().to_path_buf())
        .collect()
}

fn idx(data: &Path) -> PathBuf {
    let mut p = data.as_os_str().to_owned();
    p.push(".idx");
    p.into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What an attacker writes without the key: an index in the unkeyed format this crate used to
/// trust (tied to the file by length, modification time and a hash of its first and last
/// 4 KiB, and a SHA-256 of itself), whose Bloom filter holds nothing and whose time range is
/// far in the future, so it rules every query and every `--until` window out.
fn forge_unkeyed(data: &Path) {
    let bytes = fs::read(data).unwrap();
    let meta = fs::metadata(data).unwrap();
    let len = bytes.len();
    let mut h = Sha256::new();
    h.update(&bytes[..len.min(4096)]);
    if len > 4096 {
        let start = len.saturating_sub(4096).max(4096);
        h.update(&bytes[start..len.min(start + 4096)]);
    }
    let far = "9999-12-31T00:00:00.000000000Z";
    let body = serde_json::json!({
        "v": 1,
        "file": data.file_name().unwrap().to_str().unwrap(),
        "len": len,
        "mtime_ns": meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        "edges": hex(&h.finalize()),
        "records": 1,
        "min_ts": far,
        "max_ts": far,
        "keys": ["correlation_id", "trace_id", "actor", "action", "outcome"],
        "probes": 7,
        "bloom": base64::engine::general_purpose::STANDARD.encode([0u8; 64]),
    })
    .to_string();
    let sum = hex(&Sha256::digest(body.as_bytes()));
    fs::write(idx(data), format!("{body}\n{sum}")).unwrap();
}

/// What an attacker does to an index the writer authenticated: empties its Bloom filter and
/// keeps everything else, the authentication line included.
fn empty_bloom_keeping_the_tag(data: &Path) {
    let raw = fs::read_to_string(idx(data)).unwrap();
    let (body, tail) = raw.split_once('\n').unwrap();
    let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["bloom"] = base64::engine::general_purpose::STANDARD
        .encode([0u8; 64])
        .into();
    fs::write(idx(data), format!("{v}\n{tail}")).unwrap();
}

/// The directory as content digests, modes and times, to compare before and after a command.
fn snapshot(dir: &Path) -> BTreeMap<String, (String, u32, i64, i64)> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = fs::symlink_metadata(e.path()).unwrap();
            let content = if m.is_file() {
                fs::read(e.path()).unwrap()
            } else {
                fs::read_link(e.path())
                    .map(|t| t.into_os_string().into_encoded_bytes())
                    .unwrap_or_default()
            };
            (
                e.file_name().to_string_lossy().into_owned(),
                (
                    hex(&Sha256::digest(content)),
                    m.mode(),
                    m.mtime(),
                    m.mtime_nsec(),
                ),
            )
        })
        .collect()
}

fn audit_count(report: &serde_json::Value) -> u64 {
    report["records"].as_u64().unwrap()
}

#[test]
fn a_forged_index_hides_nothing_from_query_correlate_timeline_report() {
    let root = tempfile::tempdir().unwrap();
    let key = write(root.path(), 300, 4096, true);
    let (audit, debug) = (root.path().join("audit"), root.path().join("debug"));
    let carol = scanned(&audit, &Query::new().actor("carol"));
    assert_eq!(carol.len(), 100);
    // A request in an old, closed file of both streams.
    let first: serde_json::Value = serde_json::from_slice(&carol[1]).unwrap();
    let id = first["correlation_id"].as_str().unwrap().to_owned();
    let closed = [closed_files(&audit), closed_files(&debug)].concat();
    assert!(closed.len() > 10, "{closed:?}");
    let report_before = {
        let o = tool(&["report", s(&audit), "--until", "2100-01-01", "--json"]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        audit_count(&serde_json::from_slice(&o.stdout).unwrap())
    };
    assert!(report_before >= 300, "report counts every audit record");
    for f in &closed {
        forge_unkeyed(f);
    }

    for keyed in [false, true] {
        let with_key = |mut args: Vec<&'static str>| {
            let args_owned: Vec<String> = args.drain(..).map(str::to_owned).collect();
            let mut v = args_owned;
            if keyed {
                v.extend(["--key-file".to_owned(), s(&key).to_owned()]);
            }
            v
        };
        let run = |args: Vec<String>| {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            tool(&refs)
        };

        let mut q = vec!["query".to_owned(), s(&audit).to_owned()];
        q.extend(with_key(vec!["--actor", "carol"]));
        let o = run(q);
        assert_eq!(o.status.code(), Some(0), "keyed={keyed} {o:?}");
        assert_eq!(json_lines(&o).len(), 100, "query, keyed={keyed}");

        let mut c = vec![
            "correlate".to_owned(),
            "--audit".to_owned(),
            s(&audit).to_owned(),
            "--debug".to_owned(),
            s(&debug).to_owned(),
            id.clone(),
        ];
        c.extend(with_key(vec![]));
        let o = run(c);
        assert_eq!(o.status.code(), Some(0), "keyed={keyed} {o:?}");
        let streams: Vec<String> = json_lines(&o)
            .iter()
            .map(|v| v["stream"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(streams, ["debug", "audit"], "correlate, keyed={keyed}");

        let html = root.path().join(format!("timeline-{keyed}.html"));
        let mut t = vec![
            "timeline".to_owned(),
            "--audit".to_owned(),
            s(&audit).to_owned(),
            "--actor".to_owned(),
            "carol".to_owned(),
            "--html".to_owned(),
            s(&html).to_owned(),
        ];
        t.extend(with_key(vec![]));
        let o = run(t);
        assert_eq!(o.status.code(), Some(0), "keyed={keyed} {o:?}");
        let page = fs::read_to_string(&html).unwrap();
        for i in (2..300).step_by(3) {
            assert!(
                page.contains(&format!("resource=/doc/{i} ")),
                "timeline, keyed={keyed}: /doc/{i} missing"
            );
        }

        let mut r = vec!["report".to_owned(), s(&audit).to_owned()];
        r.extend(with_key(vec!["--until", "2100-01-01", "--json"]));
        let o = run(r);
        assert_eq!(o.status.code(), Some(0), "keyed={keyed} {o:?}");
        assert_eq!(
            audit_count(&serde_json::from_slice(&o.stdout).unwrap()),
            report_before,
            "report, keyed={keyed}"
        );
    }
}

#[test]
fn verify_with_the_key_names_a_forged_index_and_without_it_says_indexes_were_not_checked() {
    let root = tempfile::tempdir().unwrap();
    let key = write(root.path(), 200, 4096, true);
    let audit = root.path().join("audit");
    let closed = closed_files(&audit);
    let (tagged, unkeyed) = (&closed[1], &closed[2]);
    let tagged_name = tagged.file_name().unwrap().to_str().unwrap();
    let unkeyed_name = unkeyed.file_name().unwrap().to_str().unwrap();
    empty_bloom_keeping_the_tag(tagged);
    forge_unkeyed(unkeyed);

    let o = tool(&["verify", s(&audit), "--key-file", s(&key), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    let warnings: Vec<String> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.to_string())
        .collect();
    let about = |name: &str| -> Vec<&String> {
        warnings
            .iter()
            .filter(|w| w.contains(&format!("{name}.idx")))
            .collect()
    };
    assert_eq!(about(tagged_name).len(), 1, "{warnings:?}");
    assert!(about(tagged_name)[0].contains("MAC"), "{warnings:?}");
    assert_eq!(about(unkeyed_name).len(), 1, "{warnings:?}");
    // Exactly the two forged ones: every other index the writer built holds.
    let bad: Vec<_> = warnings.iter().filter(|w| w.contains(".idx")).collect();
    assert_eq!(bad.len(), 2, "{warnings:?}");

    let o = tool(&["verify", s(&audit)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("indexes") && text.contains("not checked"),
        "{text}"
    );
}

/// `query --actor A` over `audit`, without and with the key: the exit code and how many
/// records each printed.
fn query_both_ways(audit: &Path, key: &Path, actor: &str) -> [(Option<i32>, usize); 2] {
    [false, true].map(|keyed| {
        let mut args = vec!["query", s(audit), "--actor", actor];
        if keyed {
            args.extend(["--key-file", s(key)]);
        }
        let o = tool(&args);
        (o.status.code(), json_lines(&o).len())
    })
}

/// Exit 0 and one record, without and with the key.
const FOUND_ONCE: [(Option<i32>, usize); 2] = [(Some(0), 1), (Some(0), 1)];

/// Rewrites the file at `path` with `bytes` and puts its modification time back.
fn rewrite_keeping_mtime(path: &Path, bytes: &[u8]) {
    let modified = fs::metadata(path).unwrap().modified().unwrap();
    fs::write(path, bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(modified))
        .unwrap();
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(bytes), &mut out).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

/// The first `"actor":"alice"` in the second half of `bytes`, renamed to `zelda` (same length).
fn rename_an_alice_mid_file(bytes: &mut [u8]) {
    let mid = bytes.len() / 2;
    let at = mid + memchr_find(&bytes[mid..], br#""actor":"alice""#).expect("an alice record");
    bytes[at..at + 15].copy_from_slice(br#""actor":"zelda""#);
}

const MALLORY: &[u8] = br#"{"ts":"2026-11-26T00:00:00.000000000Z","actor":"mallory","action":"read","outcome":"success"}
"#;

#[test]
fn a_stale_index_is_ignored_whether_the_file_grew_or_changed_in_place() {
    // Plain files, changed in place at the same length outside their first and last 4 KiB,
    // modification time put back (what the unauthenticated indexes of older versions were
    // tied to), and grown.
    let root = tempfile::tempdir().unwrap();
    let key = write(root.path(), 400, 32 << 10, false);
    let audit = root.path().join("audit");
    let closed = closed_files(&audit);
    assert!(closed.len() >= 3, "{closed:?}");
    let mut bytes = fs::read(&closed[0]).unwrap();
    rename_an_alice_mid_file(&mut bytes);
    rewrite_keeping_mtime(&closed[0], &bytes);
    let mut grown = fs::read(&closed[1]).unwrap();
    grown.extend_from_slice(MALLORY);
    rewrite_keeping_mtime(&closed[1], &grown);
    assert_eq!(query_both_ways(&audit, &key, "zelda"), FOUND_ONCE);
    assert_eq!(query_both_ways(&audit, &key, "mallory"), FOUND_ONCE);

    // Compressed files, the ones indexes let a search skip: one recompressed with a record
    // changed, one with a gzip member appended.
    let root = tempfile::tempdir().unwrap();
    let key = write(root.path(), 300, 4096, true);
    let audit = root.path().join("audit");
    let closed = closed_files(&audit);
    assert!(closed.len() >= 3, "{closed:?}");
    for f in &closed {
        assert!(
            fs::symlink_metadata(idx(f)).is_ok(),
            "the writer indexed {f:?}"
        );
    }
    let mut plain = gunzip(&fs::read(&closed[0]).unwrap());
    rename_an_alice_mid_file(&mut plain);
    rewrite_keeping_mtime(&closed[0], &gzip(&plain));
    let mut grown = fs::read(&closed[1]).unwrap();
    grown.extend_from_slice(&gzip(MALLORY));
    rewrite_keeping_mtime(&closed[1], &grown);
    assert_eq!(query_both_ways(&audit, &key, "zelda"), FOUND_ONCE);
    assert_eq!(query_both_ways(&audit, &key, "mallory"), FOUND_ONCE);
}

#[test]
fn a_swapped_index_is_ignored_and_left_as_it_is() {
    let root = tempfile::tempdir().unwrap();
    let key = write(root.path(), 300, 4096, true);
    let audit = root.path().join("audit");
    let closed = closed_files(&audit);
    // Another trail under the same key, where carol never acts: its files have the same names,
    // and their authentic indexes rule carol out.
    let other = tempfile::tempdir().unwrap();
    write_actors(other.path(), 300, 4096, true, &["alice", "bob"]);
    let donors = closed_files(&other.path().join("audit"));
    // Half the closed files get the same-named file's index from the other trail, the rest
    // the index of another file of this trail.
    for (n, f) in closed.iter().enumerate() {
        let donor = match donors.get(n) {
            Some(d) if n % 2 == 0 && d.file_name() == f.file_name() => idx(d),
            _ => idx(&closed[(n + 1) % closed.len()]),
        };
        fs::copy(donor, idx(f)).unwrap();
    }
    let before = snapshot(&audit);
    for keyed in [false, true] {
        let mut args = vec!["query", s(&audit), "--actor", "carol"];
        if keyed {
            args.extend(["--key-file", s(&key)]);
        }
        let o = tool(&args);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert_eq!(json_lines(&o).len(), 100, "keyed={keyed}");
        assert_eq!(snapshot(&audit), before, "nothing rewritten, keyed={keyed}");
    }
}

#[test]
fn read_commands_leave_the_trail_directory_byte_for_byte_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(
            FileSink::new(root.path().join("audit"))
                .max_file_size(2048)
                .compress(true)
                .index(false),
        )
        .debug_to_files(
            FileSink::new(root.path().join("debug"))
                .max_file_size(2048)
                .index(false),
        )
        .debug_filter("debug")
        .build()
        .unwrap();
    let mut id = String::new();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..60 {
            let span = tracing::info_span!("request", request_id = i);
            let _g = span.enter();
            tracing::debug!(step = i, "handling request {i}");
            tracing::info!(target: "audit", actor = ACTORS[i % 3], action = "read", outcome = "success");
        }
    });
    drop(guard);
    let (audit, debug) = (root.path().join("audit"), root.path().join("debug"));
    let first: serde_json::Value =
        serde_json::from_slice(&scanned(&audit, &Query::new().actor("alice"))[0]).unwrap();
    id.push_str(first["correlation_id"].as_str().unwrap());
    let (a, d) = (s(&audit), s(&debug));
    let html = root.path().join("t.html");
    let before = (snapshot(&audit), snapshot(&debug));
    assert!(before.0.len() > 5, "{:?}", before.0.keys());
    let commands: [Vec<&str>; 7] = [
        vec!["query", a, "--actor", "carol"],
        vec!["query", a, "--since", "2000-01-01"],
        vec!["correlate", "--audit", a, "--debug", d, &id],
        vec![
            "timeline",
            "--audit",
            a,
            "--debug",
            d,
            &id,
            "--html",
            s(&html),
        ],
        vec!["report", a, "--until", "2100-01-01"],
        vec!["export", "--format", "ocsf", a],
        vec!["tail", a, "-n", "5"],
    ];
    for args in &commands {
        let o = tool(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {o:?}");
        assert!(!o.stdout.is_empty() || args[0] == "timeline", "{args:?}");
        assert_eq!(
            (snapshot(&audit), snapshot(&debug)),
            before,
            "{args:?} wrote into the trail directory"
        );
    }
}

#[test]
fn indexes_are_created_0600_by_the_writer_and_by_the_index_command() {
    let root = tempfile::tempdir().unwrap();
    let key = write(root.path(), 200, 4096, true);
    let audit = root.path().join("audit");
    let closed = closed_files(&audit);
    for f in &closed {
        let mode = fs::metadata(idx(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "writer-built {f:?}");
        fs::remove_file(idx(f)).unwrap();
    }
    let o = tool(&["index", s(&audit), "--key-file", s(&key)]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    for f in &closed {
        let mode = fs::metadata(idx(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "index-command-built {f:?}");
    }
    // And the rebuilt indexes are used: a query that matches nothing skips every closed file.
    let trail = Trail::open(&audit, None).unwrap();
    let summary = Search::new().key(ChainKey::new("k1", KEY)).run(
        &[&trail],
        &Query::new().actor("nobody"),
        |_| ControlFlow::Continue(()),
    );
    // A Bloom filter answers "maybe" for about 1% of absent values, so a file may be scanned
    // although nothing in it matches (19 files: one such file in about one run of six); more
    // than two would be a broken index.
    assert!(
        summary.files_skipped + 2 >= closed.len(),
        "{} of {} closed files skipped",
        summary.files_skipped,
        closed.len()
    );
}

#[test]
fn the_index_command_never_replaces_a_planted_symlink_at_an_index_name() {
    let root = tempfile::tempdir().unwrap();
    let key = write(root.path(), 200, 4096, true);
    let audit = root.path().join("audit");
    let closed = closed_files(&audit);
    let carol = scanned(&audit, &Query::new().actor("carol")).len();
    let victim = root.path().join("victim");
    fs::write(&victim, b"precious\n").unwrap();
    let target = idx(&closed[2]);
    fs::remove_file(&target).unwrap();
    std::os::unix::fs::symlink(&victim, &target).unwrap();

    let o = tool(&["index", s(&audit), "--key-file", s(&key)]);
    assert_ne!(o.status.code(), Some(0), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(target.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );
    assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
    assert!(fs::symlink_metadata(&target).unwrap().is_symlink());

    // A query, keyed or not, writes nothing either (it used to replace the link).
    for keyed in [false, true] {
        let mut args = vec!["query", s(&audit), "--actor", "carol"];
        if keyed {
            args.extend(["--key-file", s(&key)]);
        }
        let o = tool(&args);
        assert_eq!(json_lines(&o).len(), carol, "keyed={keyed}");
        assert!(fs::symlink_metadata(&target).unwrap().is_symlink());
        assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
    }
}

#[test]
fn the_index_builder_never_writes_through_a_planted_temporary_file() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), 200, 4096, true);
    let audit = root.path().join("audit");
    let closed = closed_files(&audit);
    let victim = root.path().join("victim");
    fs::write(&victim, b"precious\n").unwrap();
    // This process builds the indexes: plant its temporary name (`<name>.idx.tmp.<pid>`).
    let file = &closed[1];
    fs::remove_file(idx(file)).unwrap();
    let mut tmp = idx(file).into_os_string();
    tmp.push(format!(".tmp.{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &tmp).unwrap();

    let trail = Trail::open(&audit, None).unwrap();
    let built = tracing_audit::investigate::build_indexes(&trail, &ChainKey::new("k1", KEY));
    assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
    assert!(fs::symlink_metadata(&tmp).unwrap().is_symlink());
    assert!(fs::symlink_metadata(idx(file)).is_err(), "no index for it");
    let failed: Vec<_> = built.failures().iter().map(|p| p.to_string()).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains(file.file_name().unwrap().to_str().unwrap()),
        "{failed:?}"
    );
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
