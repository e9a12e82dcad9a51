//! `tracing-audit correlate --audit DIR --debug DIR ID`: by correlation id, audit sequence number
//! or OpenTelemetry trace id.

use super::records::{each_record, ts_of};
use super::render::human;
use super::{out_line, CliError, EXIT_NOTHING};
use clap::Args;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct CorrelateArgs {
    /// The audit trail directory.
    #[arg(long, value_name = "DIR")]
    audit: PathBuf,
    /// The debug log directory.
    #[arg(long, value_name = "DIR")]
    debug: Option<PathBuf>,
    /// A correlation id (16 hex digits), an OpenTelemetry trace id (32 hex digits, or
    /// `trace:ID`), or an audit record's sequence number (`seq:N` or `N`) whose correlation id
    /// is used.
    id: String,
    /// Print records human readable instead of as JSON lines.
    #[arg(long)]
    human: bool,
}

/// The sequence number when `id` names an audit record rather than a correlation id.
fn as_seq(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("seq:").unwrap_or(id);
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

pub(super) fn run(args: CorrelateArgs) -> Result<u8, CliError> {
    // Which key of the records the id is matched against.
    match as_trace_id(&args.id) {
        Some(trace) => correlate(&args, "trace_id", &trace),
        None => match correlation_id(&args)? {
            Some(id) => correlate(&args, "correlation_id", &id),
            None => Ok(EXIT_NOTHING),
        },
    }
}

/// The correlation id the argument names (itself, or that of the audit record `seq:N`); `None`
/// when there is none, said on stderr.
fn correlation_id(args: &CorrelateArgs) -> Result<Option<String>, CliError> {
    let Some(seq) = as_seq(&args.id) else {
        return Ok(Some(args.id.clone()));
    };
    let mut found: Option<Option<String>> = None;
    each_record(&args.audit, None, "searching", |_, v| {
        if v.get("seq").and_then(Value::as_u64) == Some(seq) {
            found = Some(
                v.get("correlation_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            );
            return Ok(false);
        }
        Ok(true)
    })?;
    match found {
        Some(Some(id)) => Ok(Some(id)),
        Some(None) => {
            eprintln!("tracing-audit: audit record {seq} has no correlation_id (it was not recorded inside a span)");
            Ok(None)
        }
        None => {
            eprintln!("tracing-audit: no audit record with seq {seq}");
            Ok(None)
        }
    }
}

/// Every record of both streams whose `key` is `id`, in time order.
fn correlate(args: &CorrelateArgs, key: &str, id: &str) -> Result<u8, CliError> {
    // (timestamp, stream order, position) keeps equal timestamps in file order, audit first.
    let mut hits: Vec<(String, usize, usize, Vec<u8>, Value)> = Vec::new();
    let dirs = std::iter::once(&args.audit).chain(args.debug.as_ref());
    for (stream, dir) in dirs.enumerate() {
        each_record(dir, None, "correlating", |line, v| {
            if v.get(key).and_then(Value::as_str) == Some(id) {
                let ts = ts_of(v).unwrap_or_default();
                hits.push((ts, stream, hits.len(), line.to_vec(), v.clone()));
            }
            Ok(true)
        })?;
    }
    if hits.is_empty() {
        eprintln!("tracing-audit: no record with {key} {id:?}");
        return Ok(EXIT_NOTHING);
    }
    hits.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    let stdout = std::io::stdout();
    let colour = args.human && stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (_, _, _, line, v) in &hits {
        let more = if args.human {
            out_line(&mut out, human(v, colour).as_bytes())?
        } else {
            out_line(&mut out, line)?
        };
        if !more {
            break;
        }
    }
    let _ = out.flush();
    Ok(0)
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
    }
}
