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

#[test]
fn the_quickstart_signs_by_default_and_any_record_can_be_proven() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    run_quickstart(root.path());
    let keys = root.path().join("keys");
    // Created on the first start: the secrets 0600, the public halves beside them.
    for (name, mode) in [
        ("audit.signing", 0o600),
        ("audit.logkey", 0o600),
        ("audit.pk0", 0o644),
        ("audit.logkey.pub", 0o644),
    ] {
        let meta = std::fs::metadata(keys.join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
    }
    let pk0 = std::fs::read_to_string(keys.join("audit.pk0")).unwrap();
    // A second start reuses them: the same trail, the same keys.
    run_quickstart(root.path());
    assert_eq!(
        std::fs::read_to_string(keys.join("audit.pk0")).unwrap(),
        pk0
    );

    let audit = root.path().join("audit");
    let (a, k) = (audit.to_str().unwrap(), keys.to_str().unwrap());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
            .args(args)
            .output()
            .unwrap()
    };
    let v = run(&[
        "verify",
        a,
        "--public-key",
        &format!("{k}/audit.pk0"),
        "--log-key",
        &format!("{k}/audit.logkey.pub"),
    ]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
    assert!(String::from_utf8_lossy(&v.stdout).contains("epoch seals"));
    let proof = root.path().join("p");
    let p = run(&["prove", a, "--seq", "3", "-o", proof.to_str().unwrap()]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let c = run(&[
        "check-proof",
        proof.to_str().unwrap(),
        "--log-key",
        &format!("{k}/audit.logkey.pub"),
    ]);
    assert_eq!(
        c.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&c.stderr)
    );
}
