//! `correlate` on the quickstart example's real output: the failed login's audit record with
//! the debug records of that request, and nothing from other requests.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::run_quickstart;

fn tool(args: &[&str]) -> Vec<serde_json::Value> {
    let o = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn correlate_on_quickstart_output_returns_the_failed_login_with_its_debug_records() {
    let root = tempfile::tempdir().unwrap();
    run_quickstart(root.path());
    let audit: PathBuf = root.path().join("audit");
    let debug: PathBuf = root.path().join("debug");
    let (a, d) = (audit.to_str().unwrap(), debug.to_str().unwrap());
    let failed = tool(&["query", a, "--action", "login", "--outcome", "denied"]);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let seq = failed[0]["seq"].as_u64().unwrap();
    let id = failed[0]["correlation_id"].as_str().unwrap().to_owned();

    let recs = tool(&[
        "correlate",
        "--audit",
        a,
        "--debug",
        d,
        &format!("seq:{seq}"),
    ]);
    assert!(
        recs.iter().all(|v| v["correlation_id"] == id.as_str()),
        "{recs:#?}"
    );
    let audit_recs: Vec<_> = recs.iter().filter(|v| v["stream"] == "audit").collect();
    assert_eq!(audit_recs.len(), 1, "{recs:#?}");
    assert_eq!(audit_recs[0]["seq"], seq);
    let debug_recs = recs.iter().filter(|v| v["stream"] == "debug").count();
    assert!(
        debug_recs >= 1,
        "the request's debug records are there: {recs:#?}"
    );
    // Nothing from the other requests: every debug record of this id and no other.
    let all_debug = tool(&["query", d]);
    let expected = all_debug
        .iter()
        .filter(|v| v["correlation_id"] == id.as_str())
        .count();
    assert_eq!(debug_recs, expected);
    assert!(
        all_debug.len() > expected,
        "other requests wrote debug records too"
    );
    let ts: Vec<&str> = recs.iter().map(|v| v["ts"].as_str().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "merged in time order");
}
