//! `tracing-audit report DIR [--since T] [--until T] [--working-hours HH:MM-HH:MM] [--tz ZONE] [--json]`.

use super::output::Out;
use super::records::{open_trail, parse_time, warn_search};
use super::{CliError, EXIT_PARTIAL};
use clap::Args;
use std::ops::ControlFlow;
use std::path::PathBuf;
use tracing_audit::investigate::{Query, ReportOptions};
use tracing_audit::trail::printable_json;

#[derive(Args, Debug)]
pub(super) struct ReportArgs {
    /// The audit trail directory.
    dir: PathBuf,
    /// Count and flag records from T on (earlier records are the history that makes addresses
    /// and resource classes known). RFC 3339, or YYYY-MM-DD[THH:MM[:SS]] in UTC.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    since: Option<String>,
    /// Up to (not including) T.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    until: Option<String>,
    /// Working hours in the --tz zone; access outside them is flagged.
    #[arg(long, value_name = "HH:MM-HH:MM", default_value = "08:00-18:00")]
    working_hours: String,
    /// The working hours' zone: a name from the time zone database (Europe/Berlin), whose
    /// offset follows daylight saving time, or a fixed UTC offset (UTC, +02:00, -05:30).
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    tz: String,
    /// A burst: this many denied or failed records of one actor within --burst-secs.
    #[arg(long, default_value_t = 5, value_name = "N")]
    burst: usize,
    /// The burst window in seconds.
    #[arg(long, default_value_t = 60, value_name = "S")]
    burst_secs: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// File name prefix, when the directory holds several trails.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
    #[command(flatten)]
    key: super::records::KeyArgs,
}

pub(super) fn run(args: ReportArgs) -> Result<u8, CliError> {
    let search = args.key.searcher()?;
    let mut opts = ReportOptions::new()
        .working_hours(&args.working_hours)?
        .time_zone(&args.tz)?
        .burst(args.burst, args.burst_secs);
    if let Some(s) = &args.since {
        opts = opts.since(s)?;
    }
    let mut history = Query::new();
    if let Some(u) = &args.until {
        opts = opts.until(u)?;
        history = history.clone().until(u).unwrap_or(history);
    }
    let trail = open_trail(&args.dir, args.prefix.as_deref())?;
    let mut builder = opts.start();
    // Everything before --until: the records before --since are the history.
    let summary = search.run(&[&trail], &history, |hit| {
        builder.add(&hit.record());
        ControlFlow::Continue(())
    });
    let damaged = warn_search(&summary);
    let report = builder.finish();
    let mut out = Out::new();
    if args.json {
        out.line(&printable_json(report.to_json().to_string().as_bytes()))?;
    } else {
        // The report's text escapes every value that came from a record.
        out.line(report.to_string().trim_end().as_bytes())?;
    }
    out.flush()?;
    Ok(if damaged { EXIT_PARTIAL } else { 0 })
}
