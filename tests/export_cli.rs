//! `tracing-audit export` and `correlate` by trace id, on a trail written with a real
//! OpenTelemetry layer in the registry.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tracing_audit::sink::FileSink;
use tracing_audit::{layer::AuditLayer, otel};
use tracing_subscriber::prelude::*;

fn tool(args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let o = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (o.status.code(), lines)
}

/// Two requests, each its own trace; returns the first request's trace id.
fn write_trails(root: &Path) -> String {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(root.join("audit")))
        .debug_to_files(FileSink::new(root.join("debug")))
        .debug_filter("debug")
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(otel::layer(provider.tracer("cli-test")));
    tracing::subscriber::with_default(subscriber, || {
        for (user, action, outcome) in [("alice", "login", "success"), ("bob", "delete", "denied")]
        {
            let _s = tracing::info_span!("request", user).entered();
            tracing::debug!("checking {user}");
            tracing::info!(target: "audit", actor = user, action, resource = "/r", outcome);
        }
    });
    drop(guard);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    format!("{:032x}", spans[0].span_context.trace_id())
}

#[test]
fn export_writes_one_mapped_object_per_matching_audit_record() {
    let root = tempfile::tempdir().unwrap();
    write_trails(root.path());
    let audit = root.path().join("audit");
    let audit = audit.to_str().unwrap();

    let (code, ocsf) = tool(&["export", "--format", "ocsf", audit]);
    assert_eq!(code, Some(0));
    assert_eq!(ocsf.len(), 2);
    assert_eq!(ocsf[0]["class_uid"], 3002);
    assert_eq!(ocsf[1]["type_uid"], 600304);
    assert_eq!(ocsf[1]["status_id"], 2);
    assert!(ocsf[0]["trace"]["uid"].is_string());

    let (code, ecs) = tool(&["export", "--format", "ecs", audit, "--actor", "bob"]);
    assert_eq!(code, Some(0));
    assert_eq!(ecs.len(), 1, "the same filters as query");
    assert_eq!(ecs[0]["user"]["name"], "bob");
    assert_eq!(ecs[0]["event"]["outcome"], "failure");
    assert!(ecs[0]["trace"]["id"].is_string());

    let (code, _) = tool(&["export", "--format", "cef", audit]);
    assert_eq!(code, Some(2), "an unknown format is a usage error");
}

#[test]
fn correlate_accepts_an_opentelemetry_trace_id() {
    let root = tempfile::tempdir().unwrap();
    let trace_id = write_trails(root.path());
    let audit = root.path().join("audit");
    let debug = root.path().join("debug");
    let (code, records) = tool(&[
        "correlate",
        "--audit",
        audit.to_str().unwrap(),
        "--debug",
        debug.to_str().unwrap(),
        &trace_id,
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r["trace_id"] == trace_id.as_str()));
    // In time order: the debug record was written first.
    assert_eq!(records[0]["message"], "checking alice");
    assert_eq!(records[1]["stream"], "audit");
    assert_eq!(records[1]["actor"], "alice");

    let (code, records) = tool(&[
        "correlate",
        "--audit",
        audit.to_str().unwrap(),
        "00000000000000000000000000000001",
    ]);
    assert_eq!((code, records.len()), (Some(1), 0));
}
