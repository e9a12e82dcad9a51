//! `tracing-audit tail DIR [-n N] [--follow]`.

use super::output::{warn, Out};
use super::records::{open_trail, warn_unread};
use super::render::human;
use super::{CliError, Filters, EXIT_PARTIAL};
use clap::Args;
use serde_json::Value;
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;
use tracing_audit::investigate::{last_matching, trail_end, Query};
use tracing_audit::trail::{FileRead, LineReader, SkippedLines, TrailFile};

#[derive(Args, Debug)]
pub(super) struct TailArgs {
    /// The trail directory.
    dir: PathBuf,
    /// How many of the last matching records to show first.
    #[arg(short = 'n', long, default_value_t = 10)]
    lines: usize,
    /// Keep waiting for new records (across rotation and compression) until interrupted.
    #[arg(short, long)]
    follow: bool,
    /// How often --follow looks for new records, in milliseconds.
    #[arg(long, default_value_t = 250, value_name = "MS")]
    poll_ms: u64,
    #[command(flatten)]
    filters: Filters,
    #[command(flatten)]
    shred: super::shred::ShredArgs,
}

/// Shows one record at once (a follower waits between records); `false` once the reader is
/// gone.
fn print(out: &mut Out, v: &Value, colour: bool) -> Result<bool, CliError> {
    Ok(out.line(human(v, colour).as_bytes())? && out.flush()?)
}

/// The trail reader's line limit (`LineReader::new`): a torn line longer than this was
/// counted as oversized although it may still be completed.
const MAX_LINE: u64 = 8 << 20;

pub(super) fn run(args: TailArgs) -> Result<u8, CliError> {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let query = args.filters.query();
    let trail = open_trail(&args.dir, args.filters.prefix.as_deref())?;
    // Where the trail ends now: the last records are read up to here, and --follow goes on
    // from here, so nothing written in between is skipped or shown twice.
    let end = trail_end(&trail);
    let revealer = args
        .shred
        .revealer(&args.dir, args.filters.prefix.as_deref())?;
    let last = last_matching(&trail, &query, args.lines, end);
    let damaged = warn_unread(&last.problems, &last.skipped);
    let code = if damaged { EXIT_PARTIAL } else { 0 };
    let mut out = Out::new();
    for line in &last.lines {
        let mut v: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
        revealer.reveal(&mut v);
        if !print(&mut out, &v, colour)? {
            return Ok(code);
        }
    }
    if !args.follow {
        return Ok(code);
    }
    let pos = end.map(|e| (trail.files()[e.file].written_as().to_owned(), e.offset));
    follow(&args, &query, &revealer, colour, pos, &mut out).map(|()| code)
}

/// Polls the newest file for appended lines and moves on to newer files after rotation; a file
/// compressed after rotation is followed under the name it was written as. Ends when the
/// reader of stdout goes away.
fn follow(
    args: &TailArgs,
    query: &Query,
    revealer: &tracing_audit::shred::Revealer,
    colour: bool,
    mut pos: Option<(String, u64)>,
    out: &mut Out,
) -> Result<(), CliError> {
    let prefix = args.filters.prefix.as_deref();
    loop {
        std::thread::sleep(Duration::from_millis(args.poll_ms.max(10)));
        let trail = open_trail(&args.dir, prefix)?;
        let list = trail.files();
        let start = match &pos {
            Some((base, _)) => list
                .iter()
                .position(|f| f.written_as() == base)
                .unwrap_or(0),
            None => 0,
        };
        for f in &list[start..] {
            let offset = match &pos {
                Some((base, off)) if base == f.written_as() => *off,
                _ => 0,
            };
            if !f.is_compressed() && f.len_on_disk() < offset {
                // Replaced underneath (not something an audit file should see): start over.
                pos = Some((f.written_as().to_owned(), 0));
                continue;
            }
            let mut printed: Result<bool, CliError> = Ok(true);
            let mut unreadable = 0;
            let read = LineReader::new().read_lines_from(f, offset, |line| {
                let Ok(mut v @ Value::Object(_)) = serde_json::from_slice::<Value>(line) else {
                    unreadable += 1;
                    return ControlFlow::Continue(());
                };
                if query.matches(&v) {
                    revealer.reveal(&mut v);
                    printed = print(out, &v, colour);
                    if !matches!(printed, Ok(true)) {
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            });
            if !printed? {
                return Ok(());
            }
            warn_skipped(f, offset, &read, unreadable);
            if read.problem().is_some() {
                // Pruned or renamed by compression between listing and reading: next poll.
                break;
            }
            pos = Some((f.written_as().to_owned(), read.resume_at));
        }
    }
}

/// Warns about the lines of one `--follow` read that could not be shown. A long line still
/// being written is counted once it is complete, not at every poll that finds it torn.
fn warn_skipped(f: &TrailFile, offset: u64, read: &FileRead, unreadable: u64) {
    let torn = (offset + read.data_bytes).saturating_sub(read.resume_at);
    let counted_torn = read.torn_tail && torn > MAX_LINE;
    let oversized = read.oversized_lines - u64::from(counted_torn);
    if let Some(skipped) = SkippedLines::new(f, oversized, unreadable) {
        warn(format_args!("warning: {skipped}"));
    }
}
