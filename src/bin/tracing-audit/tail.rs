//! `tracing-audit tail DIR [--follow]`.

use super::records::{each_record, open_trail};
use super::render::human;
use super::{CliError, Filters};
use clap::Args;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;
use tracing_audit::trail::TrailFile;

#[derive(Args, Debug)]
pub(super) struct TailArgs {
    /// The trail directory.
    dir: PathBuf,
    /// How many of the last matching records to show first.
    #[arg(short = 'n', long, default_value_t = 10)]
    lines: usize,
    /// Keep waiting for new records (across rotation) until interrupted.
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
    let prefix = args.filters.prefix.as_deref();
    let mut last: VecDeque<Value> = VecDeque::with_capacity(args.lines + 1);
    each_record(&args.dir, prefix, "reading", |_, v| {
        if args.filters.matches(v) && args.lines > 0 {
            if last.len() == args.lines {
                last.pop_front();
            }
            last.push_back(v.clone());
        }
        Ok(true)
    })?;
    for v in &last {
        if !print(v, colour)? {
            return Ok(0);
        }
    }
    if !args.follow {
        return Ok(0);
    }
    follow(&args, colour)
}

/// The bytes of `f` from `offset` on (the whole file is decompressed for a `.gz`), or `None`
/// when the file shrank below `offset` (replaced underneath).
fn read_from(f: &TrailFile, offset: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    let content = if f.is_compressed() {
        let all = f.read()?;
        match all.get(offset as usize..) {
            Some(rest) => rest.to_vec(),
            None => return Ok(None),
        }
    } else {
        let mut file = std::fs::File::open(f.path())?;
        if file.metadata()?.len() < offset {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(offset))?;
        let mut rest = Vec::new();
        file.read_to_end(&mut rest)?;
        rest
    };
    Ok(Some(content))
}

/// Polls the newest file for appended lines and moves on to newer files after rotation.
fn follow(args: &TailArgs, colour: bool) -> Result<u8, CliError> {
    let prefix = args.filters.prefix.as_deref();
    // Position: (file written-as name, bytes consumed).
    let mut pos: Option<(String, u64)> = match open_trail(&args.dir, prefix)?.files().last() {
        Some(f) if f.is_compressed() => Some((
            f.written_as().to_owned(),
            f.read().map_or(0, |c| c.len() as u64),
        )),
        Some(f) => Some((
            f.written_as().to_owned(),
            std::fs::metadata(f.path()).map_or(0, |m| m.len()),
        )),
        None => None,
    };
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
            let rest = match read_from(f, offset) {
                Ok(Some(rest)) => rest,
                Ok(None) => {
                    // Replaced underneath (not something an audit file should see): start over.
                    pos = Some((f.written_as().to_owned(), 0));
                    pending.clear();
                    continue;
                }
                // Pruned or renamed by compression between listing and reading.
                Err(_) => continue,
            };
            pos = Some((f.written_as().to_owned(), offset + rest.len() as u64));
            pending.extend_from_slice(&rest);
            while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=nl).collect();
                if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(&line) {
                    if args.filters.matches(&v) && !print(&v, colour)? {
                        return Ok(0);
                    }
                }
            }
        }
    }
}
