//! The quickstart's story (examples/quickstart.rs), written through the real layer: a failed
//! and a successful login, a report read, a denied payroll read, and carol's odd payroll read
//! whose debug records explain why it was allowed.
#![allow(dead_code)]

use std::path::Path;
use tracing::{debug, info, instrument, warn};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_subscriber::prelude::*;

pub fn write_story(root: &Path) {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(root.join("audit")))
        .debug_to_files(FileSink::new(root.join("debug")))
        .debug_filter("debug")
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        login("req-1001", "alice", "wrong-password", "203.0.113.7");
        login("req-1002", "alice", "correct horse", "203.0.113.7");
        read_report("req-1003", "alice", "analyst", "/reports/q3", "203.0.113.7");
        read_report(
            "req-1004",
            "bob",
            "intern",
            "/payroll/2026-11",
            "198.51.100.23",
        );
        night_access("req-1005", "carol", "/payroll/2026-11", "192.0.2.250");
    });
    drop(guard);
}

#[instrument(fields(src_ip = %src_ip, user = %user))]
fn login(request_id: &str, user: &str, password: &str, src_ip: &str) {
    debug!(password, "checking credentials");
    if password.starts_with("correct") {
        info!(target: "audit", actor = user, action = "login", resource = "session", outcome = "success", session = "s-8f2a");
    } else {
        warn!(attempt = 1, "password mismatch");
        info!(target: "audit", actor = user, action = "login", resource = "session", outcome = "denied", reason = "bad_password");
    }
}

#[instrument(fields(src_ip = %src_ip, actor = %user))]
fn read_report(request_id: &str, user: &str, role: &str, path: &str, src_ip: &str) {
    debug!(role, path, "evaluating policy");
    if role == "intern" && path.starts_with("/payroll") {
        info!(target: "audit", action = "read", resource = path, outcome = "denied", reason = "role_not_allowed");
        return;
    }
    let rows = query_db(path);
    info!(target: "audit", action = "read", resource = path, outcome = "success", rows);
}

#[instrument]
fn query_db(path: &str) -> u64 {
    debug!("outbound query");
    42
}

#[instrument(fields(src_ip = %src_ip, actor = %user, local_time = "03:12"))]
fn night_access(request_id: &str, user: &str, path: &str, src_ip: &str) {
    warn!(
        session_role = "support",
        session_source = "legacy-sso",
        "session role claims missing; falling back to the legacy SSO default role"
    );
    debug!(
        effective_role = "payroll-admin",
        "role mapping from legacy default"
    );
    let rows = query_db(path);
    info!(target: "audit", action = "read", resource = path, outcome = "success", rows);
}
