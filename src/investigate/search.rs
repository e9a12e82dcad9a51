//! Finding the records a [`Query`] asks for, over every file of one or more trails, on all
//! cores, in bounded memory, tolerating damaged files.

use super::index::may_match;
use super::query::{leading_ts, Query};
use crate::chain::index::{FileIndex, KeyRing};
use crate::chain::ChainKey;
use crate::trail::read::each_line;
use crate::trail::{FileProblem, FileProblemKind, LineReader, SkippedLines, Trail, TrailFile};
use memchr::memmem::Finder;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

/// Runs queries over trails: files are independent units of work, scanned in parallel and
/// delivered in order (trail by trail, oldest file first, lines in file order).
///
/// Each file is read in chunks; when the query has a filter value, a byte search for it (as
/// the writer writes it, quotes included) runs over the chunk first, and only the lines that
/// contain it are parsed; with a time window, a line's leading `ts` rules it out before parsing.
/// Every hit is confirmed on the parsed record with [`Query::matches`], so a value that occurs
/// inside another field, a message or another key never makes a false match.
///
/// Memory: per worker one chunk and one line, plus the hits of the files scanned ahead of the
/// one being delivered (at most `threads + 1` files).
///
/// | setting | default |
/// |---|---|
/// | [`threads`](Search::threads) | the available parallelism |
/// | line limit | [`LineReader`]'s default |
/// | [`key`](Search::key), [`any_key_id`](Search::any_key_id) | none: every file is scanned |
/// | [`index`](Search::index) | [`IndexUse::Read`] |
///
/// A closed, compressed file (every file but the newest of its trail) may have a side index
/// (`<name>.idx`: its time range and a Bloom filter of its correlation ids, trace ids, actors,
/// actions and outcomes), written by the file sink of a keyed trail or by
/// [`build_indexes`](super::build_indexes). Given the chain key, a search skips such a file
/// only when its index's MAC holds under that key, the index rules the query out, and the file
/// hashes to exactly the bytes the index was built from; without the key, or with an index
/// that is missing, unauthenticated, forged, stale or another file's, the file is scanned.
/// Plain files are always scanned (checking an index would read them whole anyway). A search
/// never writes anything.
///
/// ```no_run
/// use std::ops::ControlFlow;
/// use tracing_audit::investigate::{Query, Search};
/// use tracing_audit::trail::Trail;
///
/// let audit = Trail::open("logs/audit", None)?;
/// let debug = Trail::open("logs/debug", None)?;
/// let summary = Search::new().run(&[&audit, &debug], &Query::new().id("06b5c49e3d1a5b8b"), |hit| {
///     println!("{}", String::from_utf8_lossy(hit.line()));
///     ControlFlow::Continue(())
/// });
/// for p in summary.problems() {
///     eprintln!("warning: {p}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Search {
    threads: usize,
    reader: LineReader,
    index: IndexUse,
    keys: KeyRing,
}

/// What a [`Search`] does with per-file side indexes (`<file>.idx`, see [`Search`]). A search
/// never writes one: [`build_indexes`](super::build_indexes) does, when asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexUse {
    /// Ignore them: scan every file.
    Off,
    /// Skip a closed file whose index authenticates under the search's
    /// [`key`](Search::key)s, describes exactly that file, and rules the query out. The
    /// default (without keys, nothing is skipped).
    Read,
}

impl Default for Search {
    fn default() -> Self {
        Search::new()
    }
}

/// One record a search found.
#[derive(Debug)]
pub struct Hit {
    trail: usize,
    file: usize,
    line: Vec<u8>,
}

impl Hit {
    /// The index of its trail in the slice given to [`Search::run`].
    pub fn trail(&self) -> usize {
        self.trail
    }

    /// The index of its file in that trail's [`files`](Trail::files).
    pub fn file(&self) -> usize {
        self.file
    }

    /// The line as written, without its newline.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// The parsed record (it parsed when it was confirmed).
    pub fn record(&self) -> Value {
        serde_json::from_slice(&self.line).unwrap_or(Value::Null)
    }

    /// The line, taken out.
    pub fn into_line(self) -> Vec<u8> {
        self.line
    }
}

/// What a search read, and the files it could not read whole.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SearchSummary {
    /// Files scanned.
    pub files: usize,
    /// Bytes read from the disk (compressed bytes for `.gz` files).
    pub disk_bytes: u64,
    /// Bytes of line data scanned (decompressed).
    pub data_bytes: u64,
    /// Lines parsed to be confirmed (the rest were ruled out by the byte search).
    pub lines_parsed: u64,
    /// Lines too long to hold, skipped.
    pub oversized_lines: u64,
    /// Files not scanned because their authenticated index ruled the query out (each was
    /// still read once, to check that it is the file the index describes).
    pub files_skipped: usize,
    problems: Vec<FileProblem>,
    skipped_lines: Vec<SkippedLines>,
}

