//! Every wait of the shipper has a deadline, against hostile receivers on loopback: a TLS
//! server that drips its handshake, a RELP server that never answers `open`, one that breaks
//! the protocol right after `open` (the backoff must keep growing), and a stop asked for in the
//! middle of a handshake.

mod ship_hostile;
mod ship_support;

use ship_hostile::Then;
use std::path::Path;
use std::time::{Duration, Instant};
use tracing_audit::ship::{Destination, Shipper, ShipperHandle, Tls};

fn to(scheme: &str, port: u16) -> Destination {
    format!("{scheme}://127.0.0.1:{port}").parse().unwrap()
}

fn trail(dir: &Path) -> std::path::PathBuf {
    let trail = dir.join("trail");
    ship_support::write_trail(&trail, 50, 1 << 20);
    trail
}

/// Waits until the shipper's last error contains `what`; returns how long that took.
fn error_within(h: &ShipperHandle, what: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    ship_support::wait_until(
        limit,
        || h.health().last_error.is_some_and(|e| e.contains(what)),
        || format!("no error naming {what:?}: {:?}", h.health()),
    );
    started.elapsed()
}

#[test]
fn a_dripping_tls_handshake_ends_at_its_deadline_with_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = trail(tmp.path());
    let ca = tmp.path().join("ca.pem");
    ship_hostile::ca_pem(&ca);
    // One byte every 500 ms: no single read ever waits long enough to time out.
    let server = ship_hostile::dripping_tls(Duration::from_millis(500));
    let h = Shipper::new(&trail, to("syslog+tls", server.port))
        .tls(Tls::ca_file(&ca))
        .tls_handshake_timeout(Duration::from_secs(2))
        .backoff(Duration::from_secs(30), Duration::from_secs(30))
        .spawn()
        .unwrap();
    let took = error_within(
        &h,
        "TLS handshake deadline (2s) expired",
        Duration::from_secs(20),
    );
    eprintln!("the dripping handshake was abandoned after {took:?}");
    let health = h.stop(Duration::from_secs(5));
    assert_eq!(health.shipped, 0, "{health:?}");
}

#[test]
fn a_relp_server_that_never_answers_open_is_left_at_the_open_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = trail(tmp.path());
    let server = ship_hostile::silent();
    let h = Shipper::new(&trail, to("relp", server.port))
        .open_timeout(Duration::from_secs(2))
        .backoff(Duration::from_secs(30), Duration::from_secs(30))
        .spawn()
        .unwrap();
    let took = error_within(
        &h,
        "RELP open deadline (2s) expired",
        Duration::from_secs(20),
    );
    eprintln!("the silent open was abandoned after {took:?}");
    assert_eq!(server.accepted(), 1);
    drop(h);
}

#[test]
fn a_server_breaking_the_protocol_after_open_makes_the_backoff_grow_not_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = trail(tmp.path());
    // Accepts open, then answers the first message with garbage: every session fails at once.
    let server = ship_hostile::relp(0, Then::Garbage);
    let h = Shipper::new(&trail, to("relp", server.port))
        .backoff(Duration::from_millis(50), Duration::from_secs(60))
        .poll_interval(Duration::from_millis(10))
        .spawn()
        .unwrap();
    // 4 s: a backoff reset by every `open` reconnects every ~50 ms (dozens of sessions, each
    // resending the window); a growing one waits 50, 100, 200, 400, 800, 1600 ms.
    let window = Duration::from_secs(4);
    std::thread::sleep(window);
    let health = h.stop(Duration::ZERO);
    let sessions = server.accepted();
    eprintln!("{sessions} sessions in {window:?}: {health:?}");
    assert!(health.last_error.is_some_and(|e| e.contains("RELP")));
    assert!(
        (2..=9).contains(&sessions),
        "{sessions} sessions in {window:?}: the backoff did not grow"
    );
    assert!(health.resent <= 9 * 50, "{}", health.resent);
}

#[test]
fn a_stop_during_a_dripping_handshake_ends_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = trail(tmp.path());
    let ca = tmp.path().join("ca.pem");
    ship_hostile::ca_pem(&ca);
    let server = ship_hostile::dripping_tls(Duration::from_millis(500));
    let h = Shipper::new(&trail, to("relp", server.port))
        .tls(Tls::ca_file(&ca))
        .tls_handshake_timeout(Duration::from_secs(600))
        .spawn()
        .unwrap();
    ship_support::wait_until(
        Duration::from_secs(10),
        || server.accepted() > 0,
        || "no connection".to_owned(),
    );
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    let health = h.stop(Duration::from_secs(5));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    assert_eq!(health.shipped, 0);
}

#[test]
fn a_plain_syslog_receiver_that_closes_is_noticed_from_the_socket_and_everything_is_resent() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    ship_support::write_trail(&trail, 3000, 64 << 20);
    let total = ship_support::lines(&ship_support::local_records(&trail));
    // The first connection is closed after 64 KiB; later ones read everything.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&received);
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let mut conn = conn.unwrap();
            let sink = std::sync::Arc::clone(&sink);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                let mut got = 0;
                while let Ok(k) = conn.read(&mut buf) {
                    if k == 0 || (n == 0 && got >= 64 << 10) {
                        return;
                    }
                    got += k;
                    if n > 0 {
                        sink.lock().unwrap().extend_from_slice(&buf[..k]);
                    }
                }
            });
        }
    });
    let health = Shipper::new(&trail, to("syslog+tcp", port))
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .poll_interval(Duration::from_millis(10))
        .spawn_until_idle()
        .unwrap();
    ship_support::wait_until(
        Duration::from_secs(60),
        || health.is_finished(),
        || format!("not idle: {:?}", health.health()),
    );
    let h = health.stop(Duration::ZERO);
    assert!(h.sessions >= 2, "the close was not noticed: {h:?}");
    // Everything not known to be written before the close came again on the next session.
    let written = ship_support::local_records(&trail);
    let last = written[..written.len() - 1]
        .rsplit(|&b| b == b'\n')
        .next()
        .unwrap()
        .to_vec();
    ship_support::wait_until(
        Duration::from_secs(10),
        || memchr_find(&received.lock().unwrap(), &last),
        || format!("the last record never arrived: {h:?}, {total} records"),
    );
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
