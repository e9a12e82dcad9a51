//! A filter in front of every layer must not empty the audit trail silently: `sync()` fails
//! naming the filtered callsite, health lists it, and `check_filters()` says so right after the
//! subscriber is assembled. A filter on a sibling layer is not a problem and is not reported.
//!
//! One binary: it sets `RUST_LOG` for the whole process (to `warn`, for every test in it).

mod support;

use support::Capture;
use tracing_audit::layer::{AuditGuard, AuditHandle, AuditLayer, SyncErrorKind};
use tracing_audit::Stream;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::prelude::*;

fn rust_log_warn() -> EnvFilter {
    std::env::set_var("RUST_LOG", "warn");
    EnvFilter::from_default_env()
}

/// A layer writing its audit stream to a capture; the subscriber is assembled by the test.
fn audit_layer<S>() -> (AuditLayer<S>, AuditGuard, AuditHandle, Capture) {
    let audit = Capture::default();
    let (layer, guard) = AuditLayer::builder()
        .audit_to(audit.clone())
        .debug_to(std::io::sink)
        .build()
        .unwrap();
    let handle = guard.handle();
    (layer, guard, handle, audit)
}

fn records(audit: &Capture) -> Vec<serde_json::Value> {
    audit
        .records()
        .into_iter()
        .filter(|r| r.get("record").is_none())
        .collect()
}

fn login_denied() {
    tracing::info!(target: "audit", actor = "alice", action = "login", outcome = "denied");
}

#[test]
fn a_global_env_filter_in_front_of_the_layer_makes_sync_fail_naming_the_callsite() {
    let (layer, guard, handle, audit) = audit_layer();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(rust_log_warn())
            .with(layer),
    );
    tracing::dispatcher::with_default(&dispatch, login_denied);

    let err = handle
        .sync()
        .expect_err("nothing was audited: sync must not say Ok");
    assert_eq!(err.kind(), SyncErrorKind::Filtered, "{err}");
    let named = err
        .filtered_callsites()
        .iter()
        .find(|c| {
            c.location
                .as_deref()
                .is_some_and(|l| l.contains("filter_trap.rs"))
        })
        .unwrap_or_else(|| panic!("the callsite is named: {err}"));
    assert_eq!(named.target, "audit");
    assert_eq!(named.level, tracing::Level::INFO);
    let message = err.to_string();
    assert!(message.contains("filter_trap.rs"), "{message}");
    assert!(
        message.contains("with_filter"),
        "says how to fix it: {message}"
    );

    let health = handle.health(Stream::Audit);
    assert!(
        health
            .filtered_callsites
            .iter()
            .any(|c| c.contains("filter_trap.rs")),
        "{health:?}"
    );
    assert!(handle.check_filters().is_err());
    drop(guard);
    assert!(records(&audit).is_empty(), "the filter did remove it");
}

#[test]
fn a_global_filter_outside_the_layer_is_found_by_the_probe_before_any_event() {
    // Here the filter is the outermost layer: the audit layer never even sees the callsites it
    // kills, so the layer's own probe event is what reveals it.
    let (layer, _guard, handle, _) = audit_layer();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(layer)
            .with(rust_log_warn()),
    );
    let err = handle
        .check_filters()
        .expect_err("RUST_LOG=warn kills INFO audit events");
    assert_eq!(err.kind(), SyncErrorKind::Filtered);
    assert!(err
        .filtered_callsites()
        .iter()
        .any(|c| c.target == "audit" && c.location.is_none()));
    tracing::dispatcher::with_default(&dispatch, login_denied);
    assert_eq!(handle.sync().unwrap_err().kind(), SyncErrorKind::Filtered);

    // A plain level filter in front does the same.
    let (layer, _guard, handle, _) = audit_layer();
    let _dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::WARN)
            .with(layer),
    );
    assert_eq!(
        handle.check_filters().unwrap_err().kind(),
        SyncErrorKind::Filtered
    );
}

#[test]
fn a_filter_on_a_sibling_layer_is_not_reported_and_the_record_is_written() {
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .with_filter(rust_log_warn());
    let (layer, guard, handle, audit) = audit_layer();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(console).with(layer));
    tracing::dispatcher::with_default(&dispatch, login_denied);
    handle
        .check_filters()
        .expect("nothing filters the audit layer");
    handle.sync().expect("the record is written");
    assert!(handle.health(Stream::Audit).filtered_callsites.is_empty());
    drop(guard);
    let audit = records(&audit);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["outcome"], "denied");
}
