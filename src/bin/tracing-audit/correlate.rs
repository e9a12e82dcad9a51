//! `tracing-audit correlate --audit DIR --debug DIR ID`: by correlation id, audit sequence number
//! or OpenTelemetry trace id.

use super::output::{warn, Out};
use super::records::{open_trail, warn_search};
use super::render::human;
use super::{CliError, EXIT_NOTHING, EXIT_PARTIAL};
use clap::Args;
use serde_json::Value;
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use tracing_audit::investigate::{record_time, Query, Search};
use tracing_audit::trail::{printable_json, Trail};

#[derive(Args, Debug)]
pub(super) struct CorrelateArgs {
    /// The audit trail directory.
    #[arg(long, value_name = "DIR")]
    audit: PathBuf,
    /// The debug log directory.
    #[arg(long, value_name = "DIR")]
    debug: Option<PathBuf>,
    /// A correlation id (16 hex digits), an OpenTelemetry trace id (32 hex digits, or
    /// `trace:ID`), or an audit record's sequence number (`seq:N`, or `N` unless it has 16
    /// digits, which is a correlation id) whose correlation id is used. A record matches when its `correlation_id` or its `trace_id` is the id.
    id: String,
    /// Print records human readable instead of as JSON lines.
    #[arg(long)]
    human: bool,
    #[command(flatten)]
    key: super::records::KeyArgs,
    #[command(flatten)]
    shred: super::shred::ShredArgs,
}

/// The sequence number when `id` names an audit record rather than a correlation id. A bare
/// id of 16 digits is a correlation id (they are 16 hex digits, and about one in 2,000 has no
/// letter); such a seq is written `seq:N`.
fn as_seq(id: &str) -> Option<u64> {
    let digits = match id.strip_prefix("seq:") {
        Some(digits) => digits,
        None if id.len() == 16 => return None,
        None => id,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The trace id when `id` names an OpenTelemetry trace: 32 hex digits (W3C), or `trace:` and
/// any hex id. Compared in lowercase, as records write it.
fn as_trace_id(id: &str) -> Option<String> {
    let (hex, explicit) = match id.strip_prefix("trace:") {
        Some(rest) => (rest, true),
        None => (id, false),
    };
    let is_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    (is_hex && (explicit || hex.len() == 32)).then(|| hex.to_ascii_lowercase())
}

/// The id `id` stands for: a trace id (normalized), that of the audit record with seq `id`, or
/// itself. `Err(code)` when there is none (the reason is printed).
pub(super) fn resolve_id(
    search: &Search,
    audit: &Path,
    id: &str,
) -> Result<Result<String, u8>, CliError> {
    if let Some(trace) = as_trace_id(id) {
        return Ok(Ok(trace));
    }
    let Some(seq) = as_seq(id) else {
        return Ok(Ok(id.to_owned()));
    };
    let trail = open_trail(audit, None)?;
    let mut found: Option<Option<String>> = None;
    let summary = search.run(&[&trail], &Query::new().seq(seq), |hit| {
        found = Some(
            hit.record()
                .get("correlation_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        );
        ControlFlow::Break(())
    });
    let damaged = warn_search(&summary);
    Ok(match found {
        Some(Some(id)) => Ok(id),
        Some(None) => {
            warn(format_args!(
                "audit record {seq} has no correlation_id (it was not recorded inside a span)"
            ));
            Err(EXIT_NOTHING)
        }
        None => {
            warn(format_args!("no audit record with seq {seq}"));
            Err(if damaged { EXIT_PARTIAL } else { EXIT_NOTHING })
        }
    })
}

/// One record of a correlation, with what orders it.
pub(super) struct Found {
    pub(super) ts: String,
    /// 0 for the audit trail, 1 for the debug log.
    pub(super) stream: usize,
    pub(super) line: Vec<u8>,
    pub(super) record: Value,
}

/// Every record of `trails` that `query` matches, in time order (equal times in file order,
/// audit first); and whether a file was damaged (warned about on stderr).
pub(super) fn collect(search: &Search, trails: &[&Trail], query: &Query) -> (Vec<Found>, bool) {
    let mut hits = Vec::new();
    let summary = search.run(trails, query, |hit| {
        let record = hit.record();
        hits.push(Found {
            ts: record_time(&record).unwrap_or_default(),
            stream: hit.trail(),
            line: hit.into_line(),
            record,
        });
        ControlFlow::Continue(())
    });
    // A stable sort keeps each stream's file order among equal keys.
    hits.sort_by(|a, b| (&a.ts, a.stream).cmp(&(&b.ts, b.stream)));
    (hits, warn_search(&summary))
}

pub(super) fn run(args: CorrelateArgs) -> Result<u8, CliError> {
    let search = args.key.searcher()?;
    let id = match resolve_id(&search, &args.audit, &args.id)? {
        Ok(id) => id,
        Err(code) => return Ok(code),
    };
    let audit = open_trail(&args.audit, None)?;
    let debug = args
        .debug
        .as_deref()
        .map(|d| open_trail(d, None))
        .transpose()?;
    let trails: Vec<&Trail> = std::iter::once(&audit).chain(debug.as_ref()).collect();
    let (hits, damaged) = collect(&search, &trails, &Query::new().id(id.clone()));
    if hits.is_empty() {
        warn(format_args!(
            "no record with correlation_id or trace_id \"{id}\""
        ));
        return Ok(if damaged { EXIT_PARTIAL } else { EXIT_NOTHING });
    }
    let revealer = args.shred.revealer(&args.audit, None)?;
    let colour =
        args.human && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = Out::new();
    for found in &hits {
        let more = if args.human {
            let mut record = found.record.clone();
            revealer.reveal(&mut record);
            out.line(human(&record, colour).as_bytes())?
        } else {
            // Debug lines have no chain: anyone may have written one, so they leave escaped.
            out.line(&printable_json(&revealer.reveal_line(&found.line)))?
        };
        if !more {
            break;
        }
    }
    out.flush()?;
    Ok(if damaged { EXIT_PARTIAL } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_told_from_correlation_ids_and_sequence_numbers() {
        assert_eq!(
            as_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(as_trace_id("trace:abc1").as_deref(), Some("abc1"));
        assert_eq!(as_trace_id("80d3ff2aad36392e"), None, "a correlation id");
        assert_eq!(as_trace_id("42"), None, "a sequence number");
        assert_eq!(as_seq("seq:42"), Some(42));
        assert_eq!(as_seq("42"), Some(42));
        assert_eq!(
            as_seq("0996902003581163"),
            None,
            "a correlation id without letters"
        );
        assert_eq!(as_seq("seq:0996902003581163"), Some(996_902_003_581_163));
    }
}
