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
/// Every hit is confirmed on the parsed line with the test of [`Query::matches`], so a value that
/// occurs inside another field, a message or another key never makes a false match.
///
/// Memory: per worker one chunk and one line, plus hits waiting to be delivered: at most 4 MiB
/// per file for the `threads + 1` files being scanned or delivered (a worker ahead of delivery
/// waits for the file before it), so it stays flat however many records match.
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
    /// The most bytes of hits held at once, found and waiting to be delivered: bounded by the
    /// number of threads, not by how many records match.
    pub peak_held_bytes: usize,
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

/// How many bytes of hits a worker gathers before handing them over.
const BATCH_BYTES: usize = 256 * 1024;

/// How many bytes of hits may wait for delivery per file: a worker scanning ahead of the file
/// being delivered waits when its file has this much waiting, so a search holds at most about
/// `(threads + 1) * SLOT_BYTES` of hits, however many records match.
const SLOT_BYTES: usize = 4 * 1024 * 1024;

/// One file's counts and problems, known when its scan ends.
#[derive(Default)]
struct FileEnd {
    disk_bytes: u64,
    data_bytes: u64,
    parsed: u64,
    oversized: u64,
    skipped: bool,
    problem: Option<FileProblem>,
    skipped_lines: Option<SkippedLines>,
}

/// The hits of one file waiting to be delivered, in order, and its end once scanned.
#[derive(Default)]
struct Slot {
    batches: std::collections::VecDeque<Vec<Vec<u8>>>,
    bytes: usize,
    end: Option<FileEnd>,
}

struct Queue {
    next: usize,
    delivered: usize,
    slots: BTreeMap<usize, Slot>,
    /// Bytes of hits waiting in all slots, and the most there ever were.
    held: usize,
    peak_held: usize,
}

/// What the scanning threads and the delivering thread share.
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, q: std::sync::MutexGuard<'a, Queue>) -> std::sync::MutexGuard<'a, Queue> {
        self.ready.wait(q).unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a batch of file `idx`'s hits over, first waiting while that file already has
    /// [`SLOT_BYTES`] waiting (only a file ahead of delivery waits long: the delivered one is
    /// being drained).
    fn hand_over(&self, idx: usize, batch: Vec<Vec<u8>>, bytes: usize) {
        let mut q = self.lock();
        while !self.stop.load(Ordering::Relaxed)
            && q.slots.get(&idx).is_some_and(|s| s.bytes >= SLOT_BYTES)
        {
            q = self.wait(q);
        }
        q.held += bytes;
        q.peak_held = q.peak_held.max(q.held);
        let slot = q.slots.entry(idx).or_default();
        slot.bytes += bytes;
        slot.batches.push_back(batch);
        drop(q);
        self.ready.notify_all();
    }

    fn finish(&self, idx: usize, end: FileEnd) {
        self.lock().slots.entry(idx).or_default().end = Some(end);
        self.ready.notify_all();
    }

    /// The next batch of file `idx` (`Ok`), or its end once every batch was taken (`Err`).
    fn take(&self, idx: usize) -> Result<Vec<Vec<u8>>, FileEnd> {
        let mut q = self.lock();
        loop {
            if let Some(slot) = q.slots.get_mut(&idx) {
                if let Some(batch) = slot.batches.pop_front() {
                    let bytes = batch.iter().map(Vec::len).sum::<usize>();
                    slot.bytes -= bytes;
                    q.held -= bytes;
                    drop(q);
                    self.ready.notify_all();
                    return Ok(batch);
                }
                if slot.end.is_some() {
                    let end = q.slots.remove(&idx).and_then(|s| s.end).unwrap_or_default();
                    return Err(end);
                }
            }
            q = self.wait(q);
        }
    }

    /// The next file a scanning thread should take, waiting while it would run more than
    /// `window` files ahead of delivery; `None` when there is none or the search stopped.
    fn claim(&self, files: usize, window: usize) -> Option<usize> {
        let mut q = self.lock();
        loop {
            if self.stop.load(Ordering::Relaxed) || q.next >= files {
                return None;
            }
            if q.next < q.delivered + window {
                q.next += 1;
                return Some(q.next - 1);
            }
            q = self.wait(q);
        }
    }

    /// File `idx` is delivered (and the search stops, if `stopped`).
    fn delivered(&self, idx: usize, stopped: bool) {
        let mut q = self.lock();
        q.delivered = idx + 1;
        if stopped {
            self.stop.store(true, Ordering::Relaxed);
        }
        drop(q);
        self.ready.notify_all();
    }
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
        let shared = Shared {
            queue: Mutex::new(Queue {
                next: 0,
                delivered: 0,
                slots: BTreeMap::new(),
                held: 0,
                peak_held: 0,
            }),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
        };
        let threads = self.threads.min(items.len()).max(1);
        let window = threads + 1;
        let mut summary = SearchSummary::default();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    while let Some(idx) = shared.claim(items.len(), window) {
                        let (_, _, file, closed) = items[idx];
                        let keys = (closed && self.index == IndexUse::Read).then_some(&self.keys);
                        let scan = Scan {
                            reader: &self.reader,
                            query,
                            finder: finder.as_ref(),
                            shared: &shared,
                            idx,
                        };
                        shared.finish(idx, scan.file(file, keys));
                    }
                });
            }
            for (idx, &(t, i, _, _)) in items.iter().enumerate() {
                let stopped = deliver(&shared, idx, &mut summary, |line| {
                    on_hit(Hit {
                        trail: t,
                        file: i,
                        line,
                    })
                });
                shared.delivered(idx, stopped);
                if stopped {
                    break;
                }
            }
        });
        summary.peak_held_bytes = shared.lock().peak_held;
        summary
    }
}

