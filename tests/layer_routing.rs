//! Routing: audit events only in the audit stream, debug events only in the debug stream, both
//! carrying their span context.

mod support;

use serde_json::json;
use support::Harness;
use tracing::{info, info_span, instrument, Level};

#[instrument(fields(request_id = "req-1", user = "alice"))]
fn handle_request() {
    info!(target: "audit", actor = "alice", action = "read", resource = "/reports/q3", outcome = "success", "report read");
    tracing::debug!(rows = 42, "query done");
}

#[test]
fn audit_events_land_only_in_audit_output_with_their_span_fields() {
    let mut h = Harness::new(|b| b);
    h.run(handle_request);
    let audit = h.audit_records();
    let debug = h.debug.records();

    assert_eq!(audit.len(), 1, "{audit:?}");
    let a = &audit[0];
    assert_eq!(a["stream"], "audit");
    assert_eq!(a["actor"], "alice");
    assert_eq!(a["action"], "read");
    assert_eq!(a["resource"], "/reports/q3");
    assert_eq!(a["outcome"], "success");
    assert_eq!(a["message"], "report read");
    assert_eq!(a["spans"][0]["name"], "handle_request");
    assert_eq!(a["spans"][0]["fields"]["request_id"], "req-1");
    assert!(a.get("schema_violation").is_none());

    assert_eq!(debug.len(), 1, "{debug:?}");
    let d = &debug[0];
    assert_eq!(d["stream"], "debug");
    assert_eq!(d["fields"]["rows"], 42);
    assert_eq!(d["spans"][0]["fields"]["user"], "alice");
    assert!(!h.audit.text().contains("query done"));
    assert!(!h.debug.text().contains("report read"));
}

#[test]
fn one_requests_audit_and_debug_records_share_a_correlation_id() {
    let mut h = Harness::new(|b| b);
    h.run(|| {
        handle_request();
        handle_request();
    });
    let audit = h.audit_records();
    let debug = h.debug.records();
    let a0 = audit[0]["correlation_id"].as_str().unwrap();
    let a1 = audit[1]["correlation_id"].as_str().unwrap();
    assert_eq!(a0.len(), 16);
    assert_ne!(a0, a1, "two requests, two ids");
    assert_eq!(debug[0]["correlation_id"], a0);
    assert_eq!(debug[1]["correlation_id"], a1);
}

#[test]
fn explicit_parent_is_honoured() {
    let mut h = Harness::new(|b| b);
    h.run(|| {
        let request = info_span!("request", request_id = "r-explicit");
        let _other = info_span!("unrelated", x = 1).entered();
        info!(target: "audit", parent: &request, actor = "bob", action = "login", outcome = "denied");
    });
    let audit = h.audit_records();
    assert_eq!(
        audit[0]["spans"],
        json!([{"name": "request", "fields": {"request_id": "r-explicit"}}])
    );
}

#[test]
fn span_chain_is_written_root_to_leaf() {
    let mut h = Harness::new(|b| b);
    h.run(|| {
        let _a = info_span!("outer", o = 1).entered();
        let _b = info_span!("inner", i = 2).entered();
        tracing::warn!("nested");
    });
    let debug = h.debug_records();
    let names: Vec<_> = debug[0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("outer"), json!("inner")]);
}

#[test]
fn marker_field_and_target_patterns_route_to_audit() {
    let mut h = Harness::new(|b| b);
    h.run(|| {
        info!(
            audit = true,
            actor = "a",
            action = "x",
            outcome = "success",
            "by marker"
        );
        info!(target: "billing::audit", actor = "a", action = "y", outcome = "success");
        info!(target: "audit::admin", actor = "a", action = "z", outcome = "success");
        info!(target: "auditor", "not audit");
    });
    let audit = h.audit_records();
    let actions: Vec<_> = audit.iter().map(|r| r["action"].clone()).collect();
    assert_eq!(actions, vec![json!("x"), json!("y"), json!("z")]);
    assert!(
        audit[0]["fields"].get("audit").is_none(),
        "marker is not written"
    );
    assert_eq!(h.debug.records().len(), 1);
}

#[test]
fn custom_predicate_routes_by_metadata() {
    let mut h = Harness::new(|b| {
        b.route_by(|m| {
            m.target()
                .starts_with("security")
                .then_some(tracing_audit::Stream::Audit)
        })
    });
    h.run(|| info!(target: "security::authz", actor = "a", action = "grant", outcome = "success"));
    assert_eq!(h.audit_records().len(), 1);
}

#[test]
fn audit_event_missing_required_fields_is_written_marked_and_counted() {
    let mut h = Harness::new(|b| b);
    h.run(|| info!(target: "audit", action = "export"));
    let handle = h.handle.clone();
    let audit = h.audit_records();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["schema_violation"], json!(["actor", "outcome"]));
    assert_eq!(handle.schema_violations(), 1);
}

#[test]
fn audit_event_takes_actor_from_its_request_span() {
    let mut h = Harness::new(|b| b);
    h.run(|| {
        let _s = info_span!("request", actor = "carol", src_ip = "10.1.2.3").entered();
        info!(target: "audit", action = "read", outcome = "success");
    });
    let audit = h.audit_records();
    assert_eq!(audit[0]["actor"], "carol");
    assert_eq!(
        audit[0]["src_ip"], "10.1.2.3",
        "src_ip is kept verbatim in audit records"
    );
    assert!(audit[0].get("schema_violation").is_none());
}

