//! Elastic Common Schema 8.11 documents.

use super::classify::{Activity, Status};
use super::AuditRecord;
use serde_json::{json, Map, Value};

/// The ECS version the documents follow (`ecs.version`).
pub(crate) const ECS_VERSION: &str = "8.11.0";

pub(crate) fn map(r: &AuditRecord<'_>) -> Value {
    let activity = r.activity();
    let status = r.status();
    let (category, mut kinds): (&str, Vec<&str>) = match activity {
        Activity::Logon => ("authentication", vec!["start"]),
        Activity::Logoff => ("authentication", vec!["end"]),
        Activity::Create => ("api", vec!["creation"]),
        Activity::Read => ("api", vec!["access"]),
        Activity::Update => ("api", vec!["change"]),
        Activity::Delete => ("api", vec!["deletion"]),
        Activity::Other | Activity::Unknown => ("api", vec!["info"]),
    };
    if category == "api" {
        match status {
            Status::Denied => kinds.push("denied"),
            Status::Success => kinds.push("allowed"),
            _ => {}
        }
    }
    let outcome = match status {
        Status::Success => "success",
        Status::Denied | Status::Failure => "failure",
        Status::Other | Status::Unknown => "unknown",
    };

    let mut event = Map::new();
    event.insert("kind".into(), "event".into());
    event.insert("category".into(), json!([category]));
    event.insert("type".into(), json!(kinds));
    if let Some(action) = r.action {
        event.insert("action".into(), action.into());
    }
    event.insert("outcome".into(), outcome.into());
    if let Some(reason) = r.reason {
        event.insert("reason".into(), reason.into());
    }
    if let Some(seq) = r.seq {
        event.insert("sequence".into(), seq.into());
    }
    event.insert("module".into(), "tracing_audit".into());
    event.insert("dataset".into(), "tracing_audit.audit".into());
    event.insert("original".into(), r.line.into());

    let mut o = Map::new();
    o.insert("@timestamp".into(), r.ts.unwrap_or_default().into());
    o.insert("ecs".into(), json!({ "version": ECS_VERSION }));
    o.insert("event".into(), event.into());
    o.insert("message".into(), r.message().into());
    let mut log = Map::new();
    if let Some(level) = r.level {
        log.insert("level".into(), level.to_ascii_lowercase().into());
    }
    if let Some(target) = r.target {
        log.insert("logger".into(), target.into());
    }
    o.insert("log".into(), log.into());
    if let Some(actor) = r.actor {
        o.insert("user".into(), json!({ "name": actor }));
    }
    match r.src_ip {
        Some(ip) if ip.parse::<std::net::IpAddr>().is_ok() => {
            o.insert("source".into(), json!({ "ip": ip, "address": ip }));
        }
        // A pseudonymized address is not an `ip` an index would accept.
        Some(other) => {
            o.insert("source".into(), json!({ "address": other }));
        }
        None => {}
    }
    if let Some(trace) = r.trace_id {
        o.insert("trace".into(), json!({ "id": trace }));
    }
    if let Some(span) = r.span_id {
        o.insert("span".into(), json!({ "id": span }));
    }
    // Everything ECS has no field for, under this product's own field set.
    o.insert("tracing_audit".into(), r.unmapped());
    o.into()
}
