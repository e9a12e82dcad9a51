//! A received copy that was cut at its head or its tail does not pass, and neither does a trail
//! whose checkpoint side file was emptied to hide a cut tail.
//!
//! The copies are what a central receiver writes: the trail's records, one per line, in order
//! (here the concatenation of a real trail's files, written through the real layer). Every
//! verdict comes from the real `tracing-audit verify`.

mod chain_support;

use chain_support::*;
use std::fs;
use std::path::Path;

fn verify_cli(args: &[&str]) -> (i32, serde_json::Value) {
    verify_json(args)
}

fn kinds(report: &serde_json::Value) -> Vec<String> {
    problem_kinds(report)
}

/// A keyed trail of `n` audit events in `dir`, and its records in order.
fn trail(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    write_trail(dir, keyed(), 0..n, 16 * 1024);
    trail_files(dir)
        .iter()
        .flat_map(|f| read_lines(f))
        .collect()
}

fn write_copy(path: &Path, records: &[Vec<u8>]) {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(r);
        out.push(b'\n');
    }
    fs::write(path, out).unwrap();
}

fn key_file(dir: &Path) -> String {
    let p = dir.join("chain.key");
    fs::write(&p, b"integration test chain key\n").unwrap();
    p.to_string_lossy().into_owned()
}

fn seq(line: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(line).unwrap()["seq"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_received_copy_without_its_head_is_a_cut_head() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let records = trail(dir.path(), 200);
    let kf = key_file(work.path());
    let copy = work.path().join("central.log");
    write_copy(&copy, &records);
    let c = copy.to_str().unwrap();
    let (code, report) = verify_cli(&["--received", c, "--key-file", &kf]);
    assert_eq!(code, 0, "the whole copy is intact: {report:#}");
    write_copy(&copy, &records[37..]);
    let (code, report) = verify_cli(&["--received", c, "--key-file", &kf]);
    assert_eq!(code, 12, "{report:#}");
    assert_eq!(kinds(&report), ["deleted"], "{report:#}");
    assert!(
        report.to_string().contains("missing from its head"),
        "{report:#}"
    );
}

#[test]
fn a_received_copy_named_through_a_symlink_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let records = trail(dir.path(), 50);
    let kf = key_file(work.path());
    let copy = work.path().join("central.log");
    write_copy(&copy, &records);
    let link = work.path().join("current");
    std::os::unix::fs::symlink(&copy, &link).unwrap();
    let (code, report) = verify_cli(&["--received", link.to_str().unwrap(), "--key-file", &kf]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn a_received_copy_without_its_tail_fails_against_the_senders_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let records = trail(dir.path(), 200);
    let kf = key_file(work.path());
    // The operator keeps a copy of the sender's side file off the host.
    let kept = work.path().join("audit.checkpoint");
    fs::copy(dir.path().join("audit.checkpoint"), &kept).unwrap();
    let published = seq(fs::read(&kept).unwrap().trim_ascii_end());
    let copy = work.path().join("central.log");
    let cut = records
        .iter()
        .position(|r| seq(r) == published)
        .expect("the checkpoint is in the trail");
    write_copy(&copy, &records[..cut]);
    let (c, k) = (copy.to_str().unwrap(), kept.to_str().unwrap());
    let (code, report) = verify_cli(&["--received", c, "--key-file", &kf, "--checkpoint", k]);
    assert_eq!(code, 17, "{report:#}");
    assert_eq!(kinds(&report), ["truncated"], "{report:#}");
    // The whole copy holds the checkpoint's record: intact.
    write_copy(&copy, &records);
    let (code, report) = verify_cli(&["--received", c, "--key-file", &kf, "--checkpoint", k]);
    assert_eq!(code, 0, "{report:#}");
    // An emptied checkpoint copy names nothing: that is a finding too.
    fs::write(&kept, b"").unwrap();
    let (code, report) = verify_cli(&["--received", c, "--key-file", &kf, "--checkpoint", k]);
    assert_eq!(code, 12, "{report:#}");
}

#[test]
fn a_received_copy_without_its_tail_fails_against_the_shippers_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let records = trail(dir.path(), 120);
    let kf = key_file(work.path());
    // The shipper's cursor names the last record it saw acknowledged (its format is
    // documented in docs/operations.md).
    let last: serde_json::Value = serde_json::from_slice(records.last().unwrap()).unwrap();
    let newest = trail_files(dir.path()).pop().unwrap();
    let cursor = work.path().join("ship.cursor");
    let pos = serde_json::json!({"version": 1, "streams": {"audit": {
        "file": newest.file_name().unwrap().to_str().unwrap(),
        "offset": fs::metadata(&newest).unwrap().len(),
        "seq": last["seq"], "mac": last["mac"],
    }}});
    fs::write(&cursor, pos.to_string()).unwrap();
    let copy = work.path().join("central.log");
    let (c, cur) = (copy.to_str().unwrap(), cursor.to_str().unwrap());
    write_copy(&copy, &records);
    let (code, report) = verify_cli(&["--received", c, "--key-file", &kf, "--cursor", cur]);
    assert_eq!(code, 0, "{report:#}");
    write_copy(&copy, &records[..records.len() - 3]);
    let (code, report) = verify_cli(&["--received", c, "--key-file", &kf, "--cursor", cur]);
    assert_eq!(code, 17, "{report:#}");
    assert!(report.to_string().contains("shipping cursor"), "{report:#}");
}

#[test]
fn an_emptied_side_file_does_not_hide_a_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..3000, 64 * 1024);
    let kf = key_file(work.path());
    let d = dir.path().to_str().unwrap();
    let (code, report) = verify_cli(&[d, "--key-file", &kf]);
    assert_eq!(code, 0, "{report:#}");
    // Cut the last 1,524 records: drop whole newest files, then lines of the one that is now
    // the newest (its seal goes with them, so it looks like a file still being written).
    let mut to_cut = 1524;
    let mut files = trail_files(dir.path());
    while let Some(f) = files.pop() {
        let mut lines = read_lines(&f);
        if lines.len() > to_cut {
            lines.truncate(lines.len() - to_cut);
            write_lines(&f, &lines);
            break;
        }
        to_cut -= lines.len();
        fs::remove_file(&f).unwrap();
    }
    fs::write(dir.path().join("audit.checkpoint"), b"").unwrap();
    let (code, report) = verify_cli(&[d, "--key-file", &kf]);
    assert_eq!(code, 12, "{report:#}");
    assert!(report.to_string().contains("is empty"), "{report:#}");
}