#[test]
fn log_records_route_by_their_real_target() {
    let mut h = Harness::new(|b| b);
    h.run(|| {
        let logger = tracing_log::LogTracer::new();
        use log::Log;
        logger.log(
            &log::Record::builder()
                .target("audit")
                .level(log::Level::Info)
                .args(format_args!("login via log"))
                .build(),
        );
        logger.log(
            &log::Record::builder()
                .target("legacy::db")
                .level(log::Level::Info)
                .args(format_args!("db via log"))
                .build(),
        );
    });
    let audit = h.audit_records();
    let debug = h.debug.records();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["message"], "login via log");
    assert_eq!(audit[0]["target"], "audit");
    assert!(audit[0]["fields"].get("log.target").is_none());
    assert_eq!(debug.len(), 1);
    assert_eq!(debug[0]["target"], "legacy::db");
}

#[test]
fn layer_composes_with_a_sibling_fmt_layer_without_filtering_it() {
    let sibling = support::Capture::default();
    let sib = sibling.clone();
    let mut h = Harness::with_registry(
        |b| b.debug_filter("off"),
        move |layer| {
            use tracing_subscriber::prelude::*;
            tracing::Dispatch::new(
                tracing_subscriber::registry().with(layer).with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(sib)
                        .with_ansi(false),
                ),
            )
        },
    );
    h.run(|| {
        tracing::debug!("only the sibling wants this");
        info!(target: "audit", actor = "a", action = "b", outcome = "success");
    });
    assert_eq!(h.audit_records().len(), 1);
    assert!(h.debug.records().is_empty());
    assert!(sibling.text().contains("only the sibling wants this"));
}

#[test]
fn two_layers_in_one_registry_do_not_collide() {
    let first = (support::Capture::default(), support::Capture::default());
    let (l1, g1) = tracing_audit::layer::AuditLayer::builder()
        .audit_to(first.0.clone())
        .debug_to(first.1.clone())
        .debug_filter("trace")
        .build()
        .unwrap();
    let mut h = Harness::with_registry(
        |b| b,
        move |layer| {
            use tracing_subscriber::prelude::*;
            tracing::Dispatch::new(tracing_subscriber::registry().with(layer).with(l1))
        },
    );
    h.run(|| {
        let _s = info_span!("request", id = 7).entered();
        info!(target: "audit", actor = "a", action = "b", outcome = "success");
    });
    drop(g1);
    let a = h.audit_records();
    let b: Vec<_> = first
        .0
        .records()
        .into_iter()
        .filter(|r| r.get("record").is_none())
        .collect();
    assert_eq!(a[0]["spans"][0]["fields"]["id"], 7);
    assert_eq!(b[0]["spans"][0]["fields"]["id"], 7);
}

#[test]
fn audit_events_below_the_audit_floor_are_not_audit_records() {
    let mut h = Harness::new(|b| b.audit(|a| a.level(Level::WARN)));
    h.run(|| {
        info!(target: "audit", actor = "a", action = "info-level", outcome = "success");
        tracing::warn!(target: "audit", actor = "a", action = "warn-level", outcome = "success");
    });
    let audit = h.audit_records();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["action"], "warn-level");
}

#[test]
fn span_and_field_directives_of_the_debug_filter_still_apply() {
    // The layer skips the debug filter's span hooks when it has no span directives; with them,
    // a debug event is kept only inside a matching span.
    let mut h = Harness::new(|b| b.debug_filter("warn,[checkout]=debug,[cart{items=3}]=debug"));
    h.run(|| {
        for (name, items) in [("checkout", 1u64), ("browse", 1), ("cart", 3), ("cart", 4)] {
            let span = match name {
                "checkout" => tracing::info_span!("checkout", items),
                "browse" => tracing::info_span!("browse", items),
                _ => tracing::info_span!("cart", items),
            };
            let _entered = span.enter();
            tracing::debug!(step = name, items, "step");
        }
        tracing::debug!(step = "outside", "no span");
    });
    h.finish();
    let kept: Vec<_> = h
        .debug
        .records()
        .iter()
        .map(|r| (r["fields"]["step"].clone(), r["fields"]["items"].clone()))
        .collect();
    assert_eq!(
        kept,
        vec![(json!("checkout"), json!(1)), (json!("cart"), json!(3))]
    );
}

#[test]
fn invalid_debug_filter_is_a_build_error_with_context() {
    let err = tracing_audit::layer::AuditLayer::builder()
        .audit_to(support::Capture::default())
        .debug_to(support::Capture::default())
        .debug_filter("my_app=notalevel")
        .build::<tracing_subscriber::Registry>()
        .unwrap_err();
    assert!(err.to_string().contains("invalid debug filter"), "{err}");
}

#[test]
fn missing_destination_is_a_build_error() {
    let err = tracing_audit::layer::AuditLayer::builder()
        .debug_to(support::Capture::default())
        .build::<tracing_subscriber::Registry>()
        .unwrap_err();
    assert!(err.to_string().contains("no audit destination"), "{err}");
}

#[test]
fn the_debug_filter_may_be_a_ready_env_filter_and_never_touches_audit() {
    let mut h = Harness::new(|b| b.debug_filter(tracing_subscriber::EnvFilter::new("warn")));
    h.run(|| {
        info!(target: "audit", actor = "alice", action = "read", outcome = "success");
        info!("an info event the filter hides");
        tracing::warn!("a warning it keeps");
    });
    assert_eq!(h.audit_records().len(), 1);
    let debug = h.debug.records();
    assert_eq!(debug.len(), 1, "{debug:?}");
    assert_eq!(debug[0]["level"], "WARN");
}
