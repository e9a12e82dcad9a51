//! `tracing-audit verify` run as a process on real trails.

mod chain_support;

use chain_support::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .expect("run tracing-audit")
}

fn key_file(dir: &Path) -> String {
    let p = dir.join("chain.key");
    fs::write(&p, b"integration test chain key\n").unwrap();
    p.to_string_lossy().into_owned()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn verify_exits_zero_and_says_ok_for_an_intact_trail() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..40, 4096);
    let d = dir.path().to_str().unwrap();
    let o = tool(&[
        "verify",
        d,
        "--key-file",
        &key_file(keys.path()),
        "--key-id",
        "k1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("OK: "), "{}", text(&o));
    assert!(
        o.stderr.is_empty(),
        "quiet when piped: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn verify_reports_file_line_and_seq_and_exits_with_the_class_code() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..40, 4096);
    let files = trail_files(dir.path());
    let mut lines = read_lines(&files[1]);
    let s = String::from_utf8(lines[2].clone())
        .unwrap()
        .replace("\"read\"", "\"wipe\"");
    lines[2] = s.into_bytes();
    write_lines(&files[1], &lines);
    let d = dir.path().to_str().unwrap();
    let kf = key_file(keys.path());
    let o = tool(&["verify", d, "--key-file", &kf]);
    assert_eq!(o.status.code(), Some(10), "{}", text(&o));
    let name = files[1].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        text(&o).contains(&format!("modified {name}:3 seq ")),
        "{}",
        text(&o)
    );

    let o = tool(&["verify", d, "--key-file", &kf, "--json"]);
    assert_eq!(o.status.code(), Some(10));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["intact"], false);
    assert_eq!(v["problems"][0]["kind"], "modified");
    assert_eq!(v["problems"][0]["file"], name.as_str());
    assert_eq!(v["problems"][0]["line"], 3);
    assert!(v["problems"][0]["seq"].is_u64());
}

#[test]
fn verify_without_the_key_is_unverifiable_and_a_bad_dir_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..10, 4096);
    let o = tool(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(19), "{}", text(&o));
    let o = tool(&["verify", dir.path().join("nope").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot list"));
}

#[test]
fn verify_with_an_off_host_checkpoint_detects_a_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..40, 4096);
    let shipped = keys.path().join("shipped.checkpoint");
    fs::copy(dir.path().join("audit.checkpoint"), &shipped).unwrap();
    // The attacker cuts the end and removes the local side file. (Whether the local trail still
    // shows that depends on which checkpoint records the cut left behind: a missing side file is
    // reported whenever the trail holds one. The off-host copy shows it in every case.)
    let newest = trail_files(dir.path()).pop().unwrap();
    let lines = read_lines(&newest);
    let keep: Vec<_> = lines[..lines.len() - 3].to_vec();
    write_lines(&newest, &keep);
    fs::remove_file(dir.path().join("audit.checkpoint")).unwrap();
    let d = dir.path().to_str().unwrap();
    let kf = key_file(keys.path());
    let o = tool(&[
        "verify",
        d,
        "--key-file",
        &kf,
        "--checkpoint",
        shipped.to_str().unwrap(),
    ]);
    assert!(
        matches!(o.status.code(), Some(10..=23)),
        "a problem found: {}",
        text(&o)
    );
    assert!(text(&o).contains("truncated"), "{}", text(&o));
}

#[test]
fn verify_exit_codes_name_the_class_of_problem() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..60, 4096);
    let files = trail_files(dir.path());
    assert!(files.len() >= 3);
    let d = dir.path().to_str().unwrap();
    let kf = key_file(keys.path());
    // A duplicated line: 14.
    let mut lines = read_lines(&files[0]);
    lines.insert(3, lines[2].clone());
    write_lines(&files[0], &lines);
    let o = tool(&["verify", d, "--key-file", &kf]);
    assert_eq!(o.status.code(), Some(14), "{}", text(&o));
    lines.remove(3);
    write_lines(&files[0], &lines);
    // A file missing in the middle: 15.
    fs::remove_file(&files[1]).unwrap();
    let o = tool(&["verify", d, "--key-file", &kf]);
    assert_eq!(o.status.code(), Some(15), "{}", text(&o));
    assert!(text(&o).contains("missing_file"), "{}", text(&o));
    // Bad arguments: 2.
    assert_eq!(tool(&["verify"]).status.code(), Some(2));
}

#[test]
fn an_error_and_its_causes_are_printed_once_each() {
    let o = tool(&["verify", "/nonexistent/tracing-audit-trail"]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the OS error once: {err}"
    );
    assert!(err.contains("/nonexistent/tracing-audit-trail"), "{err}");
}

#[test]
fn keygen_then_verify_with_the_public_key_alone() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let state = keys.path().join("audit.signing");
    let o = tool(&["keygen", "--state", state.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let pk = text(&o);
    assert!(
        pk.starts_with("ed25519:") && pk.lines().count() == 1,
        "{pk}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&state).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = tool(&["keygen", "--state", state.to_str().unwrap()]);
    assert_eq!(
        again.status.code(),
        Some(3),
        "an existing state is never overwritten"
    );
    let pk_file = keys.path().join("audit.pk0");
    fs::write(&pk_file, &pk).unwrap();
    let chain = tracing_audit::chain::ChainConfig::new()
        .signing(tracing_audit::chain::SigningState::load(&state).unwrap());
    write_trail(dir.path(), chain, 0..20, 64 * 1024);
    let d = dir.path().to_str().unwrap();
    let o = tool(&[
        "verify",
        d,
        "--public-key",
        pk_file.to_str().unwrap(),
        "--expect-current",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("verified by 1 epoch seals"),
        "{}",
        text(&o)
    );
    // An unsigned trail with the same public key: unverifiable.
    let plain = tempfile::tempdir().unwrap();
    write_trail(plain.path(), keyed(), 0..5, 64 * 1024);
    let o = tool(&[
        "verify",
        plain.path().to_str().unwrap(),
        "--key-file",
        &key_file(keys.path()),
        "--public-key",
        pk_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(19), "{}", text(&o));
}
