//! `tracing-audit correlate --audit DIR --debug DIR ID`.

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
    /// A correlation id, or an audit record's sequence number (`seq:N` or `N`) whose
    /// correlation id is used.
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

pub(super) fn run(args: CorrelateArgs) -> Result<u8, CliError> {
    let id = match as_seq(&args.id) {
        Some(seq) => {
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
                Some(Some(id)) => id,
                Some(None) => {
                    eprintln!("tracing-audit: audit record {seq} has no correlation_id (it was not recorded inside a span)");
                    return Ok(EXIT_NOTHING);
                }
                None => {
                    eprintln!("tracing-audit: no audit record with seq {seq}");
                    return Ok(EXIT_NOTHING);
                }
            }
        }
        None => args.id.clone(),
    };
    // (timestamp, stream order, position) keeps equal timestamps in file order, audit first.
    let mut hits: Vec<(String, usize, usize, Vec<u8>, Value)> = Vec::new();
    let dirs = std::iter::once(&args.audit).chain(args.debug.as_ref());
    for (stream, dir) in dirs.enumerate() {
        each_record(dir, None, "correlating", |line, v| {
            if v.get("correlation_id").and_then(Value::as_str) == Some(id.as_str()) {
                let ts = ts_of(v).unwrap_or_default();
                hits.push((ts, stream, hits.len(), line.to_vec(), v.clone()));
            }
            Ok(true)
        })?;
    }
    if hits.is_empty() {
        eprintln!("tracing-audit: no record with correlation_id {id:?}");
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
