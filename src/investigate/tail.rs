//! The last records of a trail that match a query, read from the end.

use super::query::Query;
use crate::trail::{FileProblem, FileProblemKind, LineReader, SkippedLines, Trail};
use memchr::memmem;
use serde_json::Value;
use std::cell::Cell;
use std::collections::VecDeque;
use std::ops::ControlFlow;

/// The last `n` records of a trail that match, oldest first, and what it cost to find them.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Last {
    /// The matching lines, oldest first, without their newline.
    pub lines: Vec<Vec<u8>>,
    /// Bytes read from the disk to find them.
    pub disk_bytes: u64,
    /// Files that could not be read, or not whole.
    pub problems: Vec<FileProblem>,
    /// Per file read, the lines passed over: longer than the line limit, or (among the lines
    /// that had to be parsed) not a record.
    pub skipped: Vec<SkippedLines>,
}

/// Where a trail ended when it was looked at: the newest file (its index in
/// [`Trail::files`]) and its length then. [`last_matching`] reads up to there, and a follower
/// continues from there, so no record is shown twice or skipped in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct End {
    /// Index of the newest file.
    pub file: usize,
    /// Its length in bytes (decompressed bytes for a `.gz`) at that moment.
    pub offset: u64,
}

/// The last `n` records of `trail` that `query` matches, oldest first, read from the end:
/// plain files backward one chunk at a time, stopping as soon as `n` are found; a compressed
/// file is streamed forward keeping only its last `n` matches. Files older than the one where
/// the `n`-th match is found are not opened. `end`, when given, is where to stop reading the
/// newest file (what a follower starts from).
///
/// ```no_run
/// use tracing_audit::investigate::{last_matching, Query};
/// use tracing_audit::trail::Trail;
///
/// let trail = Trail::open("logs/audit", None)?;
/// let last = last_matching(&trail, &Query::new().outcome("denied"), 10, None);
/// for line in &last.lines {
///     println!("{}", String::from_utf8_lossy(line));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn last_matching(trail: &Trail, query: &Query, n: usize, end: Option<End>) -> Last {
    let mut last = Last::default();
    if n == 0 {
        return last;
    }
    let reader = LineReader::new();
    let needle = query.needle();
    let finder = needle.as_deref().map(memmem::Finder::new);
    // Lines of the current file that had to be parsed and are not records.
    let unreadable = Cell::new(0u64);
    let matches = |line: &[u8]| {
        if let Some(f) = &finder {
            if f.find(line).is_none() {
                return false;
            }
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(v @ Value::Object(_)) => query.matches(&v),
            _ => {
                unreadable.set(unreadable.get() + 1);
                false
            }
        }
    };
    // Newest first.
    let mut found: Vec<Vec<u8>> = Vec::new();
    let files = trail.files();
    let newest = end.map_or(files.len(), |e| (e.file + 1).min(files.len()));
    for (i, file) in files[..newest].iter().enumerate().rev() {
        let want = n - found.len();
        unreadable.set(0);
        let mut read = if file.is_compressed() {
            let mut ring: VecDeque<Vec<u8>> = VecDeque::with_capacity(want);
            let limit = end.filter(|e| e.file == i).map(|e| e.offset);
            let mut seen: u64 = 0;
            let read = reader.read_lines(file, |line| {
                seen += line.len() as u64 + 1;
                if limit.is_some_and(|l| seen > l) {
                    return ControlFlow::Break(());
                }
                if matches(line) {
                    if ring.len() == want {
                        ring.pop_front();
                    }
                    ring.push_back(line.to_vec());
                }
                ControlFlow::Continue(())
            });
            found.extend(ring.into_iter().rev());
            read
        } else {
            let until = end.filter(|e| e.file == i).map_or(u64::MAX, |e| e.offset);
            reader.read_lines_backward(file, until, |line| {
                if matches(line) {
                    found.push(line.to_vec());
                    if found.len() == n {
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            })
        };
        last.disk_bytes += read.disk_bytes;
        last.skipped.extend(SkippedLines::new(
            file,
            read.oversized_lines,
            unreadable.get(),
        ));
        if let Some(p) = read.take_problem() {
            if p.kind() != FileProblemKind::Vanished {
                last.problems.push(p);
            }
        }
        if found.len() >= n {
            break;
        }
    }
    found.reverse();
    last.lines = found;
    last
}

/// Where `trail` ends now (see [`End`]); `None` for an empty trail.
pub fn trail_end(trail: &Trail) -> Option<End> {
    let file = trail.files().len().checked_sub(1)?;
    let f = &trail.files()[file];
    let offset = if f.is_compressed() {
        let mut len = 0u64;
        let _ = LineReader::new().read_chunks(f, |c| {
            len += c.len() as u64;
            ControlFlow::Continue(())
        });
        len
    } else {
        line_boundary(f.path()).unwrap_or(0)
    };
    Some(End { file, offset })
}

/// The offset just after the last newline of a plain file (a line being written is left for
/// the follower to read whole).
fn line_boundary(path: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let f = crate::trail::open::open_in_trail(path)?;
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let n = (buf.len() as u64).min(end) as usize;
        let start = end - n as u64;
        f.read_exact_at(&mut buf[..n], start)?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}
