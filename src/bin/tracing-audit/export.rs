//! `tracing-audit export --format ocsf|ecs DIR [filters]`: the audit records as SIEM events.

use super::records::warn_unread;
use super::{CliError, Filters, EXIT_PARTIAL};
use clap::Args;
use std::path::PathBuf;
use tracing_audit::export::{export_trail, ExportOptions, Format};

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
    #[command(flatten)]
    shred: super::shred::ShredArgs,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
        .map_err(|e: tracing_audit::export::ExportError| e.to_string())
}

pub(super) fn run(args: ExportArgs) -> Result<u8, CliError> {
    let filters = args.filters;
    let revealer = args.shred.revealer(&args.dir, filters.prefix.as_deref())?;
    let mut options = ExportOptions::new(args.format)
        .filter(|v| filters.matches(v))
        .reveal(&revealer);
    if let Some(p) = &filters.prefix {
        options = options.prefix(p.clone());
    }
    // A closed pipe (`| head`) stops the export quietly: `summary.stopped`.
    let summary = export_trail(&args.dir, options, std::io::stdout().lock())?;
    Ok(if warn_unread(&[], &summary.skipped) {
        EXIT_PARTIAL
    } else {
        0
    })
}
