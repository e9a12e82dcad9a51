//! `tracing-audit correlate --audit DIR --debug DIR ID`.

use super::records::{open_trail, warn_problems};
use super::render::human;
use super::{out_line, CliError, EXIT_NOTHING, EXIT_PARTIAL};
use clap::Args;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use tracing_audit::investigate::{record_time, Query};
use tracing_audit::trail::Trail;

#[derive(Args, Debug)]
pub(super) struct CorrelateArgs {
    /// The audit trail directory.
    #[arg(long, value_name = "DIR")]
    audit: PathBuf,
    /// The debug log directory.
    #[arg(long, value_name = "DIR")]
    debug: Option<PathBuf>,
    /// A correlation id or trace id, or an audit record's sequence number (`seq:N` or `N`)
    /// whose correlation id is used.
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

/// The correlation id `id` stands for: itself, or that of the audit record with seq `id`.
/// `Err(code)` when there is none (the reason is printed).
pub(super) fn resolve_id(audit: &Path, id: &str) -> Result<Result<String, u8>, CliError> {
    let Some(seq) = as_seq(id) else {
        return Ok(Ok(id.to_owned()));
    };
    let trail = open_trail(audit, None)?;
    let mut found: Option<Option<String>> = None;
    let summary = super::records::searcher().run(&[&trail], &Query::new().seq(seq), |hit| {
        found = Some(
            hit.record()
                .get("correlation_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        );
        ControlFlow::Break(())
    });
    let damaged = warn_problems(summary.problems());
    Ok(match found {
        Some(Some(id)) => Ok(id),
        Some(None) => {
            eprintln!("tracing-audit: audit record {seq} has no correlation_id (it was not recorded inside a span)");
            Err(EXIT_NOTHING)
        }
        None => {
            eprintln!("tracing-audit: no audit record with seq {seq}");
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
pub(super) fn collect(trails: &[&Trail], query: &Query) -> (Vec<Found>, bool) {
    let mut hits = Vec::new();
    let summary = super::records::searcher().run(trails, query, |hit| {
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
    (hits, warn_problems(summary.problems()))
}

pub(super) fn run(args: CorrelateArgs) -> Result<u8, CliError> {
    let id = match resolve_id(&args.audit, &args.id)? {
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
    let (hits, damaged) = collect(&trails, &Query::new().id(id.clone()));
    if hits.is_empty() {
        eprintln!("tracing-audit: no record with correlation_id or trace_id {id:?}");
        return Ok(if damaged { EXIT_PARTIAL } else { EXIT_NOTHING });
    }
    let stdout = std::io::stdout();
    let colour = args.human && stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for found in &hits {
        let more = if args.human {
            out_line(&mut out, human(&found.record, colour).as_bytes())?
        } else {
            out_line(&mut out, &found.line)?
        };
        if !more {
            break;
        }
    }
    let _ = out.flush();
    Ok(if damaged { EXIT_PARTIAL } else { 0 })
}
