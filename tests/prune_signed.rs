//! A signed trail whose oldest files were pruned still verifies from `pk0` alone: retention
//! archives the epoch seals of the files it deletes in `<prefix>.seals.jsonl`, and the verifier
//! follows the epoch keys through it. Without the archive, or with it edited, truncated or
//! reordered, the keys of the present epochs are not certified and the trail fails.

mod chain_support;

use chain_support::*;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};
use tracing_audit::chain::{ChainConfig, PublicKey, SigningState};
use tracing_audit::sink::Retention;
use tracing_audit::sink::{testing, FileSink, Rotation};
use tracing_audit::verify::{Keys, ProblemKind, Report, Verifier};
use tracing_audit::Stream;

fn signed(state: &Path) -> ChainConfig {
    // Epochs longer than the test: each run's clean shutdown seals exactly one epoch.
    ChainConfig::new()
        .signing(SigningState::load(state).unwrap())
        .epoch(Duration::from_secs(3600))
        .checkpoint_every(25)
}

fn config(dir: &Path, retention: Retention) -> FileSink {
    FileSink::new(dir)
        .rotation(Rotation::Never)
        .max_file_size(900)
        .compress(true)
        .retention(retention)
}

/// One run of the sink: records `records`, then a clean shutdown (which seals the epoch).
/// With `prune_at_least`, waits until retention deleted that many files first.
fn run(
    dir: &Path,
    state: &Path,
    records: std::ops::Range<u32>,
    keep: Retention,
    prune_at_least: u64,
) {
    let (handle, guard) =
        testing::spawn_files(Stream::Audit, config(dir, keep), Some(&signed(state))).unwrap();
    for i in records {
        let record = format!(
            r#"{{"ts":"2026-11-26T06:00:00.000000000Z","stream":"audit","level":"INFO","target":"audit","actor":"user{i}","message":"r{i}"}}"#
        );
        testing::submit(&handle, record.as_bytes());
    }
    handle.sync().unwrap();
    let give_up = Instant::now() + Duration::from_secs(60);
    while handle.health().pruned < prune_at_least {
        assert!(Instant::now() < give_up, "{:?}", handle.health());
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(guard);
}

/// Verified every way (reference, streaming on one and three threads; the same findings, and an
/// intact trail streamed in bounded memory: see `chain_support::every_way`).
fn check(dir: &Path, pk0: &PublicKey) -> Report {
    // One clock for every way, so that the seal ages agree.
    let now = std::time::SystemTime::now();
    every_way(|| {
        Verifier::new(dir)
            .keys(Keys::none())
            .public_key(*pk0)
            .at(now)
    })
    .unwrap()
}

fn has(r: &Report, kinds: &[ProblemKind]) -> bool {
    r.problems().iter().any(|p| kinds.contains(&p.kind()))
}

/// A signed trail of five runs (epochs 0..=4) whose first runs' files were pruned.
fn pruned_trail() -> (tempfile::TempDir, tempfile::TempDir, PublicKey) {
    let d = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let state = keys.path().join("audit.signing");
    let pk0 = SigningState::generate(&state).unwrap();
    for n in 0..4 {
        run(
            d.path(),
            &state,
            n * 30..n * 30 + 30,
            Retention::keep_all(),
            0,
        );
    }
    let files = trail_files(d.path()).len() as u64;
    run(
        d.path(),
        &state,
        120..125,
        Retention::keep_all().max_files(3),
        files - 3,
    );
    (d, keys, pk0)
}

fn archive(dir: &Path) -> std::path::PathBuf {
    dir.join("audit.seals.jsonl")
}

fn archived_lines(dir: &Path) -> Vec<Vec<u8>> {
    read_lines(&archive(dir))
}

fn variant(from: &Path, edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    copy_dir(from, d.path());
    edit(d.path());
    d
}

#[test]
fn a_pruned_signed_trail_verifies_from_pk0_through_its_seals_archive() {
    let (d, _keys, pk0) = pruned_trail();
    let seals = archived_lines(d.path());
    assert!(seals.len() >= 2, "{} seals archived", seals.len());
    for (epoch, line) in seals.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(v["record"], "epoch_seal");
        assert_eq!(v["epoch"], epoch as u64, "in order from epoch 0");
    }
    // The head is gone: no genesis record is left.
    let oldest = tracing_audit::trail::Trail::open(d.path(), None)
        .unwrap()
        .files()[0]
        .read()
        .unwrap();
    let first: serde_json::Value =
        serde_json::from_slice(oldest.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_ne!(first["record"], "genesis");
    assert!(first["epoch"].as_u64().unwrap() >= 2, "{first}");

    let r = check(d.path(), &pk0);
    assert!(r.intact(), "{r}");
    let summary = r.seals().unwrap();
    assert!(summary.epochs_sealed() >= 1, "{r}");
    assert_eq!(summary.unsealed(), 0, "{r}");
}

#[test]
fn a_pruned_signed_trail_without_its_seals_archive_fails() {
    let (d, _keys, pk0) = pruned_trail();
    let v = variant(d.path(), |p| fs::remove_file(archive(p)).unwrap());
    let r = check(v.path(), &pk0);
    assert!(!r.intact() && has(&r, &[ProblemKind::MissingSeal]), "{r}");
}

#[test]
fn an_edited_seals_archive_fails() {
    let (d, _keys, pk0) = pruned_trail();
    let v = variant(d.path(), |p| {
        let mut lines = archived_lines(p);
        let line = String::from_utf8(lines[0].clone()).unwrap();
        lines[0] = line
            .replace("\"reason\":\"shutdown\"", "\"reason\":\"end\"")
            .into_bytes();
        assert_ne!(lines[0], archived_lines(p)[0]);
        write_lines(&archive(p), &lines);
    });
    let r = check(v.path(), &pk0);
    assert!(
        !r.intact() && has(&r, &[ProblemKind::Modified, ProblemKind::BadSignature]),
        "{r}"
    );
}

#[test]
fn a_truncated_seals_archive_fails() {
    let (d, _keys, pk0) = pruned_trail();
    // Cut mid-line.
    let v = variant(d.path(), |p| {
        let content = fs::read(archive(p)).unwrap();
        fs::write(archive(p), &content[..content.len() - 40]).unwrap();
    });
    let r = check(v.path(), &pk0);
    assert!(!r.intact() && has(&r, &[ProblemKind::MissingSeal]), "{r}");
    // The last seal removed whole.
    let v = variant(d.path(), |p| {
        let mut lines = archived_lines(p);
        lines.pop();
        write_lines(&archive(p), &lines);
    });
    let r = check(v.path(), &pk0);
    assert!(!r.intact() && has(&r, &[ProblemKind::MissingSeal]), "{r}");
}

#[test]
fn a_seals_archive_with_two_seals_swapped_fails() {
    let (d, _keys, pk0) = pruned_trail();
    let v = variant(d.path(), |p| {
        let mut lines = archived_lines(p);
        lines.swap(0, 1);
        write_lines(&archive(p), &lines);
    });
    let r = check(v.path(), &pk0);
    assert!(
        !r.intact() && has(&r, &[ProblemKind::MissingSeal, ProblemKind::WrongEpoch]),
        "{r}"
    );
}

#[test]
fn a_signed_only_trail_gets_no_search_index_nobody_could_authenticate() {
    // Indexes are authenticated under a key derived from the chain key (docs/verification.md,
    // "what each reader trusts"); a trail sealed by signatures alone has none, so its writer
    // writes no index a search would have to ignore.
    let (d, _keys, _pk0) = pruned_trail();
    let names: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().filter(|n| n.ends_with(".jsonl.gz")).count() >= 2,
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains(".idx")), "{names:?}");
}
