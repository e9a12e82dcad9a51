//! With a real tracing-opentelemetry layer and the real OpenTelemetry SDK, every record carries
//! the trace id and span id of its innermost span, equal to the ids the SDK exported; without
//! an OpenTelemetry layer records have neither key.

mod support;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::Value;
use support::Harness;
use tracing_audit::otel;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::prelude::*;

fn otel_harness() -> (Harness, SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("otel-ids-test");
    // The audit layer first, the OpenTelemetry layer on top: the order an application that adds
    // tracing-opentelemetry to an existing setup ends up with. (`otel_layer_below_audit_layer`
    // checks the other order.)
    let harness = Harness::with_registry(
        |b| b,
        |layer| {
            tracing::Dispatch::new(
                tracing_subscriber::registry()
                    .with(layer)
                    .with(otel::layer(tracer)),
            )
        },
    );
    (harness, provider, exporter)
}

fn exported(provider: &SdkTracerProvider, exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    provider.force_flush().expect("flush");
    exporter.get_finished_spans().expect("spans")
}

fn ids_of(spans: &[SpanData], name: &str) -> (String, String) {
    let s = spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("span {name} exported"));
    (
        format!("{:032x}", s.span_context.trace_id()),
        format!("{:016x}", s.span_context.span_id()),
    )
}

fn record_ids(r: &Value) -> (String, String) {
    (
        r["trace_id"].as_str().expect("trace_id").to_owned(),
        r["span_id"].as_str().expect("span_id").to_owned(),
    )
}

#[tracing::instrument(fields(request_id = 7))]
fn handle(user: &str) {
    tracing::debug!("loading");
    load(user);
}

#[tracing::instrument]
fn load(user: &str) {
    tracing::info!(target: "audit", actor = user, action = "read", resource = "/r", outcome = "success");
}

#[test]
fn records_carry_the_exported_ids_of_their_innermost_span_across_instrument() {
    let (mut h, provider, exporter) = otel_harness();
    h.run(|| handle("alice"));
    let audit = h.audit_records();
    let debug = h.debug_records();
    let spans = exported(&provider, &exporter);

    assert_eq!(audit.len(), 1);
    assert_eq!(record_ids(&audit[0]), ids_of(&spans, "load"));
    let loading = debug
        .iter()
        .find(|r| r["message"] == "loading")
        .expect("debug record");
    assert_eq!(record_ids(loading), ids_of(&spans, "handle"));
    // One trace: the child span's trace id is its parent's.
    assert_eq!(ids_of(&spans, "load").0, ids_of(&spans, "handle").0);
    assert_ne!(ids_of(&spans, "load").1, ids_of(&spans, "handle").1);
}

#[test]
fn nested_spans_each_give_their_own_span_id_and_share_the_trace_id() {
    let (mut h, provider, exporter) = otel_harness();
    h.run(|| {
        let outer = tracing::info_span!("outer");
        let _o = outer.enter();
        tracing::info!(target: "audit", actor = "a", action = "login", outcome = "success");
        {
            let _i = tracing::info_span!("inner").entered();
            tracing::info!(target: "audit", actor = "a", action = "read", outcome = "success");
            tracing::info!(target: "audit", actor = "a", action = "update", outcome = "success");
        }
        tracing::info!(target: "audit", actor = "a", action = "logout", outcome = "success");
        // An explicit parent that was never entered: its OpenTelemetry span is started on the
        // first record inside it, with the ids it is then exported with.
        let side = tracing::info_span!("side");
        tracing::info!(target: "audit", parent: &side, actor = "a", action = "delete", outcome = "success");
    });
    let audit = h.audit_records();
    let spans = exported(&provider, &exporter);
    let by_action = |a: &str| {
        record_ids(
            audit
                .iter()
                .find(|r| r["action"] == a)
                .unwrap_or_else(|| panic!("{a}")),
        )
    };
    assert_eq!(by_action("login"), ids_of(&spans, "outer"));
    assert_eq!(by_action("read"), ids_of(&spans, "inner"));
    assert_eq!(by_action("update"), ids_of(&spans, "inner"));
    assert_eq!(by_action("logout"), ids_of(&spans, "outer"));
    assert_eq!(by_action("delete"), ids_of(&spans, "side"));
    assert_eq!(ids_of(&spans, "inner").0, ids_of(&spans, "outer").0);
}

