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
    let health = Shipper::new(&trail, relp(central.port))
        .poll_interval(Duration::from_millis(20))
        .run_until_idle()
        .unwrap();
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
