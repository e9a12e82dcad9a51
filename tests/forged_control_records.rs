//! A control record counts only when the trail's root authenticates it, and a restarted writer
//! never adopts (and seals) lines it did not write.
//!
//! The attack, as someone with a shell on the host would run it: delete the oldest files, append
//! a `prune` record that excuses the loss, chained with plain SHA-256 after the last line (the
//! only chain they can compute without the key), and on a signed trail copy the deleted files'
//! epoch seals into the seals archive. Then, optionally, let the service restart on the same
//! directory and signing state. Every step goes through real files, the real layer and sink,
//! and the real `tracing-audit verify`.

mod chain_support;

use chain_support::*;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing_audit::chain::{ChainConfig, SigningState};

/// `tracing-audit verify DIR ARGS --json`: (exit code, report).
fn verify_cli(dir: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let dir = dir.to_str().unwrap();
    verify_json(&[&[dir], args].concat())
}

fn kinds(report: &serde_json::Value) -> Vec<String> {
    problem_kinds(report)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn json(line: &[u8]) -> serde_json::Value {
    serde_json::from_slice(line).unwrap()
}

/// The MAC bytes of a framed line (`sha256:` or `hmac-sha256:`).
fn mac_of(line: &[u8]) -> [u8; 32] {
    let v = json(line);
    let mac = v["mac"].as_str().unwrap();
    unhex(mac.rsplit(':').next().unwrap())
}

/// The trail's data files in order (not the seals archive, which is a `.jsonl` too).
fn chain_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = trail_files(dir);
    v.retain(|f| !f.to_string_lossy().ends_with(".seals.jsonl"));
    v
}

/// What an attacker deleted from the head: the file names, and the chain value the first kept
/// record names as its predecessor.
struct Deleted {
    names: Vec<String>,
    through_seq: u64,
    through_mac: String,
}

/// Deletes the oldest half of the trail's files; on a signed trail, copies their epoch seals
/// into the seals archive, as retention would have.
fn delete_head(dir: &Path) -> Deleted {
    let files = chain_files(dir);
    assert!(files.len() >= 4, "need a few files, got {}", files.len());
    let (gone, kept) = files.split_at(files.len() / 2);
    let first_kept = json(&read_lines(&kept[0])[0]);
    let mut archive = Vec::new();
    for f in gone {
        for l in read_lines(f) {
            if json(&l)["record"] == "epoch_seal" {
                archive.extend_from_slice(&l);
                archive.push(b'\n');
            }
        }
        fs::remove_file(f).unwrap();
    }
    if !archive.is_empty() {
        fs::write(dir.join("audit.seals.jsonl"), archive).unwrap();
    }
    Deleted {
        names: gone
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect(),
        through_seq: first_kept["seq"].as_u64().unwrap() - 1,
        through_mac: first_kept["prev"].as_str().unwrap().to_owned(),
    }
}

