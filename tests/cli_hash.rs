//! `tracing-audit hash` prints the pseudonym the redactor writes.

use std::process::Command;
use tracing_audit::redact::Pseudonymizer;

#[test]
fn hash_prints_the_redactors_pseudonym() {
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("hash.key");
    std::fs::write(&kf, b"hash key\r\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args([
            "hash",
            "alice@example.com",
            "--key-file",
            kf.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let expect = Pseudonymizer::new(b"hash key").pseudonym("alice@example.com");
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim_end(), expect);
    let o = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(["hash", "alice@example.com"])
        .env("TRACING_AUDIT_HASH_KEY", "hash key")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim_end(), expect);
    let o = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(["hash", "x"])
        .env_remove("TRACING_AUDIT_HASH_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let o = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args([
            "hash",
            "x",
            "--key-file",
            dir.path().join("missing").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
}
