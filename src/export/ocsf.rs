//! OCSF 1.8: API Activity (6003) and Authentication (3002) events.

use super::classify::{Activity, Status};
use super::AuditRecord;
use serde_json::{json, Map, Value};

/// The OCSF schema version the events follow.
pub(crate) const SCHEMA_VERSION: &str = "1.8.0";

pub(crate) fn map(r: &AuditRecord<'_>) -> Value {
    let activity = r.activity();
    let auth = matches!(activity, Activity::Logon | Activity::Logoff);
    let (class_uid, class_name, category_uid, category_name) = if auth {
        (3002, "Authentication", 3, "Identity & Access Management")
    } else {
        (6003, "API Activity", 6, "Application Activity")
    };
    let (activity_id, activity_name): (u64, &str) = match activity {
        Activity::Logon => (1, "Logon"),
        Activity::Logoff => (2, "Logoff"),
        Activity::Create => (1, "Create"),
        Activity::Read => (2, "Read"),
        Activity::Update => (3, "Update"),
        Activity::Delete => (4, "Delete"),
        // OCSF keeps the source's own label in `activity_name` when the id is Other.
        Activity::Other => (99, r.action.unwrap_or("Other")),
        Activity::Unknown => (0, "Unknown"),
    };
    let (severity_id, severity) = match r.level {
        Some("WARN") => (3, "Medium"),
        Some("ERROR") => (4, "High"),
        Some(_) => (1, "Informational"),
        None => (0, "Unknown"),
    };
    let status = r.status();
    let (status_id, status_name): (u64, &str) = match status {
        Status::Success => (1, "Success"),
        Status::Denied | Status::Failure => (2, "Failure"),
        Status::Other => (99, r.outcome.unwrap_or("Other")),
        Status::Unknown => (0, "Unknown"),
    };

    let mut o = Map::new();
    o.insert("activity_id".into(), activity_id.into());
    o.insert("activity_name".into(), activity_name.into());
    o.insert("category_uid".into(), category_uid.into());
    o.insert("category_name".into(), category_name.into());
    o.insert("class_uid".into(), class_uid.into());
    o.insert("class_name".into(), class_name.into());
    o.insert("type_uid".into(), (class_uid * 100 + activity_id).into());
    o.insert(
        "type_name".into(),
        format!("{class_name}: {activity_name}").into(),
    );
    o.insert("severity_id".into(), severity_id.into());
    o.insert("severity".into(), severity.into());
    o.insert("time".into(), r.time_ms.into());
    o.insert("status_id".into(), status_id.into());
    o.insert("status".into(), status_name.into());
    if let Some(reason) = r.reason {
        o.insert("status_detail".into(), reason.into());
    }
    if let Some(outcome) = r.outcome {
        o.insert("status_code".into(), outcome.into());
    }
    o.insert("message".into(), r.message().into());
    o.insert("metadata".into(), metadata(r));
    if let (Some(trace), Some(span)) = (r.trace_id, r.span_id) {
        o.insert(
            "trace".into(),
            json!({ "uid": trace, "span": { "uid": span } }),
        );
    }
    let endpoint = endpoint(r.src_ip);
    if auth {
        // Authentication: `user` is who logs on; the resource is the service logged on to.
        o.insert("user".into(), user(r.actor));
        if let Some(session) = r.session {
            o.insert("session".into(), json!({ "uid": session }));
        }
        if let Some(resource) = r.resource {
            o.insert("service".into(), json!({ "name": resource }));
        }
        o.insert("src_endpoint".into(), endpoint);
    } else {
        let mut actor = Map::new();
        if r.actor.is_some() {
            actor.insert("user".into(), user(r.actor));
        }
        if let Some(session) = r.session {
            actor.insert("session".into(), json!({ "uid": session }));
        }
        o.insert("actor".into(), actor.into());
        let mut api = Map::new();
        api.insert("operation".into(), r.action.unwrap_or("unknown").into());
        api.insert("service".into(), json!({ "name": r.target.unwrap_or("") }));
        o.insert("api".into(), api.into());
        if let Some(resource) = r.resource {
            o.insert("resources".into(), json!([{ "name": resource }]));
        }
        o.insert("src_endpoint".into(), endpoint);
    }
    o.insert("unmapped".into(), r.unmapped());
    o.insert("raw_data".into(), r.line.into());
    o.into()
}

fn metadata(r: &AuditRecord<'_>) -> Value {
    let mut m = Map::new();
    m.insert(
        "product".into(),
        json!({
            "name": "tracing-audit",
            "vendor_name": "tracing-audit",
            "version": env!("CARGO_PKG_VERSION"),
        }),
    );
    m.insert("version".into(), SCHEMA_VERSION.into());
    m.insert("log_name".into(), "audit".into());
    if let Some(target) = r.target {
        m.insert("log_provider".into(), target.into());
    }
    if let Some(ts) = r.ts {
        m.insert("original_time".into(), ts.into());
    }
    if let Some(seq) = r.seq {
        m.insert("sequence".into(), seq.into());
    }
    if let Some(id) = r.correlation_id {
        m.insert("correlation_uid".into(), id.into());
    }
    if r.trace_id.is_some() {
        m.insert("profiles".into(), json!(["trace"]));
    }
    m.into()
}

fn user(name: Option<&str>) -> Value {
    match name {
        Some(name) => json!({ "name": name }),
        None => json!({}),
    }
}

/// An endpoint from `src_ip`: `ip` when it is an address, `name` when it is not (a pseudonym).
fn endpoint(src_ip: Option<&str>) -> Value {
    match src_ip {
        Some(ip) if ip.parse::<std::net::IpAddr>().is_ok() => json!({ "ip": ip }),
        Some(other) => json!({ "name": other }),
        None => json!({}),
    }
}
