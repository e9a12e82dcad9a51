//! `tracing-audit export --format ocsf|ecs DIR [filters]`: the audit records as SIEM events.

use super::records::warn_unread;
use super::{CliError, Filters, EXIT_PARTIAL};
use clap::Args;
use std::io::ErrorKind;
use std::path::PathBuf;
use tracing_audit::export::{export_trail, ExportErrorKind, ExportOptions, Format};

#[derive(Args, Debug)]
pub(super) struct ExportArgs {
    /// The schema: `ocsf` (OCSF 1.8, API Activity and Authentication) or `ecs` (Elastic Common
    /// Schema 8.11).
    #[arg(long, value_name = "F", value_parser = parse_format)]
    format: Format,
    /// The audit trail directory.
    dir: PathBuf,
    #[command(flatten)]
    filters: Filters,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
        .map_err(|e: tracing_audit::export::ExportError| e.to_string())
}

pub(super) fn run(args: ExportArgs) -> Result<u8, CliError> {
    let filters = args.filters;
    let mut options = ExportOptions::new(args.format).filter(|v| filters.matches(v));
    if let Some(p) = &filters.prefix {
        options = options.prefix(p.clone());
    }
    let stdout = std::io::stdout();
    match export_trail(&args.dir, options, stdout.lock()) {
        Ok(summary) => Ok(if warn_unread(&[], &summary.skipped) {
            EXIT_PARTIAL
        } else {
            0
        }),
        // `| head`: the reader has seen enough.
        Err(e) if e.kind() == ExportErrorKind::Write && is_broken_pipe(&e) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
}
