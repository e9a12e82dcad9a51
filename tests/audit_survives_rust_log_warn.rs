//! `RUST_LOG=warn` (the default debug filter source) and a debug filter of `off` must not remove
//! a single INFO audit event. One test per binary: it sets a process-wide variable.

mod support;

use support::Harness;
use tracing::info;

#[test]
fn audit_events_survive_rust_log_warn_and_debug_filter_off() {
    std::env::set_var("RUST_LOG", "warn");

    // Default configuration: the debug stream reads RUST_LOG.
    let mut from_env =
        Harness::new(|b| b.debug_filter(tracing_audit::layer::DebugFilter::from_env("RUST_LOG")));
    from_env.run(|| {
        for i in 0..100 {
            let _request = tracing::info_span!("request", request_id = i).entered();
            info!(target: "audit", actor = "alice", action = "read", outcome = "success", i);
            info!("an info debug event RUST_LOG=warn hides");
            tracing::warn!("a warning it keeps");
        }
    });
    let audit = from_env.audit_records();
    assert_eq!(audit.len(), 100);
    assert!(audit
        .iter()
        .enumerate()
        .all(|(i, r)| r["spans"][0]["fields"]["request_id"] == i));
    let debug = from_env.debug.records();
    assert_eq!(debug.len(), 100, "only the warnings");
    assert!(debug.iter().all(|r| r["level"] == "WARN"));

    // And with the debug stream switched off entirely.
    let mut off = Harness::new(|b| b.debug_filter("off"));
    off.run(|| {
        for _ in 0..100 {
            info!(target: "audit", actor = "alice", action = "read", outcome = "success");
            tracing::error!("not even errors reach the debug stream");
        }
    });
    assert_eq!(off.audit_records().len(), 100);
    assert!(off.debug.records().is_empty());
}