/// Appends a `prune` record covering `d`, framed as the writer frames one, chained with plain
/// SHA-256 to the last line (an attacker holds no chain key and no erased epoch key). On a
/// signed trail it names the open epoch, after the last seal.
fn forge_prune(dir: &Path, d: &Deleted) {
    let newest = chain_files(dir).pop().unwrap();
    let mut lines = read_lines(&newest);
    let last = lines.last().unwrap().clone();
    let lv = json(&last);
    let seq = lv["seq"].as_u64().unwrap() + 1;
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ");
    let files: Vec<String> = d.names.iter().map(|n| format!("{n:?}")).collect();
    let mut signed = format!(
        r#"{{"seq":{seq},"ts":"{ts}","stream":"audit","record":"prune","files":[{}],"through_seq":{},"through_mac":"{}","message":"retention deleted {} files: records up to {}""#,
        files.join(","),
        d.through_seq,
        d.through_mac,
        d.names.len(),
        d.through_seq
    );
    if let Some(epoch) = lv["epoch"].as_u64() {
        let open = if lv["record"] == "epoch_seal" {
            epoch + 1
        } else {
            epoch
        };
        signed.push_str(&format!(r#","epoch":{open}"#));
    }
    let mut h = Sha256::new();
    h.update(mac_of(&last));
    h.update(signed.as_bytes());
    let mac: [u8; 32] = h.finalize().into();
    lines.push(format!(r#"{signed},"mac":"sha256:{}"}}"#, hex(&mac)).into_bytes());
    write_lines(&newest, &lines);
}

/// A signed trail of three runs (three sealed epochs), in `dir`, with its state file and `pk0`
/// file in `keys`.
fn signed_trail(dir: &Path, keys: &Path) -> (PathBuf, PathBuf) {
    let state = keys.join("audit.signing");
    let pk0 = SigningState::generate(&state).unwrap();
    let pk_file = keys.join("audit.pk0");
    fs::write(&pk_file, format!("{pk0}\n")).unwrap();
    for run in 0..3 {
        write_trail(dir, signed(&state), run * 40..run * 40 + 40, 2048);
    }
    (state, pk_file)
}

fn signed(state: &Path) -> ChainConfig {
    // Epochs longer than the test: each run's clean shutdown seals exactly one epoch.
    ChainConfig::new()
        .signing(SigningState::load(state).unwrap())
        .epoch(Duration::from_secs(3600))
        .checkpoint_every(25)
}

fn key_file(keys: &Path) -> String {
    let p = keys.join("chain.key");
    fs::write(&p, b"integration test chain key\n").unwrap();
    p.to_string_lossy().into_owned()
}

fn assert_head_loss_found(code: i32, report: &serde_json::Value) {
    assert_ne!(code, 0, "{report:#}");
    assert!(
        kinds(report).iter().any(|k| k == "deleted"),
        "the lost head must be `deleted`: {report:#}"
    );
    assert!(
        report.to_string().contains("was disregarded"),
        "the report must say which prune record was disregarded and why: {report:#}"
    );
}

#[test]
fn a_forged_prune_in_the_open_epoch_does_not_excuse_a_lost_head_of_a_signed_trail() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (_, pk) = signed_trail(dir.path(), keys.path());
    let pk = pk.to_str().unwrap();
    let (code, report) = verify_cli(dir.path(), &["--public-key", pk]);
    assert_eq!(code, 0, "the intact trail verifies: {report:#}");
    let d = delete_head(dir.path());
    forge_prune(dir.path(), &d);
    let (code, report) = verify_cli(dir.path(), &["--public-key", pk]);
    assert_head_loss_found(code, &report);
    assert!(
        report.to_string().contains("no valid epoch seal covers it"),
        "{report:#}"
    );
}

#[test]
fn a_restarted_writer_does_not_seal_a_forged_prune_into_a_signed_trail() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (state, pk) = signed_trail(dir.path(), keys.path());
    let pk = pk.to_str().unwrap();
    let d = delete_head(dir.path());
    forge_prune(dir.path(), &d);
    // The service restarts on the same directory and signing state, writes and shuts down
    // cleanly: the epoch holding the forged record is sealed by the writer's own key. Twice.
    for run in 0..2 {
        write_trail(
            dir.path(),
            signed(&state),
            200 + run * 10..210 + run * 10,
            2048,
        );
        let all: Vec<serde_json::Value> = chain_files(dir.path())
            .iter()
            .flat_map(|f| read_lines(f))
            .map(|l| json(&l))
            .collect();
        let disowned: Vec<_> = all.iter().filter(|v| v["repair"] == "unadopted").collect();
        assert_eq!(disowned.len(), 1, "the writer disowns the forged line once");
        assert_eq!(
            disowned[0]["from_seq"], disowned[0]["to_seq"],
            "exactly the forged line: {}",
            disowned[0]
        );
        for extra in [&[][..], &["--expect-current"][..]] {
            let mut args = vec!["--public-key", pk];
            args.extend_from_slice(extra);
            let (code, report) = verify_cli(dir.path(), &args);
            assert_head_loss_found(code, &report);
            assert!(report.to_string().contains("writer disowned"), "{report:#}");
        }
    }
}

#[test]
fn a_forged_unkeyed_prune_does_not_excuse_a_lost_head_of_a_keyed_trail_before_or_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..120, 2048);
    let kf = key_file(keys.path());
    let args = ["--key-file", kf.as_str(), "--key-id", "k1"];
    let d = delete_head(dir.path());
    forge_prune(dir.path(), &d);
    let (code, report) = verify_cli(dir.path(), &args);
    assert_head_loss_found(code, &report);
    assert!(
        report
            .to_string()
            .contains("not authenticated by the chain key"),
        "{report:#}"
    );
    write_trail(dir.path(), keyed(), 200..210, 2048);
    let (code, report) = verify_cli(dir.path(), &args);
    assert_head_loss_found(code, &report);
}

#[test]
fn an_unkeyed_trail_has_no_root_but_a_restarted_writer_disowns_a_forged_prune() {
    let dir = tempfile::tempdir().unwrap();
    let unkeyed = || ChainConfig::new().checkpoint_every(25);
    write_trail(dir.path(), unkeyed(), 0..120, 2048);
    let d = delete_head(dir.path());
    forge_prune(dir.path(), &d);
    // Nothing authenticates an unkeyed chain: the documented limit, said in the report.
    let (code, report) = verify_cli(dir.path(), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report.to_string().contains("unkeyed"), "{report:#}");
    // The writer knows its own last record, and the forged line is not it: after any number
    // of restarts the prune record stays disregarded and the head loss a finding.
    for run in 0..2 {
        write_trail(dir.path(), unkeyed(), 200 + run * 10..210 + run * 10, 2048);
        let (code, report) = verify_cli(dir.path(), &[]);
        assert_head_loss_found(code, &report);
        assert!(report.to_string().contains("writer disowned"), "{report:#}");
    }
}