impl SearchSummary {
    /// Files that could not be read, or not to their end (their other records were searched,
    /// and every other file was).
    pub fn problems(&self) -> &[FileProblem] {
        &self.problems
    }

    /// Per file, the lines the search passed over: longer than the line limit, or (among the
    /// lines it had to parse) not a record.
    pub fn skipped_lines(&self) -> &[SkippedLines] {
        &self.skipped_lines
    }
}

/// One file's outcome, waiting to be delivered.
struct FileResult {
    hits: Vec<Vec<u8>>,
    disk_bytes: u64,
    data_bytes: u64,
    parsed: u64,
    oversized: u64,
    skipped: bool,
    problem: Option<FileProblem>,
    skipped_lines: Option<SkippedLines>,
}

struct Queue {
    next: usize,
    delivered: usize,
    done: BTreeMap<usize, FileResult>,
}

impl Search {
    /// A search on all available cores.
    pub fn new() -> Self {
        Search {
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            reader: LineReader::new(),
            index: IndexUse::Read,
            keys: KeyRing::default(),
        }
    }

    /// A chain key side indexes may be authenticated with, for indexes under its key id (as
    /// [`Keys::key`](crate::verify::Keys::key) is for records). Without a key every file is
    /// scanned.
    ///
    /// ```no_run
    /// use tracing_audit::chain::ChainKey;
    /// use tracing_audit::investigate::{Query, Search};
    /// use tracing_audit::trail::Trail;
    ///
    /// let key = ChainKey::from_file("k1", "/etc/myapp/audit.key")?;
    /// let audit = Trail::open("logs/audit", None)?;
    /// let summary = Search::new()
    ///     .key(key)
    ///     .run(&[&audit], &Query::new().actor("carol"), |_| std::ops::ControlFlow::Continue(()));
    /// println!("{} files ruled out by their index", summary.files_skipped);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn key(mut self, key: ChainKey) -> Self {
        self.keys.add(key);
        self
    }

    /// A chain key for indexes under every key id no [`key`](Search::key) was given for (a
    /// key file given without its key id, as
    /// [`Keys::any_key_id`](crate::verify::Keys::any_key_id) is for records).
    pub fn any_key_id(mut self, key: ChainKey) -> Self {
        self.keys.set_any(key);
        self
    }

    /// What to do with side indexes.
    pub fn index(mut self, index: IndexUse) -> Self {
        self.index = index;
        self
    }

    /// Scan with `n` threads (at least one).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Uses `reader` (its line limit) to read files.
    pub fn reader(mut self, reader: LineReader) -> Self {
        self.reader = reader;
        self
    }

    /// Calls `on_hit` with every record of `trails` that `query` matches, in order, until it
    /// returns `Break`. A damaged or unreadable file is reported in the summary and the rest
    /// is still searched; a file pruned since the listing is skipped silently.
    pub fn run(
        &self,
        trails: &[&Trail],
        query: &Query,
        mut on_hit: impl FnMut(Hit) -> ControlFlow<()>,
    ) -> SearchSummary {
        // (trail, file index, file, closed: not the newest of its trail)
        let items: Vec<(usize, usize, &TrailFile, bool)> = trails
            .iter()
            .enumerate()
            .flat_map(|(t, trail)| {
                let n = trail.files().len();
                trail
                    .files()
                    .iter()
                    .enumerate()
                    .map(move |(i, f)| (t, i, f, i + 1 < n))
            })
            .collect();
        let needle = query.needle();
        let finder = needle.as_deref().map(Finder::new);
        let stop = AtomicBool::new(false);
        let queue = Mutex::new(Queue {
            next: 0,
            delivered: 0,
            done: BTreeMap::new(),
        });
        let ready = Condvar::new();
        let threads = self.threads.min(items.len()).max(1);
        let window = threads + 1;
        let mut summary = SearchSummary::default();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let idx = {
                        let mut q = lock(&queue);
                        loop {
                            if stop.load(Ordering::Relaxed) || q.next >= items.len() {
                                return;
                            }
                            if q.next < q.delivered + window {
                                q.next += 1;
                                break q.next - 1;
                            }
                            q = ready.wait(q).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let (_, _, file, closed) = items[idx];
                    let keys = (closed && self.index == IndexUse::Read).then_some(&self.keys);
                    let result = scan_file(&self.reader, file, keys, query, finder.as_ref(), &stop);
                    lock(&queue).done.insert(idx, result);
                    ready.notify_all();
                });
            }
            for (idx, &(t, i, _, _)) in items.iter().enumerate() {
                let result = {
                    let mut q = lock(&queue);
                    loop {
                        if let Some(r) = q.done.remove(&idx) {
                            break r;
                        }
                        q = ready.wait(q).unwrap_or_else(|e| e.into_inner());
                    }
                };
                summary.files += 1;
                summary.disk_bytes += result.disk_bytes;
                summary.data_bytes += result.data_bytes;
                summary.lines_parsed += result.parsed;
                summary.oversized_lines += result.oversized;
                summary.files_skipped += usize::from(result.skipped);
                summary.problems.extend(result.problem);
                summary.skipped_lines.extend(result.skipped_lines);
                let mut stopped = false;
                for line in result.hits {
                    let hit = Hit {
                        trail: t,
                        file: i,
                        line,
                    };
                    if on_hit(hit).is_break() {
                        stopped = true;
                        break;
                    }
                }
                let mut q = lock(&queue);
                q.delivered = idx + 1;
                if stopped {
                    stop.store(true, Ordering::Relaxed);
                }
                drop(q);
                ready.notify_all();
                if stopped {
                    break;
                }
            }
        });
        summary
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `file` can be skipped: it is compressed, its index authenticates under `keys`,
/// rules `query` out, and describes the file's bytes (checked last: it reads the file).
/// `Some(bytes read)` if so. A plain file is always scanned: hashing it costs as much as the
/// byte search that rules its lines out (measured in docs/benchmarks.md), while a `.gz` hashes
/// its compressed bytes, several times fewer than those a scan would inflate.
fn ruled_out(file: &TrailFile, keys: &KeyRing, query: &Query) -> Option<u64> {
    if keys.is_empty() || !file.is_compressed() {
        return None;
    }
    let index = FileIndex::load(file, keys).ok()?;
    if may_match(&index, query) {
        return None;
    }
    index.describes(file)
}

