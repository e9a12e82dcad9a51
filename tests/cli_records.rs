//! `tail`, `query` and `correlate` run as processes on real files.

mod chain_support;
mod support;

use chain_support::*;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
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

fn gzip(path: &Path) {
    let raw = fs::read(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    fs::write(format!("{}.gz", path.display()), gz.finish().unwrap()).unwrap();
    fs::remove_file(path).unwrap();
}

#[test]
fn query_filters_over_rotated_and_gzipped_files() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..60, 4096);
    let files = trail_files(dir.path());
    assert!(files.len() >= 3);
    gzip(&files[0]);
    let d = dir.path().to_str().unwrap();
    let o = tool(&["query", d, "--actor", "user3", "--outcome", "failure"]);
    assert_eq!(o.status.code(), Some(0));
    let hits = json_lines(&o);
    // i % 7 == 3 and i % 5 == 0 for i < 60: 10 and 45.
    let resources: Vec<_> = hits
        .iter()
        .map(|v| v["resource"].as_str().unwrap())
        .collect();
    assert_eq!(resources, ["/doc/10", "/doc/45"]);
    assert!(hits
        .iter()
        .all(|v| v["seq"].is_u64() && v["mac"].is_string()));

    let all = json_lines(&tool(&["query", d]));
    assert_eq!(all.len(), 60, "control records are hidden by default");
    let with_control = json_lines(&tool(&["query", d, "--all"]));
    assert!(with_control.iter().any(|v| v["record"] == "seal"));
    let since = all[20]["ts"].as_str().unwrap().to_owned();
    let until = all[30]["ts"].as_str().unwrap().to_owned();
    let window = json_lines(&tool(&["query", d, "--since", &since, "--until", &until]));
    assert_eq!(window.len(), 10);
    assert_eq!(window[0]["resource"], "/doc/20");
}

#[test]
fn tail_prints_the_last_records_plain_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..30, 4096);
    let o = tool(&[
        "tail",
        dir.path().to_str().unwrap(),
        "-n",
        "3",
        "--action",
        "read",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[2].contains("resource=/doc/29") && lines[2].contains("actor=user1"),
        "{out}"
    );
    assert!(
        lines[2].contains("outcome=success") && lines[2].contains("request 29 handled"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'), "no colour when piped: {out:?}");
}

#[test]
fn tail_follow_shows_records_written_later_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..5, 4096);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args([
            "tail",
            dir.path().to_str().unwrap(),
            "-n",
            "1",
            "--follow",
            "--poll-ms",
            "20",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = support::stdout_lines(&mut child);
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(first.contains("/doc/4"), "{first}");
    // A second run appends and rotates (small files).
    write_trail(dir.path(), keyed(), 5..40, 4096);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("/doc/39")) {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => seen.push(l),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let docs: Vec<usize> = seen
        .iter()
        .filter_map(|l| l.split("resource=/doc/").nth(1))
        .map(|r| r.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(docs, (5..40).collect::<Vec<_>>(), "{seen:#?}");
}

/// The quickstart scenario: a failed login among other requests, each with debug records.
fn login_scenario(root: &Path) {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(root.join("audit")))
        .debug_to_files(FileSink::new(root.join("debug")))
        .debug_filter("debug")
        .chain(keyed())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for (user, ok) in [("alice", true), ("mallory", false), ("bob", true)] {
            let span = tracing::info_span!("login", user);
            let _g = span.enter();
            tracing::debug!(session_store = "redis", "looking up session");
            if ok {
                tracing::info!(target: "audit", actor = user, action = "login", outcome = "success", "login");
            } else {
                tracing::warn!(
                    reason = "session cookie signed with a rotated key",
                    "session check failed"
                );
                tracing::info!(target: "audit", actor = user, action = "login", outcome = "failure", reason = "bad session", "login failed");
            }
        }
        tracing::debug!("outside any request");
    });
    drop(guard);
}

#[test]
fn correlate_returns_the_failed_login_with_its_debug_records_only() {
    let root = tempfile::tempdir().unwrap();
    login_scenario(root.path());
    let audit = root.path().join("audit");
    let debug = root.path().join("debug");
    let failed = json_lines(&tool(&[
        "query",
        audit.to_str().unwrap(),
        "--outcome",
        "failure",
    ]));
    assert_eq!(failed.len(), 1);
    let seq = failed[0]["seq"].as_u64().unwrap();
    let id = failed[0]["correlation_id"].as_str().unwrap().to_owned();

    for key in [format!("seq:{seq}"), seq.to_string(), id.clone()] {
        let o = tool(&[
            "correlate",
            "--audit",
            audit.to_str().unwrap(),
            "--debug",
            debug.to_str().unwrap(),
            &key,
        ]);
        assert_eq!(o.status.code(), Some(0), "{key}");
        let recs = json_lines(&o);
        assert!(
            recs.iter().all(|v| v["correlation_id"] == id.as_str()),
            "{recs:#?}"
        );
        let messages: Vec<_> = recs
            .iter()
            .map(|v| v["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            messages,
            ["looking up session", "session check failed", "login failed"],
            "{key}"
        );
        assert_eq!(recs[2]["stream"], "audit");
        assert_eq!(recs[2]["seq"], seq);
        let ts: Vec<_> = recs
            .iter()
            .map(|v| v["ts"].as_str().unwrap().to_owned())
            .collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "time order");
    }
    let o = tool(&[
        "correlate",
        "--audit",
        audit.to_str().unwrap(),
        "--debug",
        debug.to_str().unwrap(),
        "no-such-id",
    ]);
    assert_eq!(o.status.code(), Some(1));
}
