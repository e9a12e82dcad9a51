//! SIGTERM to a real `tracing-audit ship` process, following and `--until-idle`, against hostile
//! receivers: it ends within the drain time, prints the health line, saves the cursor at the
//! last acknowledged record and exits with the documented code (never killed by the signal).

mod ship_hostile;
mod ship_support;

use ship_hostile::Then;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ship(trail: &Path, to: &str, state: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(["ship", "--prefix", "audit", "--dir"])
        .arg(trail)
        .args(["--to", to, "--state"])
        .arg(state)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGTERM, then waits up to 20 s (SIGKILL after that); returns the output and how long the
/// process took to end after the signal.
fn terminate(mut child: Child) -> (Output, Duration) {
    let started = Instant::now();
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    (child.wait_with_output().unwrap(), took)
}

fn trail(dir: &Path, n: usize) -> std::path::PathBuf {
    let trail = dir.join("trail");
    ship_support::write_trail(&trail, n, 64 << 20);
    trail
}

fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    ship_support::wait_until(Duration::from_secs(30), cond, || what.to_owned());
}

/// The drain time the docs promise (and `--drain`'s default).
const DRAIN: Duration = Duration::from_secs(5);

#[test]
fn sigterm_while_the_receiver_never_answers_open_ends_within_the_drain_time() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = trail(tmp.path(), 50);
    let state = tmp.path().join("ship.cursor");
    let server = ship_hostile::silent();
    let to = format!("relp://127.0.0.1:{}", server.port);
    let child = ship(&trail, &to, &state, &[]);
    wait_for("a connection", || server.accepted() > 0);
    std::thread::sleep(Duration::from_millis(300));
    let (out, took) = terminate(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < DRAIN, "SIGTERM took {took:?}; {stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("tracing-audit ship: audit: 0 acknowledged"),
        "{stderr}"
    );
}

#[test]
fn sigterm_to_until_idle_saves_the_cursor_at_the_last_acknowledged_record() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = trail(tmp.path(), 1000);
    let state = tmp.path().join("ship.cursor");
    // Acknowledges 100 messages, then reads on in silence.
    let server = ship_hostile::relp(100, Then::Silent);
    let to = format!("relp://127.0.0.1:{}", server.port);
    let child = ship(&trail, &to, &state, &["--until-idle", "--drain", "2"]);
    wait_for("100 acknowledgements", || server.acked() == 100);
    std::thread::sleep(Duration::from_millis(300));
    let (out, took) = terminate(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        took < Duration::from_secs(2) + Duration::from_millis(1500),
        "SIGTERM took {took:?}; {stderr}"
    );
    assert_eq!(out.status.code(), Some(6), "stopped before idle; {stderr}");
    assert!(
        stderr.contains("tracing-audit ship: audit: 100 acknowledged"),
        "{stderr}"
    );
    // The cursor names the 100th record, by seq and MAC.
    let written = ship_support::local_records(&trail);
    let hundredth: serde_json::Value =
        serde_json::from_slice(written.split(|&b| b == b'\n').nth(99).unwrap()).unwrap();
    let cursor: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("cursor saved")).unwrap();
    assert_eq!(
        cursor["streams"]["audit"]["seq"], hundredth["seq"],
        "{cursor}"
    );
    assert_eq!(
        cursor["streams"]["audit"]["mac"], hundredth["mac"],
        "{cursor}"
    );
}

fn during_a_dripping_handshake(extra: &[&str], code: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let trail = trail(tmp.path(), 50);
    let state = tmp.path().join("ship.cursor");
    let ca = tmp.path().join("ca.pem");
    ship_hostile::ca_pem(&ca);
    let server = ship_hostile::dripping_tls(Duration::from_millis(500));
    let to = format!("syslog+tls://127.0.0.1:{}", server.port);
    let ca_arg = ca.to_str().unwrap();
    let mut args = vec!["--tls-ca", ca_arg, "--tls-handshake-timeout", "600"];
    args.extend_from_slice(extra);
    let child = ship(&trail, &to, &state, &args);
    wait_for("a connection", || server.accepted() > 0);
    std::thread::sleep(Duration::from_millis(1200));
    let (out, took) = terminate(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < DRAIN, "SIGTERM took {took:?}; {stderr}");
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(
        stderr.contains("tracing-audit ship: audit: 0 acknowledged"),
        "{stderr}"
    );
}

#[test]
fn sigterm_during_a_dripping_tls_handshake_ends_within_the_drain_time() {
    during_a_dripping_handshake(&[], 0);
}

#[test]
fn sigterm_to_until_idle_during_a_dripping_tls_handshake_ends_within_the_drain_time() {
    during_a_dripping_handshake(&["--until-idle"], 6);
}