#[test]
fn an_honest_restart_after_retention_adopts_its_own_prune_record() {
    // The writer's own prune record is followed by its durable tail before anything is
    // deleted, so a restart adopts it and the pruned trail verifies.
    use tracing_audit::sink::Retention;
    use tracing_audit::sink::{testing, FileSink, Rotation};
    use tracing_audit::Stream;
    let dir = tempfile::tempdir().unwrap();
    let unkeyed = ChainConfig::new().checkpoint_every(25);
    let sink = || {
        FileSink::new(dir.path())
            .rotation(Rotation::Never)
            .max_file_size(900)
            .retention(Retention::keep_all().max_files(3))
    };
    let (handle, guard) = testing::spawn_files(Stream::Audit, sink(), Some(&unkeyed)).unwrap();
    for i in 0..80 {
        let record = format!(
            r#"{{"ts":"2026-11-26T06:00:00.000000000Z","stream":"audit","level":"INFO","target":"audit","actor":"user{i}","message":"r{i}"}}"#
        );
        testing::submit(&handle, record.as_bytes());
    }
    handle.sync().unwrap();
    drop(guard);
    let (handle, guard) = testing::spawn_files(Stream::Audit, sink(), Some(&unkeyed)).unwrap();
    testing::submit(
        &handle,
        br#"{"ts":"2026-11-26T06:00:01.000000000Z","stream":"audit","message":"after"}"#,
    );
    handle.sync().unwrap();
    drop(guard);
    let (code, report) = verify_cli(dir.path(), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report["begins_at"].as_u64().is_some(), "{report:#}");
    assert!(!report.to_string().contains("unadopted"), "{report:#}");
}

/// Appends, after the last line, an unchained line and a new chain segment that a forged
/// `new_chain` repair record explains (the writer's shape after an unchained last line),
/// chained with plain SHA-256 in the open epoch.
fn forge_new_chain(dir: &Path) {
    let newest = chain_files(dir).pop().unwrap();
    let mut lines = read_lines(&newest);
    let lv = json(lines.last().unwrap());
    let seq = lv["seq"].as_u64().unwrap() + 1;
    let epoch = lv["epoch"].as_u64().unwrap() + u64::from(lv["record"] == "epoch_seal");
    let junk = br#"{"note":"not a record"}"#.to_vec();
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ");
    let chain = |prev: [u8; 32], signed: String| {
        let mut h = Sha256::new();
        h.update(prev);
        h.update(signed.as_bytes());
        let mac: [u8; 32] = h.finalize().into();
        (format!(r#"{signed},"mac":"sha256:{}"}}"#, hex(&mac)), mac)
    };
    let (genesis, g_mac) = chain(
        [0; 32],
        format!(
            r#"{{"seq":{seq},"ts":"{ts}","stream":"audit","record":"genesis","chain":"00","reason":"unchained_last_line","epoch":{epoch}"#
        ),
    );
    let (repair, _) = chain(
        g_mac,
        format!(
            r#"{{"seq":{},"ts":"{ts}","stream":"audit","record":"repair","repair":"new_chain","message":"x","prev_line_sha256":"{}","prev_line_bytes":{},"epoch":{epoch}"#,
            seq + 1,
            hex(&Sha256::digest(&junk)),
            junk.len()
        ),
    );
    lines.extend([junk, genesis.into_bytes(), repair.into_bytes()]);
    write_lines(&newest, &lines);
}

#[test]
fn a_forged_new_chain_repair_does_not_explain_a_chain_start_in_a_signed_trail() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (state, pk) = signed_trail(dir.path(), keys.path());
    let pk = pk.to_str().unwrap();
    forge_new_chain(dir.path());
    for restart in [false, true] {
        if restart {
            // The writer's restart seals the epoch holding the forged segment; it stays foreign.
            write_trail(dir.path(), signed(&state), 300..305, 2048);
        }
        let (code, report) = verify_cli(dir.path(), &["--public-key", pk]);
        assert_ne!(code, 0, "{report:#}");
        assert!(
            kinds(&report).iter().any(|k| k == "spliced"),
            "the chain start is not explained by a repair record nobody authenticated: {report:#}"
        );
    }
}