/// Scans one file, unless its index (checked with `keys`, for a closed file) rules it out:
/// byte search (when there is a needle), leading-timestamp check, parse, confirmation.
fn scan_file(
    reader: &LineReader,
    file: &TrailFile,
    keys: Option<&KeyRing>,
    query: &Query,
    finder: Option<&Finder<'_>>,
    stop: &AtomicBool,
) -> FileResult {
    if let Some(disk_bytes) = keys.and_then(|k| ruled_out(file, k, query)) {
        return FileResult {
            hits: Vec::new(),
            disk_bytes,
            data_bytes: 0,
            parsed: 0,
            oversized: 0,
            skipped: true,
            problem: None,
            skipped_lines: None,
        };
    }
    let mut hits = Vec::new();
    let mut parsed = 0;
    let mut unreadable = 0;
    let timed = query.since.is_some() || query.until.is_some();
    let mut consider = |line: &[u8]| {
        if line.is_empty() {
            return;
        }
        if timed {
            if let Some(ts) = leading_ts(line).and_then(|t| std::str::from_utf8(t).ok()) {
                if !query.in_window(ts) {
                    return;
                }
            }
        }
        parsed += 1;
        match serde_json::from_slice::<Value>(line) {
            Ok(v @ Value::Object(_)) if query.matches(&v) => hits.push(line.to_vec()),
            Ok(Value::Object(_)) => {}
            _ => unreadable += 1,
        }
    };
    let mut read = reader.read_chunks(file, |chunk| {
        if stop.load(Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        match finder {
            Some(finder) => {
                let mut pos = 0;
                while let Some(i) = finder.find(&chunk[pos..]) {
                    let at = pos + i;
                    let start = memchr::memrchr(b'\n', &chunk[..at]).map_or(0, |p| p + 1);
                    let end = memchr::memchr(b'\n', &chunk[at..]).map_or(chunk.len(), |p| at + p);
                    consider(&chunk[start..end]);
                    pos = end + 1;
                    if pos >= chunk.len() {
                        break;
                    }
                }
            }
            None => {
                let _ = each_line(chunk, |line| {
                    consider(line);
                    ControlFlow::Continue(())
                });
            }
        }
        ControlFlow::Continue(())
    });
    let problem = read
        .take_problem()
        .filter(|p| p.kind() != FileProblemKind::Vanished);
    FileResult {
        skipped: false,
        hits,
        disk_bytes: read.disk_bytes,
        data_bytes: read.data_bytes,
        parsed,
        oversized: read.oversized_lines,
        problem,
        skipped_lines: SkippedLines::new(file, read.oversized_lines, unreadable),
    }
}
