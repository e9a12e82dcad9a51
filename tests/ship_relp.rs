//! Shipping the audit trail to a real rsyslogd over RELP: what arrives is what was written.

mod ship_support;

use ship_support::{local_records, write_trail, Input, Rsyslog};
use std::time::Duration;
use tracing_audit::ship::{Destination, Shipper};
use tracing_audit::verify::{verify_received, Keys};

fn relp(port: u16) -> Destination {
    format!("relp://127.0.0.1:{port}").parse().unwrap()
}

#[test]
fn hundred_thousand_audit_records_arrive_byte_identical_and_the_central_copy_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    write_trail(&trail, 100_000, 8 << 20);
    let written = local_records(&trail);
    assert_eq!(
        ship_support::lines(&written),
        100_000 + written_control_lines(&written)
    );

    let central = Rsyslog::start(&tmp.path().join("central"), Input::Relp, 64 * 1024);
    let started = std::time::Instant::now();
    let health = ship_support::until_idle(
        Shipper::new(&trail, relp(central.port)).poll_interval(Duration::from_millis(20)),
        Duration::from_secs(90),
        &central,
    );
    eprintln!("shipped in {:?}: {health:?}", started.elapsed());
    assert_eq!(
        health.acknowledged as usize,
        ship_support::lines(&written),
        "{health:?}"
    );
    assert_eq!(
        (health.resent, health.refused_oversize, health.lag_records),
        (0, 0, 0)
    );

    let received =
        central.wait_for_bytes(&central.audit_log(), written.len(), Duration::from_secs(30));
    assert!(received == written, "rsyslog's file differs from the trail");
    let report = verify_received(&central.audit_log(), &Keys::from(ship_support::key())).unwrap();
    assert!(report.intact(), "{:?}", report.problems());
    assert_eq!(report.duplicates(), 0);
    assert_eq!(report.records() as usize, ship_support::lines(&written));

    // Shipping again from the saved cursor sends nothing.
    let again = Shipper::new(&trail, relp(central.port))
        .run_until_idle()
        .unwrap();
    assert_eq!(again.shipped, 0, "{again:?}");
}

/// Seals, checkpoints and the genesis record are chained records too.
fn written_control_lines(written: &[u8]) -> usize {
    written
        .split(|&b| b == b'\n')
        .filter(|l| l.windows(10).any(|w| w == b"\"record\":\""))
        .count()
}

fn quick(trail: &std::path::Path, port: u16) -> Shipper {
    Shipper::new(trail, relp(port))
        .poll_interval(Duration::from_millis(20))
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(2))
        .ack_timeout(Duration::from_secs(5))
}

#[test]
fn rsyslogd_killed_mid_stream_and_restarted_every_record_arrives_duplicates_within_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    write_trail(&trail, 30_000, 1 << 20);
    let written = local_records(&trail);
    let total = ship_support::lines(&written) as u64;

    let mut central = Rsyslog::start(&tmp.path().join("central"), Input::Relp, 64 * 1024);
    // A small window makes the kill land while acknowledgements are pending.
    let shipper = quick(&trail, central.port).window(32).spawn().unwrap();
    ship_support::wait_until(
        Duration::from_secs(60),
        || shipper.health().acknowledged > 5_000,
        || format!("{:?}", shipper.health()),
    );
    central.crash();
    let at_crash = shipper.health().acknowledged;
    assert!(at_crash < total, "the kill came too late to be mid-stream");
    central.spawn();
    ship_support::wait_until(
        Duration::from_secs(60),
        || shipper.health().acknowledged == total,
        || format!("{:?}\nrsyslogd:\n{}", shipper.health(), central.stderr()),
    );
    let health = shipper.shutdown(Duration::from_secs(5));
    assert!(health.sessions >= 2, "{health:?}");

    let received =
        central.wait_for_bytes(&central.audit_log(), written.len(), Duration::from_secs(30));
    let report = verify_received(&central.audit_log(), &Keys::from(ship_support::key())).unwrap();
    assert!(report.intact(), "{:?}", report.problems());
    assert_eq!(report.records(), total);
    assert!(
        report.duplicates() <= 32,
        "{} duplicates for a window of 32",
        report.duplicates()
    );
    assert_eq!(
        received.len(),
        written.len() + (received.len() - written.len()),
        "only duplicates added"
    );
    eprintln!(
        "acknowledged at the crash: {at_crash}, resent: {}, duplicates received: {}",
        health.resent,
        report.duplicates()
    );
}