#[test]
fn a_remote_parent_set_before_entering_gives_the_remote_trace_id() {
    let (mut h, provider, exporter) = otel_harness();
    let remote = opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        opentelemetry::trace::SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        opentelemetry::trace::TraceFlags::SAMPLED,
        true,
        Default::default(),
    );
    h.run(|| {
        let span = tracing::info_span!("request");
        span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote))
            .expect("parent set before the span starts");
        let _e = span.enter();
        tracing::info!(target: "audit", actor = "a", action = "read", outcome = "success");
    });
    let audit = h.audit_records();
    let spans = exported(&provider, &exporter);
    assert_eq!(
        audit[0]["trace_id"].as_str(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(record_ids(&audit[0]), ids_of(&spans, "request"));
}

#[test]
fn without_an_opentelemetry_layer_records_have_no_ids() {
    let mut h = Harness::new(|b| b);
    h.run(|| handle("alice"));
    let audit = h.audit_records();
    let debug = h.debug_records();
    assert!(!audit.is_empty() && !debug.is_empty());
    for r in audit.iter().chain(&debug) {
        assert!(r.get("trace_id").is_none(), "{r}");
        assert!(r.get("span_id").is_none(), "{r}");
    }
}

#[test]
fn records_outside_every_span_have_no_ids() {
    let (mut h, _provider, _exporter) = otel_harness();
    h.run(|| {
        tracing::info!(target: "audit", actor = "a", action = "read", outcome = "success");
    });
    let audit = h.audit_records();
    assert!(audit[0].get("trace_id").is_none());
}

#[test]
fn a_span_the_opentelemetry_layer_filters_out_carries_its_nearest_visible_parents_ids() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("filtered");
    let mut h = Harness::with_registry(
        |b| b,
        |layer| {
            tracing::Dispatch::new(tracing_subscriber::registry().with(layer).with(
                otel::layer(tracer).with_filter(tracing_subscriber::filter::LevelFilter::INFO),
            ))
        },
    );
    h.run(|| {
        let _outer = tracing::info_span!("visible").entered();
        let _inner = tracing::debug_span!("hidden").entered();
        tracing::info!(target: "audit", actor = "a", action = "read", outcome = "success");
    });
    let audit = h.audit_records();
    let spans = exported(&provider, &exporter);
    assert!(spans.iter().all(|s| s.name != "hidden"));
    assert_eq!(record_ids(&audit[0]), ids_of(&spans, "visible"));
}

#[test]
fn ids_match_what_the_span_extension_reports() {
    let (mut h, _provider, _exporter) = otel_harness();
    let expected = h.run(|| {
        let span = tracing::info_span!("req");
        let _e = span.enter();
        tracing::info!(target: "audit", actor = "a", action = "read", outcome = "success");
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        (
            format!("{:032x}", sc.trace_id()),
            format!("{:016x}", sc.span_id()),
        )
    });
    let audit = h.audit_records();
    assert_eq!(record_ids(&audit[0]), expected);
}

#[test]
fn otel_layer_below_audit_layer_gives_the_same_ids() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let audit = support::Capture::default();
    let debug = support::Capture::default();
    let (layer, guard) = tracing_audit::layer::AuditLayer::builder()
        .audit_to(audit.clone())
        .debug_to(debug.clone())
        .build()
        .expect("layer builds");
    let subscriber = tracing_subscriber::registry()
        .with(otel::layer(provider.tracer("below")))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || handle("bob"));
    drop(guard);
    let spans = exported(&provider, &exporter);
    let records = audit.records();
    let rec = records
        .iter()
        .find(|r| r["action"] == "read")
        .expect("audit record");
    assert_eq!(record_ids(rec), ids_of(&spans, "load"));
}
