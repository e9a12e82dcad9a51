//! Real trails for the chain, verify and CLI tests: written through the layer and the file sink.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_subscriber::prelude::*;

pub fn key() -> ChainKey {
    ChainKey::new("k1", b"integration test chain key")
}

pub fn keyed() -> ChainConfig {
    ChainConfig::new().key(key()).checkpoint_every(25)
}

/// Emits audit events `range` (each in its own request span, with one debug event) through
/// the real layer into `dir`, rotating files at `max_file_size` bytes.
pub fn write_trail(
    dir: &Path,
    chain: ChainConfig,
    range: std::ops::Range<usize>,
    max_file_size: u64,
) {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(dir).max_file_size(max_file_size))
        .debug_to(std::io::sink)
        .chain(chain)
        .build()
        .expect("layer builds");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || emit(range));
    drop(guard);
}

pub fn emit(range: std::ops::Range<usize>) {
    for i in range {
        let span = tracing::info_span!("request", request_id = i, user = "svc");
        let _g = span.enter();
        let actor = format!("user{}", i % 7);
        let resource = format!("/doc/{i}");
        let outcome = if i % 5 == 0 { "failure" } else { "success" };
        tracing::info!(
            target: "audit",
            actor = %actor,
            action = "read",
            resource = %resource,
            outcome,
            src_ip = "10.0.0.7",
            "request {i} handled"
        );
        tracing::debug!(rows = i, "query done");
    }
}

/// The trail's own files (`*.jsonl`), in name order.
pub fn trail_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            (n.ends_with(".jsonl") || n.ends_with(".jsonl.gz"))
                && !n.contains(".current.")
                && !fs::symlink_metadata(p).unwrap().file_type().is_symlink()
        })
        .collect();
    v.sort();
    v
}

pub fn read_lines(path: &Path) -> Vec<Vec<u8>> {
    fs::read(path)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

pub fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut c = Vec::new();
    for l in lines {
        c.extend_from_slice(l);
        c.push(b'\n');
    }
    fs::write(path, c).unwrap();
}

/// Copies a trail directory (regular files only; the current link is recreated by nobody).
pub fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().file_type().is_file() {
            fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Everything a report says about the trail (not how it was produced: `Report::stats`).
pub fn findings(r: &tracing_audit::verify::Report) -> impl std::fmt::Debug + PartialEq + '_ {
    (
        (r.files(), r.records(), r.first_seq(), r.last_seq()),
        (r.begins_at(), r.keyed()),
        (r.problems(), r.warnings(), r.seals()),
    )
}

/// Runs `make()`'s verifier the reference way and the streaming way (one and three threads),
/// asserts that they say the same, and returns the reference report.
pub fn every_way<'a>(
    make: impl Fn() -> tracing_audit::verify::Verifier<'a>,
) -> Result<tracing_audit::verify::Report, tracing_audit::verify::VerifyError> {
    let reference = make().streaming(false).verify();
    for threads in [1, 3] {
        let fast = make().threads(threads).verify();
        match (&reference, &fast) {
            (Ok(a), Ok(b)) if a.intact() => {
                // An intact trail is what the streaming check is for: it must not hand over.
                assert!(b.stats().streamed(), "intact trail not streamed:\n{a}");
                assert_eq!(findings(a), findings(b), "{threads} threads");
            }
            (Ok(a), Ok(b)) => assert_eq!(
                findings(a),
                findings(b),
                "reference (left) and streaming with {threads} threads (right) disagree"
            ),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{a} / {b}"),
            (a, b) => panic!("reference {a:?}, streaming with {threads} threads {b:?}"),
        }
    }
    reference
}

/// `tracing_audit::verify::verify`, every way (see [`every_way`]).
pub fn verify(
    dir: &Path,
    keys: &tracing_audit::verify::Keys,
) -> Result<tracing_audit::verify::Report, tracing_audit::verify::VerifyError> {
    let reference = every_way(|| tracing_audit::verify::Verifier::new(dir).keys(keys.clone()));
    if let Ok(r) = &reference {
        received_agrees(dir, keys, r);
    }
    reference
}

/// The received walk (`verify --received`) over a copy holding the trail's records in order,
/// checked against the trail's side file: where the reference finds the trail intact, the copy
/// is intact too. Plain trails only (a copy of a gzipped one would need inflating here).
pub fn received_agrees(
    dir: &Path,
    keys: &tracing_audit::verify::Keys,
    reference: &tracing_audit::verify::Report,
) {
    let files: Vec<PathBuf> = trail_files(dir)
        .into_iter()
        .filter(|f| !f.to_string_lossy().ends_with(".seals.jsonl"))
        .collect();
    let gz = fs::read_dir(dir)
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".gz"));
    if !reference.intact() || gz {
        return;
    }
    let copy = tempfile::NamedTempFile::new().unwrap();
    // Complete lines only: a torn last line never reaches a receiver.
    let mut content = Vec::new();
    for f in &files {
        let bytes = fs::read(f).unwrap();
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        content.extend_from_slice(&bytes[..end]);
    }
    fs::write(copy.path(), content).unwrap();
    let mut v = tracing_audit::verify::ReceivedVerifier::new(copy.path()).keys(keys.clone());
    let side = dir.join("audit.checkpoint");
    if side.exists() {
        v = v.checkpoint(side);
    }
    let r = v.verify().unwrap();
    assert!(
        r.intact(),
        "the reference finds the trail intact, the received walk over its records does not:\n{reference}\n{:?}",
        r.problems()
    );
}

/// `tracing-audit verify ARGS --json` as a process: (exit code, report).
pub fn verify_json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .arg("verify")
        .args(args)
        .arg("--json")
        .output()
        .expect("run tracing-audit");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// The `kind` of every problem in a `verify --json` report, in order.
pub fn problem_kinds(report: &serde_json::Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_owned())
        .collect()
}