#[test]
fn rsyslogd_down_at_start_records_pile_up_retention_keeps_them_and_they_drain_later() {
    use tracing_audit::sink::{FileSink, Retention};
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    let cursor = trail.join(tracing_audit::ship::DEFAULT_CURSOR);
    let mut central = Rsyslog::configure(
        &tmp.path().join("central"),
        Input::Relp,
        64 * 1024,
        ship_support::free_port(),
    );
    std::fs::create_dir_all(&trail).unwrap();
    let shipper = quick(&trail, central.port).spawn().unwrap();
    // Retention would keep two files; none may go before it is shipped.
    let sink = || {
        FileSink::new(&trail)
            .max_file_size(32 << 10)
            .retention(Retention::keep_all().max_files(2).keep_unshipped(&cursor))
    };
    ship_support::write_trail_with(sink(), 0..3_000);
    let files = || {
        std::fs::read_dir(&trail)
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name().into_string().unwrap();
                // Data files only: each closed one also has its search index.
                n.starts_with("audit.2") && n.contains(".jsonl") && !n.ends_with(".idx")
            })
            .count()
    };
    let piled = files();
    assert!(piled > 10, "only {piled} files");
    ship_support::wait_until(
        Duration::from_secs(10),
        || shipper.health().lag_records >= 3_000,
        || format!("{:?}", shipper.health()),
    );
    let h = shipper.health();
    assert!(!h.connected && h.errors > 0 && h.acknowledged == 0, "{h:?}");
    assert!(h.lag_bytes > 0, "{h:?}");
    assert!(
        h.last_error
            .as_deref()
            .unwrap_or("")
            .contains("cannot connect"),
        "{h:?}"
    );

    central.spawn();
    let written = local_records(&trail);
    let total = ship_support::lines(&written) as u64;
    ship_support::wait_until(
        Duration::from_secs(60),
        || shipper.health().acknowledged == total,
        || format!("{:?}", shipper.health()),
    );
    let h = shipper.shutdown(Duration::from_secs(5));
    assert_eq!((h.lag_records, h.lag_bytes), (0, 0), "{h:?}");
    let received =
        central.wait_for_bytes(&central.audit_log(), written.len(), Duration::from_secs(30));
    assert!(received == written);
    let report = verify_received(&central.audit_log(), &Keys::from(ship_support::key())).unwrap();
    assert!(report.intact(), "{:?}", report.problems());

    // Once shipped, retention deletes again.
    ship_support::write_trail_with(sink(), 3_000..3_100);
    assert!(files() <= 2, "{} files left after shipping", files());
}

#[test]
fn a_record_over_the_receivers_limit_is_refused_counted_and_never_truncated() {
    use tracing_audit::sink::FileSink;
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    // Under the layer's cap on one value (16 KiB) and on one record (60 KiB, which keeps
    // records under the shipper's default limit), over a receiver limited to 32 KiB.
    let big = "x".repeat(15_000);
    ship_support::write_events(FileSink::new(&trail), || {
        tracing::info!(target: "audit", action = "before");
        let b = big.as_str();
        tracing::info!(target: "audit", action = "upload", a = b, b = b, c = b, d = b, e = b, f = b);
        tracing::info!(target: "audit", action = "after");
    });
    let written = local_records(&trail);
    let central = Rsyslog::start(&tmp.path().join("central"), Input::Relp, 32 * 1024);
    let h = ship_support::until_idle(
        quick(&trail, central.port).max_message_size(32 * 1024),
        Duration::from_secs(30),
        &central,
    );
    assert_eq!(h.refused_oversize, 1, "{h:?}");
    let err = h.last_error.unwrap_or_default();
    assert!(
        err.contains("over the receiver's limit") && err.contains("never truncated"),
        "{err}"
    );

    let lines = ship_support::lines(&written);
    let expected: Vec<&[u8]> = written
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l.len() < 32 * 1024)
        .collect();
    assert_eq!(expected.len(), lines - 1);
    let want: usize = expected.iter().map(|l| l.len() + 1).sum();
    let received = central.wait_for_bytes(&central.audit_log(), want, Duration::from_secs(30));
    let got: Vec<&[u8]> = received
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        got, expected,
        "everything but the refused record, unchanged"
    );
    // The central copy shows the hole: reported, not silent.
    let report = verify_received(&central.audit_log(), &Keys::from(ship_support::key())).unwrap();
    let kinds: Vec<_> = report.problems().iter().map(|p| p.kind()).collect();
    assert_eq!(kinds, [tracing_audit::verify::ProblemKind::Deleted]);
}
