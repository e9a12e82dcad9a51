//! Trails outlive binaries: trails written by an earlier version of this crate, committed under
//! `tests/fixtures/format-1/`, still verify and read with every reader of today's code.
//!
//! The fixtures were written once, by `write_fixtures` below (run it with
//! `cargo test --all-features --test format_fixture -- --ignored write_fixtures` only when a new
//! format version is introduced, into a new directory: never rewrite an old one). Each has an
//! audit and a debug stream, rotated files, gzipped closed files and the side files:
//! - `keyed/`: a chain keyed with `keyed/audit.key` (key id `k1`), with search indexes;
//! - `signed/`: forward-secure signed seals, written across a restart, verified with `signed/audit.pk0`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/format-1")
        .join(name)
}

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .expect("tracing-audit runs")
}

fn ok(args: &[&str]) -> String {
    let o = tool(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON value per line"))
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What every reader must still do with a format-1 trail in `dir`, verified by `verify_args`.
fn every_reader_reads(dir: &Path, verify_args: &[&str]) {
    let audit = dir.join("audit");
    let debug = dir.join("debug");
    let mut args = vec!["verify", s(&audit), "--json"];
    args.extend_from_slice(verify_args);
    let report: Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(
        report["last_seq"].as_u64().map(|n| n > 100),
        Some(true),
        "{report}"
    );

    let hits = json_lines(&ok(&["query", s(&audit), "--actor", "user3"]));
    assert!(hits.len() >= 20, "{} records of user3", hits.len());
    assert!(hits.iter().all(|r| r["actor"] == "user3"));
    let id = hits[0]["correlation_id"]
        .as_str()
        .expect("a correlation id")
        .to_owned();

    let both = ok(&["correlate", "--audit", s(&audit), "--debug", s(&debug), &id]);
    assert!(
        both.contains("request 3 handled") || both.contains(&id),
        "{both}"
    );
    assert!(
        both.contains("query done"),
        "the debug record of the request: {both}"
    );

    let tail = ok(&["tail", s(&audit), "-n", "5"]);
    assert_eq!(tail.lines().count(), 5, "{tail}");

    let report = ok(&["report", s(&audit)]);
    assert!(report.contains("user3"), "{report}");

    for format in ["ocsf", "ecs"] {
        let events = json_lines(&ok(&["export", "--format", format, s(&audit)]));
        assert!(events.len() > 100, "{format}: {} events", events.len());
    }

    let out = tempfile::tempdir().unwrap();
    let html = out.path().join("t.html");
    ok(&[
        "timeline",
        "--audit",
        s(&audit),
        "--debug",
        s(&debug),
        &id,
        "--html",
        s(&html),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("query done"),
        "the timeline holds the debug record"
    );
}

#[test]
fn a_keyed_format_1_trail_verifies_and_reads_with_every_reader() {
    let dir = fixture("keyed");
    let key = dir.join("audit.key");
    every_reader_reads(&dir, &["--key-file", s(&key), "--key-id", "k1"]);
}

#[test]
fn a_signed_format_1_trail_verifies_with_pk0_and_reads_with_every_reader() {
    let dir = fixture("signed");
    let pk0 = dir.join("audit.pk0");
    every_reader_reads(&dir, &["--public-key", s(&pk0)]);
}

#[test]
fn the_fixtures_state_their_format_in_genesis_and_seal_records() {
    for name in ["keyed", "signed"] {
        let audit = fixture(name).join("audit");
        let lines = json_lines(&ok(&["query", s(&audit), "--all"]));
        let versions: Vec<u64> = lines
            .iter()
            .filter(|r| matches!(r["record"].as_str(), Some("genesis" | "seal")))
            .map(|r| r["format"].as_u64().expect("a format version"))
            .collect();
        assert!(versions.len() >= 2, "{name}: {versions:?}");
        assert!(versions.iter().all(|&v| v == 1), "{name}: {versions:?}");
    }
}

/// A record naming a newer format is reported by name, never read as if it were format 1.
#[test]
fn a_newer_format_is_refused_by_name() {
    use tracing_audit::chain::{ChainConfig, ChainKey};
    let d = tempfile::tempdir().unwrap();
    let key = ChainKey::new("k1", b"fixture chain key, test data only");
    write(d.path(), ChainConfig::new().key(key.clone()), 0..5, 1 << 20);
    // Re-chain the trail as a writer of format 2 would have written it: same key, so every MAC
    // holds and only the version differs.
    let file = std::fs::read_dir(d.path().join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl") && !s(p).contains("current"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let bumped = text.replacen("\"format\":1", "\"format\":2", 1);
    assert_ne!(text, bumped, "the genesis record states its format");
    std::fs::write(
        &file,
        rechain(&bumped, b"fixture chain key, test data only"),
    )
    .unwrap();
    let key_file = d.path().join("k");
    std::fs::write(&key_file, "fixture chain key, test data only").unwrap();
    let o = tool(&[
        "verify",
        s(&d.path().join("audit")),
        "--key-file",
        s(&key_file),
        "--key-id",
        "k1",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("format 2"), "{text}");
    // The received walk (a central copy holding the same lines) refuses it by name too.
    let o = tool(&["verify", "--received", s(&file), "--key-file", s(&key_file)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("format 2"), "received: {text}");
}

/// Recomputes every MAC of a keyed trail file (HMAC-SHA256 over the previous MAC and the line
/// before `,"mac":"`), as its writer would have.
fn rechain(text: &str, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut prev = [0u8; 32];
    let mut out = String::new();
    for line in text.lines() {
        let cut = line.rfind(",\"mac\":\"").unwrap();
        let signed = &line[..cut];
        if let Some(at) = signed.find(",\"prev\":\"") {
            let hex = &signed[at + 9..at + 9 + 64];
            for (i, b) in prev.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
            }
        }
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(&prev);
        mac.update(signed.as_bytes());
        prev = mac.finalize().into_bytes().into();
        let hex: String = prev.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("{signed},\"mac\":\"hmac-sha256:{hex}\"}}\n"));
    }
    out
}

/// Writes `range` audit events (each in a request span with one debug event) into `dir/audit`
/// and `dir/debug`, rotating at `max_file_size`.
fn write(
    dir: &Path,
    chain: tracing_audit::chain::ChainConfig,
    range: std::ops::Range<usize>,
    max_file_size: u64,
) {
    use tracing_audit::layer::AuditLayer;
    use tracing_audit::sink::FileSink;
    use tracing_subscriber::prelude::*;
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(
            FileSink::new(dir.join("audit"))
                .max_file_size(max_file_size)
                .compress(true),
        )
        .debug_to_files(
            FileSink::new(dir.join("debug"))
                .max_file_size(max_file_size)
                .compress(true),
        )
        .debug_filter("debug")
        .chain(chain)
        .build()
        .expect("layer builds");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in range {
            let span = tracing::info_span!("request", request_id = i, user = "svc");
            let _g = span.enter();
            let actor = format!("user{}", i % 7);
            let outcome = if i % 5 == 0 { "failure" } else { "success" };
            tracing::info!(target: "audit", actor = %actor, action = "read",
                resource = %format!("/doc/{i}"), outcome, src_ip = "10.0.0.7", "request {i} handled");
            tracing::debug!(rows = i, "query done");
        }
    });
    drop(guard);
}

/// Writes the committed fixtures (see the module docs). Never run it over an existing directory.
#[test]
#[ignore = "writes tests/fixtures/format-1: run by hand when a format version is introduced"]
fn write_fixtures() {
    use std::time::Duration;
    use tracing_audit::chain::{ChainConfig, ChainKey, SigningState};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-1");
    assert!(
        !root.exists(),
        "{} exists: fixtures are never rewritten",
        root.display()
    );

    let keyed = root.join("keyed");
    std::fs::create_dir_all(&keyed).unwrap();
    let secret = b"fixture chain key, test data only";
    std::fs::write(keyed.join("audit.key"), secret).unwrap();
    let chain = || {
        ChainConfig::new()
            .key(ChainKey::new("k1", secret))
            .checkpoint_every(40)
    };
    write(&keyed, chain(), 0..150, 12 * 1024);
    write(&keyed, chain(), 150..300, 12 * 1024);

    let signed = root.join("signed");
    std::fs::create_dir_all(&signed).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let state = keys.path().join("audit.signing");
    let pk0 = SigningState::generate(&state).unwrap();
    std::fs::write(signed.join("audit.pk0"), format!("{pk0}\n")).unwrap();
    let chain = || {
        ChainConfig::new()
            .signing(SigningState::load(&state).unwrap())
            .epoch(Duration::from_secs(3600))
            .checkpoint_every(40)
    };
    write(&signed, chain(), 0..150, 12 * 1024);
    write(&signed, chain(), 150..300, 12 * 1024);
}
