//! Audit records as OCSF or Elastic Common Schema events, for a SIEM.
//!
//! Each audit record maps to one JSON object; debug records and the chain's control records map
//! to none. The mapping (documented as a table in `docs/schema.md`):
//!
//! - **OCSF 1.8**: a login/logout action becomes an *Authentication* event (class 3002,
//!   activity Logon/Logoff), any other action an *API Activity* event (class 6003, activity
//!   Create/Read/Update/Delete from the action's verb, else Other with the action's own name in
//!   `activity_name`). `status_id` is 1 for success, 2 for a failure or denial.
//! - **ECS 8.11**: `@timestamp`, `event.action`/`outcome`/`category`/`type`/`sequence`,
//!   `user.name`, `source.ip`, `trace.id`.
//!
//! Both keep what the schema has no place for (`seq` and the chain's `prev`, `kid`, `mac`, the
//! correlation id, the event's own fields) and the original line verbatim (OCSF `raw_data`, ECS
//! `event.original`): the MAC chain can still be checked against the exported copy.
//!
//! In process, map one line with [`Format::map_line`], or wrap a writer in [`Mapped`] so an
//! [`AuditLayer`](crate::layer::AuditLayer) writes OCSF or ECS directly. Offline, [`export_trail`]
//! streams a trail directory (rotated and gzipped files, one line in memory at a time), as
//! `tracing-audit export` does.
//!
//! ```
//! use tracing_audit::export::Format;
//!
//! let line = r#"{"seq":4,"ts":"2026-11-26T07:14:47.647112753Z","stream":"audit","level":"INFO","target":"audit","actor":"alice","action":"read","resource":"/reports/q3","outcome":"denied","src_ip":"203.0.113.7","fields":{},"spans":[]}"#;
//! let ocsf = Format::Ocsf.map_line(line)?.expect("an audit record");
//! assert_eq!(ocsf["class_uid"], 6003);
//! assert_eq!(ocsf["type_uid"], 600302); // API Activity: Read
//! assert_eq!(ocsf["status_id"], 2);
//! assert_eq!(ocsf["metadata"]["sequence"], 4);
//! assert_eq!(ocsf["raw_data"], line);
//!
//! let ecs = Format::Ecs.map_line(line)?.expect("an audit record");
//! assert_eq!(ecs["event"]["outcome"], "failure");
//! assert_eq!(ecs["source"]["ip"], "203.0.113.7");
//! # Ok::<(), tracing_audit::export::ExportError>(())
//! ```

mod classify;
mod ecs;
mod error;
mod mapped;
mod ocsf;
mod trail;

pub use error::{ExportError, ExportErrorKind};
pub use mapped::Mapped;
pub use trail::{export_trail, ExportOptions, ExportSummary};

use classify::{Activity, Status};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// The schema audit records are mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Open Cybersecurity Schema Framework 1.8 (API Activity 6003, Authentication 3002).
    Ocsf,
    /// Elastic Common Schema 8.11.
    Ecs,
}

impl Format {
    /// Maps one audit record, given as the line it was written as (the line itself is kept in
    /// the result). `Ok(None)` for a debug record, a chain control record, or a record
    /// without a readable timestamp; an error when the line is not a JSON object.
    ///
    /// ```
    /// use tracing_audit::export::Format;
    /// let seal = r#"{"seq":9,"ts":"2026-11-26T07:14:47.647112753Z","stream":"audit","record":"seal"}"#;
    /// assert!(Format::Ocsf.map_line(seal)?.is_none());
    /// assert!(Format::Ecs.map_line("not json").is_err());
    /// # Ok::<(), tracing_audit::export::ExportError>(())
    /// ```
    pub fn map_line(self, line: &str) -> Result<Option<Value>, ExportError> {
        let value: Value = serde_json::from_str(line.trim_end_matches(['\n', '\r']))
            .map_err(|e| ExportError::new(ExportErrorKind::Parse, "a record", Some(e.into())))?;
        Ok(self.map_record(&value, line.trim_end_matches(['\n', '\r'])))
    }

