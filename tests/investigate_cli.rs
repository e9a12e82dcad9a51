//! `query`, `correlate` and `tail` as processes: damaged archives are named and the rest is
//! found; `tail --follow` with filters goes on across rotation and compression.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_subscriber::prelude::*;

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .expect("run tracing-audit")
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Writes requests `range` through the real layer: one audit record (actor by `i % 3`) and one
/// debug record each, in small files that are rotated and compressed.
fn write(root: &Path, range: std::ops::Range<usize>) {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(
            FileSink::new(root.join("audit"))
                .max_file_size(2048)
                .compress(true),
        )
        .debug_to_files(
            FileSink::new(root.join("debug"))
                .max_file_size(2048)
                .compress(true),
        )
        .debug_filter("debug")
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in range {
            let span = tracing::info_span!("request", request_id = i);
            let _g = span.enter();
            let actor = ["alice", "bob", "carol"][i % 3];
            tracing::debug!(step = i, "handling request {i}");
            tracing::info!(target: "audit", actor, action = "read", resource = %format!("/doc/{i}"), outcome = "success");
        }
    });
    drop(guard);
}

fn gz_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl.gz"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_truncated_archive_is_named_and_every_other_match_is_returned() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), 0..60);
    let audit = root.path().join("audit");
    let debug = root.path().join("debug");
    let (a, d) = (audit.to_str().unwrap(), debug.to_str().unwrap());
    let before = json_lines(&tool(&["query", a, "--actor", "carol"]));
    assert_eq!(before.len(), 20);
    let gz = gz_files(&audit);
    assert!(gz.len() >= 3, "{gz:?}");
    let damaged = &gz[gz.len() / 2];
    let path = audit.join(damaged);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 12]).unwrap();

    let o = tool(&["query", a, "--actor", "carol"]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "exit 4: ran, but a file was damaged"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(damaged.as_str()) && stderr.contains("damaged"),
        "{stderr}"
    );
    let after = json_lines(&o);
    // Only the damaged file's last records can be missing; everything else is there, in order.
    let missing: Vec<_> = before.iter().filter(|v| !after.contains(v)).collect();
    assert!(missing.len() <= 2, "{missing:?}");
    assert!(after.iter().all(|v| before.contains(v)));
    assert_eq!(before.last(), after.last());

    // correlate finds a request outside the damaged file in both streams.
    let id = before[0]["correlation_id"].as_str().unwrap();
    let o = tool(&["correlate", "--audit", a, "--debug", d, id]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains(damaged.as_str()));
    let recs = json_lines(&o);
    let streams: Vec<_> = recs.iter().map(|v| v["stream"].as_str().unwrap()).collect();
    assert_eq!(streams, ["debug", "audit"]);
}

#[test]
fn tail_follow_with_filters_crosses_rotation_and_compression() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), 0..6);
    let audit = root.path().join("audit");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args([
            "tail",
            audit.to_str().unwrap(),
            "-n",
            "1",
            "--follow",
            "--poll-ms",
            "20",
            "--actor",
            "carol",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = support::stdout_lines(&mut child);
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(first.contains("/doc/5 "), "{first}");
    let gz_before = gz_files(&audit).len();
    write(root.path(), 6..90);
    assert!(
        gz_files(&audit).len() > gz_before + 2,
        "rotated and compressed meanwhile"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("/doc/89 ")) && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.iter().all(|l| l.contains("actor=carol")), "{seen:#?}");
    let docs: Vec<usize> = seen
        .iter()
        .filter_map(|l| l.split("resource=/doc/").nth(1))
        .map(|r| r.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let want: Vec<usize> = (6..90).filter(|i| i % 3 == 2).collect();
    assert_eq!(
        docs, want,
        "every later carol record once, in order: {seen:#?}"
    );
}
