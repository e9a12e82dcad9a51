//! `tracing-audit tail DIR [-n N] [--follow]`.

use super::records::{open_trail, warn_problems};
use super::render::human;
use super::{CliError, Filters, EXIT_PARTIAL};
use clap::Args;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;
use tracing_audit::investigate::{last_matching, trail_end, Query};
use tracing_audit::trail::{LineReader, TrailFile};

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
}

fn print(v: &Value, colour: bool) -> Result<bool, CliError> {
    let mut out = std::io::stdout().lock();
    let line = human(v, colour);
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError(format!("cannot write to stdout: {e}"))),
    }
}

pub(super) fn run(args: TailArgs) -> Result<u8, CliError> {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let query = args.filters.query();
    let trail = open_trail(&args.dir, args.filters.prefix.as_deref())?;
    // Where the trail ends now: the last records are read up to here, and --follow goes on
    // from here, so nothing written in between is skipped or shown twice.
    let end = trail_end(&trail);
    let last = last_matching(&trail, &query, args.lines, end);
    let damaged = warn_problems(&last.problems);
    for line in &last.lines {
        let v: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
        if !print(&v, colour)? {
            return Ok(0);
        }
    }
    if !args.follow {
        return Ok(if damaged { EXIT_PARTIAL } else { 0 });
    }
    let pos = end.map(|e| (trail.files()[e.file].written_as().to_owned(), e.offset));
    follow(&args, &query, colour, pos)
}

/// Feeds the lines of `f` after byte `offset` (decompressed bytes for a `.gz`, streamed) to
/// `pending`; the new offset, or `None` when the file is now shorter than `offset` (replaced).
fn read_from(f: &TrailFile, offset: u64, pending: &mut Vec<u8>) -> std::io::Result<Option<u64>> {
    use std::io::{Read, Seek, SeekFrom};
    if f.is_compressed() {
        let mut total = 0u64;
        let read = LineReader::new().read_chunks(f, |c| {
            let start = total;
            total += c.len() as u64;
            if total > offset {
                let skip = offset.saturating_sub(start) as usize;
                pending.extend_from_slice(&c[skip..]);
            }
            ControlFlow::Continue(())
        });
        if let Some(p) = read.problem() {
            return Err(std::io::Error::other(p.to_string()));
        }
        return Ok((total >= offset).then_some(total));
    }
    let mut file = std::fs::File::open(f.path())?;
    let len = file.metadata()?.len();
    if len < offset {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(offset))?;
    let before = pending.len();
    file.read_to_end(pending)?;
    Ok(Some(offset + (pending.len() - before) as u64))
}

/// Polls the newest file for appended lines and moves on to newer files after rotation; a file
/// compressed after rotation is followed under the name it was written as.
fn follow(
    args: &TailArgs,
    query: &Query,
    colour: bool,
    mut pos: Option<(String, u64)>,
) -> Result<u8, CliError> {
    let prefix = args.filters.prefix.as_deref();
    let mut pending: Vec<u8> = Vec::new();
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
                _ => {
                    pending.clear();
                    0
                }
            };
            let new_offset = match read_from(f, offset, &mut pending) {
                Ok(Some(o)) => o,
                Ok(None) => {
                    // Replaced underneath (not something an audit file should see): start over.
                    pos = Some((f.written_as().to_owned(), 0));
                    pending.clear();
                    continue;
                }
                // Pruned or renamed by compression between listing and reading: next poll.
                Err(_) => break,
            };
            pos = Some((f.written_as().to_owned(), new_offset));
            let mut consumed = 0;
            while let Some(nl) = memchr::memchr(b'\n', &pending[consumed..]) {
                let line = &pending[consumed..consumed + nl];
                consumed += nl + 1;
                if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(line) {
                    if query.matches(&v) && !print(&v, colour)? {
                        return Ok(0);
                    }
                }
            }
            pending.drain(..consumed);
        }
    }
}