    /// Maps an already parsed record; `line` is its original text, kept in the result so the
    /// MAC can be checked against it (re-serializing `record` would reorder its keys).
    pub fn map_record(self, record: &Value, line: &str) -> Option<Value> {
        let r = AuditRecord::new(record, line)?;
        Some(match self {
            Format::Ocsf => ocsf::map(&r),
            Format::Ecs => ecs::map(&r),
        })
    }

    /// The name used on the command line: `ocsf` or `ecs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ocsf => "ocsf",
            Format::Ecs => "ecs",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ExportError;

    /// `ocsf` or `ecs`, in any case.
    fn from_str(s: &str) -> Result<Self, ExportError> {
        match s.to_ascii_lowercase().as_str() {
            "ocsf" => Ok(Format::Ocsf),
            "ecs" => Ok(Format::Ecs),
            _ => Err(ExportError::new(
                ExportErrorKind::UnknownFormat,
                "format (expected ocsf or ecs)",
                None,
            )),
        }
    }
}

/// The parts of one audit record both mappings use.
pub(crate) struct AuditRecord<'a> {
    record: &'a Map<String, Value>,
    line: &'a str,
    ts: Option<&'a str>,
    time_ms: i64,
    level: Option<&'a str>,
    target: Option<&'a str>,
    actor: Option<&'a str>,
    action: Option<&'a str>,
    resource: Option<&'a str>,
    outcome: Option<&'a str>,
    reason: Option<&'a str>,
    src_ip: Option<&'a str>,
    session: Option<&'a str>,
    seq: Option<u64>,
    correlation_id: Option<&'a str>,
    trace_id: Option<&'a str>,
    span_id: Option<&'a str>,
}

/// Keys the mappings place themselves; every other key goes to `unmapped`.
const MAPPED_KEYS: &[&str] = &[
    "ts", "stream", "level", "target", "actor", "action", "resource", "outcome", "reason",
    "src_ip", "session", "message", "trace_id", "span_id",
];

impl<'a> AuditRecord<'a> {
    /// `None` unless `record` is an audit event record with a timestamp.
    fn new(record: &'a Value, line: &'a str) -> Option<Self> {
        let record = record.as_object()?;
        let s = |k: &str| record.get(k).and_then(Value::as_str);
        if s("stream") != Some("audit") || record.contains_key("record") {
            return None;
        }
        let ts = s("ts");
        let time_ms = chrono::DateTime::parse_from_rfc3339(ts?)
            .ok()?
            .timestamp_millis();
        Some(AuditRecord {
            record,
            line,
            ts,
            time_ms,
            level: s("level"),
            target: s("target"),
            actor: s("actor"),
            action: s("action"),
            resource: s("resource"),
            outcome: s("outcome"),
            reason: s("reason"),
            src_ip: s("src_ip"),
            session: s("session"),
            seq: record.get("seq").and_then(Value::as_u64),
            correlation_id: s("correlation_id"),
            trace_id: s("trace_id"),
            span_id: s("span_id"),
        })
    }

    fn activity(&self) -> Activity {
        classify::activity(self.action)
    }

    fn status(&self) -> Status {
        classify::status(self.outcome)
    }

    /// The record's message, or a sentence made of its audit keys.
    fn message(&self) -> String {
        if let Some(m) = self.record.get("message").and_then(Value::as_str) {
            return m.to_owned();
        }
        let mut m = String::new();
        m.push_str(self.actor.unwrap_or("someone"));
        m.push(' ');
        m.push_str(self.action.unwrap_or("did something"));
        if let Some(resource) = self.resource {
            m.push(' ');
            m.push_str(resource);
        }
        if let Some(outcome) = self.outcome {
            m.push_str(": ");
            m.push_str(outcome);
        }
        m
    }

    /// Every key of the record the mapping has no attribute for: `seq`, `prev`, `kid`, `mac`,
    /// `correlation_id`, `fields`, `spans`, `schema_violation`, whatever a newer writer adds.
    fn unmapped(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in self.record {
            if !MAPPED_KEYS.contains(&k.as_str()) {
                m.insert(k.clone(), v.clone());
            }
        }
        if let Some(resource) = self.resource {
            m.insert("resource".into(), resource.into());
        }
        if let Some(session) = self.session {
            m.insert("session".into(), session.into());
        }
        m.into()
    }
}
