//! Shipping in process: `AuditLayerBuilder::ship` starts a shipper next to the layer, on its own
//! thread; dropping the guard flushes the sinks, then ships what they wrote, to a real rsyslogd.

mod ship_support;

use ship_support::{local_records, Input, Rsyslog};
use std::time::Duration;
use tracing_audit::chain::ChainConfig;
use tracing_audit::ship::Shipper;
use tracing_audit::sink::FileSink;
use tracing_audit::verify::{verify_received, Keys};
use tracing_audit::{layer::AuditLayer, Stream};
use tracing_subscriber::prelude::*;

#[test]
fn a_shipper_given_to_the_builder_delivers_the_trail_when_the_guard_drops() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("audit");
    let central = Rsyslog::start(&tmp.path().join("central"), Input::Relp, 64 * 1024);
    let to = format!("relp://127.0.0.1:{}", central.port)
        .parse()
        .unwrap();

    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(&trail))
        .debug_to(std::io::sink)
        .chain(ChainConfig::new().key(ship_support::key()))
        .ship(
            Shipper::new(&trail, to)
                .stream(Stream::Audit)
                .poll_interval(Duration::from_millis(20)),
        )
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..500 {
            tracing::info!(target: "audit", actor = "alice", action = "read", resource = i, outcome = "success");
        }
    });
    guard.handle().sync().unwrap();
    assert_eq!(guard.shipping().len(), 1);
    drop(guard);

    let written = local_records(&trail);
    let received =
        central.wait_for_bytes(&central.audit_log(), written.len(), Duration::from_secs(30));
    assert!(received == written, "rsyslog's copy differs from the trail");
    let report = verify_received(&central.audit_log(), &Keys::from(ship_support::key())).unwrap();
    assert!(report.intact(), "{:?}", report.problems());
    assert!(report.records() >= 500);
}
