//! `tracing-audit scrub` cleans lines from stdin with the layer's detectors.

use std::io::Write;
use std::process::{Command, Stdio};

fn scrub(args: &[&str], input: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .arg("scrub")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    String::from_utf8(o.stdout).unwrap()
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

#[test]
fn scrub_redacts_json_values_and_free_text_lines() {
    let input = format!(
        "{{\"ts\":\"2026-11-26T05:56:07.123456789Z\",\"message\":\"token {JWT} for alice@example.com\",\"n\":5}}\nplain text with {JWT}\n"
    );
    let out = scrub(&[], &input);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(!out.contains(JWT), "{out}");
    assert!(
        !out.contains("alice@example.com"),
        "debug defaults hide e-mail: {out}"
    );
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["n"], 5);
    assert_eq!(v["ts"], "2026-11-26T05:56:07.123456789Z");
    assert!(lines[1].starts_with("plain text with "), "{out}");
}

#[test]
fn scrub_hashes_with_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("k");
    std::fs::write(&kf, b"hash key\n").unwrap();
    let out = scrub(
        &["--stream", "debug", "--key-file", kf.to_str().unwrap()],
        "mail alice@example.com now\n",
    );
    let pseudonym =
        tracing_audit::redact::Pseudonymizer::new(b"hash key").pseudonym("alice@example.com");
    assert_eq!(out, format!("mail {pseudonym} now\n"));
    let keyless = scrub(&["--stream", "debug"], "mail alice@example.com now\n");
    assert!(!keyless.contains("alice@example.com"), "{keyless}");
    assert_ne!(
        out, keyless,
        "the key changes the replacement (a pseudonym instead of a mask)"
    );
}

#[test]
fn scrub_applies_field_rules_to_json_keys_and_keeps_each_record_on_one_line() {
    let input = "{\"user\":\"bob\",\"password\":\"hunter2\",\"cookie\":\"sid=s3cr3t\",\"note\":\"a\u{2028}b\u{85}c\u{7f}\"}\n";
    let out = scrub(&[], input);
    assert!(!out.contains("hunter2") && !out.contains("s3cr3t"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out:?}");
    for raw in ['\u{2028}', '\u{85}', '\u{7f}'] {
        assert!(!out.contains(raw), "{raw:?} unescaped: {out:?}");
    }
    let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
    assert_eq!(v["password"], "[REDACTED]");
    assert_eq!(v["note"], "a\u{2028}b\u{85}c\u{7f}");
}

#[test]
fn scrub_masks_a_private_key_spanning_lines() {
    let input = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDm\n-----END OPENSSH PRIVATE KEY-----\n";
    let out = scrub(&[], input);
    assert!(
        !out.contains("b3BlbnNzaC1rZXkt") && !out.contains("AAAAAAABAAAAMwAAAAtz"),
        "{out}"
    );
    assert!(out.contains("-----END OPENSSH PRIVATE KEY-----"), "{out}");
}
