//! The `tracing-audit ship` sidecar as a real process, and `verify --received`.

mod ship_support;

use ship_support::{local_records, write_trail, Input, Rsyslog};
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
}

#[test]
fn the_shipping_process_killed_mid_stream_resumes_from_its_cursor_and_nothing_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    write_trail(&trail, 30_000, 1 << 20);
    let written = local_records(&trail);
    let total = ship_support::lines(&written);
    let key_file = tmp.path().join("chain.key");
    std::fs::write(&key_file, b"shipping test chain key").unwrap();
    let state = tmp.path().join("ship.state");
    let central = Rsyslog::start(&tmp.path().join("central"), Input::Relp, 64 * 1024);
    let to = format!("relp://127.0.0.1:{}", central.port);

    let mut child = bin()
        .args(["ship", "--dir"])
        .arg(&trail)
        .args(["--to", &to, "--state"])
        .arg(&state)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Mid-stream, deterministically: once records arrive, the receiver stops answering, so the
    // shipper stalls with a window in flight; it saves its cursor within a second; then it is
    // killed.
    ship_support::wait_until(
        Duration::from_secs(60),
        || std::fs::metadata(central.audit_log()).is_ok_and(|m| m.len() > 0),
        || format!("no progress; rsyslogd:\n{}", central.stderr()),
    );
    central.freeze(true);
    ship_support::wait_until(
        Duration::from_secs(30),
        || state.exists(),
        || "the shipper saved no cursor".to_owned(),
    );
    // SAFETY: killing the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    central.freeze(false);
    let at_kill = std::fs::metadata(central.audit_log()).unwrap().len();
    assert!(
        at_kill < written.len() as u64,
        "the kill came too late to be mid-stream"
    );
    let cursor = std::fs::read_to_string(&state).unwrap();
    assert!(cursor.contains("\"audit\""), "{cursor}");

    let out = bin()
        .args(["ship", "--until-idle", "--dir"])
        .arg(&trail)
        .args(["--to", &to, "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    central.wait_for_bytes(&central.audit_log(), written.len(), Duration::from_secs(30));

    let out = bin()
        .args(["verify", "--json", "--key-file"])
        .arg(&key_file)
        .arg("--received")
        .arg(central.audit_log())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["records"], total as u64, "{report}");
    // What the killed process had sent but not yet recorded in its cursor came again; at most
    // one cursor interval's worth plus the window.
    let dups = report["duplicates"].as_u64().unwrap();
    eprintln!("duplicates after the shipper's SIGKILL: {dups}");
    assert!(dups < total as u64 / 2, "{report}");
}

#[test]
fn verify_received_reports_a_lost_record_with_its_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    write_trail(&trail, 20, 1 << 20);
    let written = local_records(&trail);
    let mut lines: Vec<&[u8]> = written
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    lines.remove(7);
    let received = tmp.path().join("received.log");
    std::fs::write(&received, [lines.join(&b'\n'), b"\n".to_vec()].concat()).unwrap();
    let out = bin()
        .args(["verify", "--key-file"])
        .arg(tmp.path().join("k"))
        .arg("--received")
        .arg(&received)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "a missing key file is an error");
    std::fs::write(tmp.path().join("k"), b"shipping test chain key").unwrap();
    let out = bin()
        .args(["verify", "--key-file"])
        .arg(tmp.path().join("k"))
        .arg("--received")
        .arg(&received)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(12), "{text}");
    assert!(
        text.contains("deleted") && text.contains("NOT INTACT"),
        "{text}"
    );
}