/// Delivers file `idx`'s hits as they come and adds its counts to `summary`; whether `on_hit`
/// stopped the search.
fn deliver(
    shared: &Shared,
    idx: usize,
    summary: &mut SearchSummary,
    mut on_hit: impl FnMut(Vec<u8>) -> ControlFlow<()>,
) -> bool {
    let end = loop {
        match shared.take(idx) {
            Ok(batch) => {
                for line in batch {
                    if on_hit(line).is_break() {
                        return true;
                    }
                }
            }
            Err(end) => break end,
        }
    };
    summary.files += 1;
    summary.disk_bytes += end.disk_bytes;
    summary.data_bytes += end.data_bytes;
    summary.lines_parsed += end.parsed;
    summary.oversized_lines += end.oversized;
    summary.files_skipped += usize::from(end.skipped);
    summary.problems.extend(end.problem);
    summary.skipped_lines.extend(end.skipped_lines);
    false
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

/// One file's scan: where its hits go and what decides them.
struct Scan<'a> {
    reader: &'a LineReader,
    query: &'a Query,
    finder: Option<&'a Finder<'a>>,
    shared: &'a Shared,
    idx: usize,
}

impl Scan<'_> {
    /// Scans one file, unless its index (checked with `keys`, for a closed file) rules it out:
    /// byte search (when there is a needle), leading-timestamp check, confirmation on the
    /// parsed line. Hits are handed over in batches as they are found.
    fn file(&self, file: &TrailFile, keys: Option<&KeyRing>) -> FileEnd {
        if let Some(disk_bytes) = keys.and_then(|k| ruled_out(file, k, self.query)) {
            return FileEnd {
                disk_bytes,
                skipped: true,
                ..FileEnd::default()
            };
        }
        let mut hits = Hits::default();
        let mut parsed = 0;
        let mut unreadable = 0;
        let mut consider = |line: &[u8], hits: &mut Hits| {
            if line.is_empty() || self.outside_window(line) {
                return;
            }
            parsed += 1;
            match self.query.matches_line(line) {
                Some(true) => hits.push(line),
                Some(false) => {}
                None => unreadable += 1,
            }
        };
        let mut read = self.reader.read_chunks(file, |chunk| {
            if self.shared.stop.load(Ordering::Relaxed) {
                return ControlFlow::Break(());
            }
            match self.finder {
                Some(finder) => each_candidate(chunk, finder, |line| consider(line, &mut hits)),
                None => {
                    let _ = each_line(chunk, |line| {
                        consider(line, &mut hits);
                        ControlFlow::Continue(())
                    });
                }
            }
            if hits.bytes >= BATCH_BYTES {
                hits.hand_over(self.shared, self.idx);
            }
            ControlFlow::Continue(())
        });
        hits.hand_over(self.shared, self.idx);
        let problem = read
            .take_problem()
            .filter(|p| p.kind() != FileProblemKind::Vanished);
        FileEnd {
            skipped: false,
            disk_bytes: read.disk_bytes,
            data_bytes: read.data_bytes,
            parsed,
            oversized: read.oversized_lines,
            problem,
            skipped_lines: SkippedLines::new(file, read.oversized_lines, unreadable),
        }
    }

    /// Whether the line's leading `ts` (read without parsing) is outside the query's window.
    fn outside_window(&self, line: &[u8]) -> bool {
        let q = self.query;
        (q.since.is_some() || q.until.is_some())
            && leading_ts(line)
                .and_then(|t| std::str::from_utf8(t).ok())
                .is_some_and(|ts| !q.in_window(ts))
    }
}

/// Hits gathered since the last hand-over.
#[derive(Default)]
struct Hits {
    lines: Vec<Vec<u8>>,
    bytes: usize,
}

impl Hits {
    fn push(&mut self, line: &[u8]) {
        self.bytes += line.len();
        self.lines.push(line.to_vec());
    }

    fn hand_over(&mut self, shared: &Shared, idx: usize) {
        if !self.lines.is_empty() {
            shared.hand_over(idx, std::mem::take(&mut self.lines), self.bytes);
            self.bytes = 0;
        }
    }
}

/// Calls `f` with each line of `chunk` that holds `finder`'s needle, once per line.
fn each_candidate(chunk: &[u8], finder: &Finder<'_>, mut f: impl FnMut(&[u8])) {
    let mut pos = 0;
    while let Some(i) = finder.find(&chunk[pos..]) {
        let at = pos + i;
        let start = memchr::memrchr(b'\n', &chunk[..at]).map_or(0, |p| p + 1);
        let end = memchr::memchr(b'\n', &chunk[at..]).map_or(chunk.len(), |p| at + p);
        f(&chunk[start..end]);
        pos = end + 1;
        if pos >= chunk.len() {
            break;
        }
    }
}
