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
use tracing_audit::trail::{LineReader, SkippedLines, TrailFile};

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

/// Shows one record at once (a follower waits between records); `false` once the reader is
/// gone.
fn print(out: &mut Out, v: &Value, colour: bool) -> Result<bool, CliError> {
    Ok(out.line(human(v, colour).as_bytes())? && out.flush()?)
}

/// The longest line `--follow` holds while waiting for its newline, as the trail's reader.
const MAX_LINE: usize = 8 << 20;
/// The most `--follow` reads of a plain file per poll (the rest on the next poll).
const READ_PER_POLL: u64 = 16 << 20;

pub(super) fn run(args: TailArgs) -> Result<u8, CliError> {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let query = args.filters.query();
    let trail = open_trail(&args.dir, args.filters.prefix.as_deref())?;
    // Where the trail ends now: the last records are read up to here, and --follow goes on
    // from here, so nothing written in between is skipped or shown twice.
    let end = trail_end(&trail);
    let last = last_matching(&trail, &query, args.lines, end);
    let damaged = warn_unread(&last.problems, &last.skipped);
    let code = if damaged { EXIT_PARTIAL } else { 0 };
    let mut out = Out::new();
    for line in &last.lines {
        let v: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
        if !print(&mut out, &v, colour)? {
            return Ok(code);
        }
    }
    if !args.follow {
        return Ok(code);
    }
    let pos = end.map(|e| (trail.files()[e.file].written_as().to_owned(), e.offset));
    follow(&args, &query, colour, pos, &mut out).map(|()| code)
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
    // Bounded per poll: whatever was appended, memory stays a few lines' worth.
    file.take(READ_PER_POLL).read_to_end(pending)?;
    Ok(Some(offset + (pending.len() - before) as u64))
}

/// Polls the newest file for appended lines and moves on to newer files after rotation; a file
/// compressed after rotation is followed under the name it was written as. Ends when the
/// reader of stdout goes away.
fn follow(
    args: &TailArgs,
    query: &Query,
    colour: bool,
    mut pos: Option<(String, u64)>,
    out: &mut Out,
) -> Result<(), CliError> {
    let prefix = args.filters.prefix.as_deref();
    let mut pending = Pending::default();
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
            let new_offset = match read_from(f, offset, &mut pending.bytes) {
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
            if !pending.show(f, query, colour, out)? {
                return Ok(());
            }
        }
    }
}

/// Bytes read by `--follow` that do not end in a newline yet.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Inside a line longer than [`MAX_LINE`]: drop bytes up to its newline.
    skipping: bool,
}

impl Pending {
    fn clear(&mut self) {
        self.bytes.clear();
        self.skipping = false;
    }

    /// Shows the complete lines that match, warns about lines it cannot show (too long, not
    /// a record), keeps the incomplete rest; `false` once the reader is gone.
    fn show(
        &mut self,
        f: &TrailFile,
        query: &Query,
        colour: bool,
        out: &mut Out,
    ) -> Result<bool, CliError> {
        let mut consumed = 0;
        if self.skipping {
            match memchr::memchr(b'\n', &self.bytes) {
                Some(nl) => {
                    consumed = nl + 1;
                    self.skipping = false;
                }
                None => {
                    self.bytes.clear();
                    return Ok(true);
                }
            }
        }
        let mut unreadable = 0;
        while let Some(nl) = memchr::memchr(b'\n', &self.bytes[consumed..]) {
            let line = &self.bytes[consumed..consumed + nl];
            consumed += nl + 1;
            match serde_json::from_slice::<Value>(line) {
                Ok(v @ Value::Object(_)) => {
                    if query.matches(&v) && !print(out, &v, colour)? {
                        return Ok(false);
                    }
                }
                _ if line.is_empty() => {}
                _ => unreadable += 1,
            }
        }
        self.bytes.drain(..consumed);
        let mut oversized = 0;
        if self.bytes.len() > MAX_LINE {
            oversized = 1;
            self.bytes.clear();
            self.skipping = true;
        }
        if let Some(skipped) = SkippedLines::new(f, oversized, unreadable) {
            warn(format_args!("warning: {skipped}"));
        }
        Ok(true)
    }
}
