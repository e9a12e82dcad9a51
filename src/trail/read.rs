//! Reading one file's lines in bounded memory: forward in chunks (gzip streamed), or backward
//! from an offset (plain files), with damage reported as a finding about that file.

use super::open::{open_in_trail, Counting, Inflate};
use super::TrailFile;
use std::error::Error;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;

/// Bytes asked of the file (or the decompressor) at a time.
const CHUNK: usize = 256 * 1024;

/// Reads the lines of trail files in bounded memory.
///
/// Memory per reader is one chunk (256 KiB) plus the longest line it keeps (`max_line`, 8 MiB
/// by default): a line longer than that is skipped and counted, never buffered whole.
///
/// | setting | default |
/// |---|---|
/// | [`max_line`](LineReader::max_line) | 8 MiB |
/// | [`long_line_is_damage`](LineReader::long_line_is_damage) | off: a long line is skipped and counted |
/// | [`max_bytes`](LineReader::max_bytes) | unlimited (memory stays bounded whatever the file holds) |
///
/// Whatever the setting, a `.gz` that inflates to more than 200 times its compressed size is
/// damage (a gzip bomb), and a FIFO or device where a file belongs is refused without blocking.
///
/// ```no_run
/// use std::ops::ControlFlow;
/// use tracing_audit::trail::{LineReader, Trail};
///
/// let trail = Trail::open("logs/audit", None)?;
/// let reader = LineReader::new();
/// for file in trail.files() {
///     let read = reader.read_lines(file, |line| {
///         let _ = line; // one complete line, without its newline
///         ControlFlow::Continue(())
///     });
///     if let Some(problem) = read.problem() {
///         eprintln!("warning: {problem}");
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct LineReader {
    max_line: usize,
    /// A line longer than `max_line` ends the read as damage instead of being skipped.
    long_line_is_damage: bool,
    /// Bytes of line data after which the read ends as damage.
    max_bytes: u64,
}

impl Default for LineReader {
    fn default() -> Self {
        LineReader::new()
    }
}

/// What reading one file found, besides its lines.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct FileRead {
    /// Bytes read from the disk (compressed bytes for a `.gz`).
    pub disk_bytes: u64,
    /// Bytes of line data seen (decompressed).
    pub data_bytes: u64,
    /// Lines longer than the reader's limit, skipped.
    pub oversized_lines: u64,
    /// The file ended without a newline: its last, incomplete line was not shown.
    pub torn_tail: bool,
    /// The reader's caller stopped early.
    pub stopped: bool,
    /// Where a later read of the same file resumes (a data offset, for
    /// [`read_chunks_from`](LineReader::read_chunks_from)): the end of the last complete line
    /// shown or skipped; the start of the run `f` stopped in when it stopped.
    pub resume_at: u64,
    problem: Option<FileProblem>,
    /// The incomplete last line when [`torn_tail`](FileRead::torn_tail) (empty when it was
    /// longer than the line limit).
    pub(crate) tail: Vec<u8>,
    /// The most the reader's buffer held at once (its capacity), for the verifier's accounting.
    pub(crate) buffer_peak: usize,
}

impl FileRead {
    /// Why the file could not be read to its end, if it could not. Lines before the damage
    /// were shown.
    pub fn problem(&self) -> Option<&FileProblem> {
        self.problem.as_ref()
    }

    /// Takes the problem out.
    pub fn take_problem(&mut self) -> Option<FileProblem> {
        self.problem.take()
    }
}

/// One file of a trail that could not be read, or not to its end.
#[derive(Debug)]
pub struct FileProblem {
    kind: FileProblemKind,
    file: String,
    source: io::Error,
}

/// What kind of [`FileProblem`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileProblemKind {
    /// The file could not be opened (permissions, ...).
    Unreadable,
    /// Reading or decompressing failed part way (a truncated or corrupt `.gz`, an I/O error):
    /// the lines before the damage were read.
    Damaged,
    /// The file was removed (pruned, or renamed by compression) after it was listed.
    Vanished,
}

impl FileProblem {
    pub(crate) fn new(kind: FileProblemKind, file: &TrailFile, source: io::Error) -> Self {
        FileProblem {
            kind,
            file: file.name().to_owned(),
            source,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> FileProblemKind {
        self.kind
    }

    /// The file's name on disk.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The I/O error behind it.
    pub(crate) fn into_io_error(self) -> io::Error {
        self.source
    }
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FileProblemKind::Unreadable => {
                write!(f, "{} cannot be read", super::Visible::str(&self.file))
            }
            FileProblemKind::Damaged => write!(
                f,
                "{} is damaged; the records after the damage were not read",
                super::Visible::str(&self.file)
            ),
            FileProblemKind::Vanished => write!(
                f,
                "{} disappeared while reading",
                super::Visible::str(&self.file)
            ),
        }
    }
}

impl Error for FileProblem {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// Lines of one file that a reader passed over: longer than its line limit, or, where a
/// record was looked for, not a record (not UTF-8, not a JSON object). A read command reports
/// them on stderr and ends with its "not read whole" exit code: never dropped silently.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedLines {
    /// The file's name on disk.
    pub file: String,
    /// Lines longer than the reader's limit.
    pub oversized: u64,
    /// Lines that are not records.
    pub unreadable: u64,
}

impl SkippedLines {
    /// What was skipped in `file`; `None` when nothing was.
    pub fn new(file: &TrailFile, oversized: u64, unreadable: u64) -> Option<Self> {
        (oversized + unreadable > 0).then(|| SkippedLines {
            file: file.name().to_owned(),
            oversized,
            unreadable,
        })
    }
}

/// `audit.….jsonl: 2 lines skipped as longer than the line limit, 1 as not a record`, with
/// the file name escaped ([`Visible`](super::Visible)).
impl fmt::Display for SkippedLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", super::Visible::str(&self.file))?;
        let lines = |n: u64| if n == 1 { "line" } else { "lines" };
        match (self.oversized, self.unreadable) {
            (o, 0) => write!(f, "{o} {} skipped as longer than the line limit", lines(o)),
            (0, u) => write!(f, "{u} {} skipped as not a record", lines(u)),
            (o, u) => write!(
                f,
                "{o} {} skipped as longer than the line limit, {u} as not a record",
                lines(o)
            ),
        }
    }
}

/// The file's data, inflated when it is a `.gz`.
enum Source {
    Plain(Counting<File>),
    Gz(Box<Inflate<io::BufReader<File>>>),
}

impl Source {
    /// Opens `file` positioned at byte `offset` of its (inflated) data. An offset past the end
    /// of the data is positioned at the end.
    fn open(file: &TrailFile, offset: u64) -> io::Result<Source> {
        use std::io::{Seek, SeekFrom};
        let mut f = open_in_trail(&file.path)?;
        if !file.gz {
            f.seek(SeekFrom::Start(offset))?;
            return Ok(Source::Plain(Counting::new(f)));
        }
        let mut gz = Inflate::new(io::BufReader::with_capacity(CHUNK, f))?;
        io::copy(&mut (&mut gz).take(offset), &mut io::sink())?;
        Ok(Source::Gz(Box::new(gz)))
    }

    fn disk_bytes(&self) -> u64 {
        match self {
            Source::Plain(c) => c.count,
            Source::Gz(d) => d.disk_bytes(),
        }
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(c) => c.read(buf),
            Source::Gz(d) => d.read(buf),
        }
    }
}

fn open_problem(file: &TrailFile, e: io::Error) -> FileProblem {
    let kind = if e.kind() == io::ErrorKind::NotFound {
        FileProblemKind::Vanished
    } else {
        FileProblemKind::Unreadable
    };
    FileProblem::new(kind, file, e)
}

impl LineReader {
    /// A reader with the default line limit (8 MiB).
    pub const fn new() -> Self {
        LineReader {
            max_line: 8 << 20,
            long_line_is_damage: false,
            max_bytes: u64::MAX,
        }
    }

    /// A line longer than [`max_line`](LineReader::max_line) ends the read with a
    /// [`FileProblemKind::Damaged`] problem saying so, instead of being skipped: for readers
    /// that must account for every line (the verifier).
    pub const fn long_line_is_damage(mut self) -> Self {
        self.long_line_is_damage = true;
        self
    }

    /// After `bytes` bytes of line data (inflated), the read ends with a
    /// [`FileProblemKind::Damaged`] problem saying so: for readers that keep what they read.
    pub const fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Ends `read` as damage with `why`.
    fn damage(read: &mut FileRead, file: &TrailFile, why: String) {
        read.problem = Some(FileProblem::new(
            FileProblemKind::Damaged,
            file,
            io::Error::new(io::ErrorKind::InvalidData, why),
        ));
    }

    /// Lines longer than `bytes` are skipped (and counted in [`FileRead::oversized_lines`])
    /// instead of being held in memory. At least 1 KiB.
    pub const fn max_line(mut self, bytes: usize) -> Self {
        self.max_line = if bytes < 1024 { 1024 } else { bytes };
        self
    }

    /// Calls `f` with runs of complete lines, in file order, until it returns `Break`. Each run
    /// is one or more lines, each ending with `\n`; runs hold at most one chunk plus one line.
    /// Empty lines may occur. A last line without its newline is not passed (see
    /// [`FileRead::torn_tail`]).
    pub fn read_chunks(
        &self,
        file: &TrailFile,
        f: impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> FileRead {
        self.read_chunks_from(file, 0, f)
    }

    /// [`read_chunks`](LineReader::read_chunks) from byte `offset` of the file's data (inflated
    /// for a `.gz`, which is read up to there), which must be the start of a line: for readers
    /// that resume where they stopped (`tail --follow`, a shipping cursor). The bytes before
    /// `offset` are counted in neither [`FileRead::data_bytes`] nor the limits.
    pub fn read_chunks_from(
        &self,
        file: &TrailFile,
        offset: u64,
        mut f: impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> FileRead {
        let mut read = FileRead::default();
        let mut source = match Source::open(file, offset) {
            Ok(s) => s,
            Err(e) => {
                read.problem = Some(open_problem(file, e));
                return read;
            }
        };
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK * 2);
        // Inside a line that is too long: drop bytes up to its newline.
        let mut skipping = false;
        // Data offsets of `buf[0]`, and of the long line being skipped.
        let mut base = offset;
        let mut long_line_start = offset;
        loop {
            let start = buf.len();
            buf.resize(start + CHUNK, 0);
            let n = match source.read(&mut buf[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    buf.truncate(start);
                    continue;
                }
                Err(e) => {
                    buf.truncate(start);
                    read.problem = Some(FileProblem::new(FileProblemKind::Damaged, file, e));
                    break;
                }
            };
            read.buffer_peak = read.buffer_peak.max(buf.capacity());
            buf.truncate(start + n);
            if n == 0 {
                break;
            }
            read.data_bytes += n as u64;
            if read.data_bytes > self.max_bytes {
                let why = format!(
                    "holds more than {} bytes of records, more than this reader keeps",
                    self.max_bytes
                );
                Self::damage(&mut read, file, why);
                break;
            }
            let Some(last_nl) = memchr::memrchr(b'\n', &buf[start..]).map(|i| start + i) else {
                if buf.len() > self.max_line && self.long_line_is_damage {
                    let why = format!(
                        "holds a line longer than {} bytes, more than any record",
                        self.max_line
                    );
                    Self::damage(&mut read, file, why);
                    break;
                }
                if buf.len() > self.max_line {
                    if !skipping {
                        read.oversized_lines += 1;
                        long_line_start = base;
                    }
                    skipping = true;
                    base += buf.len() as u64;
                    buf.clear();
                }
                continue;
            };
            let mut from = 0;
            if skipping {
                // The newline ending the long line is in this chunk (nothing before it is kept).
                from = memchr::memchr(b'\n', &buf).map_or(0, |i| i + 1);
                skipping = false;
            }
            if from <= last_nl && f(&buf[from..=last_nl]).is_break() {
                read.stopped = true;
                break;
            }
            base += last_nl as u64 + 1;
            let rest = buf.len() - (last_nl + 1);
            buf.copy_within(last_nl + 1.., 0);
            buf.truncate(rest);
        }
        read.resume_at = if skipping { long_line_start } else { base };
        read.torn_tail = !read.stopped && read.problem.is_none() && (!buf.is_empty() || skipping);
        if read.torn_tail && !skipping {
            read.tail = buf;
        }
        read.disk_bytes = source.disk_bytes();
        read
    }

    /// Calls `f` with every complete, non-empty line (without its newline), in file order,
    /// until it returns `Break`.
    pub fn read_lines(
        &self,
        file: &TrailFile,
        mut f: impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> FileRead {
        self.read_chunks(file, |chunk| each_line(chunk, &mut f))
    }

    /// [`read_lines`](LineReader::read_lines) from byte `offset` of the file's data, which must
    /// be the start of a line; [`FileRead::resume_at`] is where the next call goes on.
    pub fn read_lines_from(
        &self,
        file: &TrailFile,
        offset: u64,
        mut f: impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> FileRead {
        self.read_chunks_from(file, offset, |chunk| each_line(chunk, &mut f))
    }

    /// Calls `f` with the complete, non-empty lines of a plain file that end at or before byte
    /// `end`, newest first, reading backward from `end` one chunk at a time, until `f` returns
    /// `Break`. Only as much of the file as the lines shown (plus one chunk) is read. A line
    /// cut by `end` (no newline before it) is not shown.
    ///
    /// A compressed file cannot be read backward; for one, this reads it forward and keeps
    /// nothing but what `f` is given, newest first, at the cost of reading the whole file and
    /// holding its lines: use [`read_lines`](LineReader::read_lines) with a bounded buffer for
    /// large compressed files.
    pub fn read_lines_backward(
        &self,
        file: &TrailFile,
        end: u64,
        mut f: impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> FileRead {
        if file.gz {
            let mut lines: Vec<Vec<u8>> = Vec::new();
            let mut read = self.read_lines(file, |l| {
                lines.push(l.to_vec());
                ControlFlow::Continue(())
            });
            for l in lines.iter().rev() {
                if f(l).is_break() {
                    read.stopped = true;
                    break;
                }
            }
            return read;
        }
        let mut read = FileRead::default();
        let handle = match open_in_trail(&file.path) {
            Ok(h) => h,
            Err(e) => {
                read.problem = Some(open_problem(file, e));
                return read;
            }
        };
        let end = match handle.metadata() {
            Ok(m) => end.min(m.len()),
            Err(e) => {
                read.problem = Some(open_problem(file, e));
                return read;
            }
        };
        let mut pos = end;
        // Bytes from `pos` to the next newline not yet shown (the start of a line that begins
        // before `pos`), followed by nothing: the buffer holds [pos .. first unshown newline).
        let mut carry: Vec<u8> = Vec::new();
        // Until the first newline from the end is seen, bytes belong to a cut last line.
        let mut in_cut_tail = true;
        let mut skipping = false;
        let mut chunk = vec![0u8; CHUNK];
        while pos > 0 {
            let len = CHUNK.min(pos as usize);
            pos -= len as u64;
            if let Err(e) = handle.read_exact_at(&mut chunk[..len], pos) {
                read.problem = Some(FileProblem::new(FileProblemKind::Damaged, file, e));
                return read;
            }
            read.disk_bytes += len as u64;
            read.data_bytes += len as u64;
            let mut data = Vec::with_capacity(len + carry.len());
            data.extend_from_slice(&chunk[..len]);
            data.extend_from_slice(&carry);
            carry.clear();
            let mut line_end = data.len();
            let mut stop = false;
            while let Some(nl) = memchr::memrchr(b'\n', &data[..line_end]) {
                let line = &data[nl + 1..line_end];
                if in_cut_tail {
                    in_cut_tail = false;
                    read.torn_tail = !line.is_empty();
                } else if skipping {
                    skipping = false;
                } else if !line.is_empty() && f(line).is_break() {
                    stop = true;
                    break;
                }
                line_end = nl;
            }
            if stop {
                read.stopped = true;
                return read;
            }
            if line_end > self.max_line {
                if !in_cut_tail && !skipping {
                    read.oversized_lines += 1;
                }
                skipping = !in_cut_tail;
            } else {
                carry.extend_from_slice(&data[..line_end]);
            }
        }
        if !in_cut_tail && !skipping && !carry.is_empty() && f(&carry).is_break() {
            read.stopped = true;
        }
        if in_cut_tail && end > 0 {
            read.torn_tail = true;
        }
        read
    }
}

/// Calls `f` with each non-empty line of `chunk` (newline-separated), until it breaks.
pub(crate) fn each_line(
    chunk: &[u8],
    mut f: impl FnMut(&[u8]) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', chunk).chain(std::iter::once(chunk.len())) {
        if nl > start && f(&chunk[start..nl]).is_break() {
            return ControlFlow::Break(());
        }
        start = nl + 1;
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::Trail;

    fn lines_of(content: &[u8], max_line: usize, gz: bool) -> (Vec<Vec<u8>>, FileRead) {
        let dir = tempfile::tempdir().unwrap();
        let name = if gz {
            "a.2026-11-26.0001.jsonl.gz"
        } else {
            "a.2026-11-26.0001.jsonl"
        };
        let bytes = if gz { gzip(content) } else { content.to_vec() };
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let t = Trail::open(dir.path(), None).unwrap();
        let mut out = Vec::new();
        let read = LineReader::new()
            .max_line(max_line)
            .read_lines(&t.files()[0], |l| {
                out.push(l.to_vec());
                ControlFlow::Continue(())
            });
        (out, read)
    }

    fn backward(content: &[u8], end: u64, max_line: usize) -> (Vec<Vec<u8>>, FileRead) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.2026-11-26.0001.jsonl"), content).unwrap();
        let t = Trail::open(dir.path(), None).unwrap();
        let mut out = Vec::new();
        let read =
            LineReader::new()
                .max_line(max_line)
                .read_lines_backward(&t.files()[0], end, |l| {
                    out.push(l.to_vec());
                    ControlFlow::Continue(())
                });
        (out, read)
    }

    fn gzip(raw: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(raw).unwrap();
        gz.finish().unwrap()
    }

    /// Lines of assorted lengths, some spanning chunk boundaries.
    fn corpus() -> Vec<u8> {
        let mut c = Vec::new();
        for i in 0..4000usize {
            c.extend(std::iter::repeat_n(
                b'a' + (i % 26) as u8,
                (i * 37) % 700 + 1,
            ));
            c.push(b'\n');
            if i % 97 == 0 {
                c.push(b'\n');
            }
        }
        c
    }

    fn expected(c: &[u8]) -> Vec<Vec<u8>> {
        crate::trail::complete_lines(c)
            .map(<[u8]>::to_vec)
            .collect()
    }

    #[test]
    fn forward_and_backward_agree_with_splitting_the_whole_file() {
        let mut c = corpus();
        let want = expected(&c);
        assert_eq!(lines_of(&c, 1 << 20, false).0, want);
        #[cfg(feature = "gzip")]
        assert_eq!(lines_of(&c, 1 << 20, true).0, want);
        let mut rev = want.clone();
        rev.reverse();
        assert_eq!(backward(&c, c.len() as u64, 1 << 20).0, rev);
        // A torn last line is never a line, in either direction.
        c.extend_from_slice(b"torn");
        let (fwd, read) = lines_of(&c, 1 << 20, false);
        assert_eq!(fwd, want);
        assert!(read.torn_tail);
        let (back, read) = backward(&c, c.len() as u64, 1 << 20);
        assert_eq!(back, rev);
        assert!(read.torn_tail);
    }

    #[test]
    fn backward_from_an_offset_reads_only_what_it_shows() {
        let c = corpus();
        let mut shown = 0;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.2026-11-26.0001.jsonl"), &c).unwrap();
        let t = Trail::open(dir.path(), None).unwrap();
        let read = LineReader::new().read_lines_backward(&t.files()[0], c.len() as u64, |_| {
            shown += 1;
            if shown == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert!(read.stopped);
        assert!(read.disk_bytes <= CHUNK as u64, "{}", read.disk_bytes);
        // Up to a line boundary in the middle.
        let mid = c.len() / 2;
        let cut = memchr::memrchr(b'\n', &c[..mid]).unwrap() + 1;
        let mut want = expected(&c[..cut]);
        want.reverse();
        assert_eq!(backward(&c, cut as u64, 1 << 20).0, want);
    }

    #[test]
    fn long_lines_are_skipped_and_counted_not_buffered() {
        let mut c = b"short\n".to_vec();
        c.extend(std::iter::repeat_n(b'x', 3 * CHUNK));
        c.extend_from_slice(b"\nafter\n");
        let (fwd, read) = lines_of(&c, 4096, false);
        assert_eq!(fwd, [b"short".to_vec(), b"after".to_vec()]);
        assert_eq!(read.oversized_lines, 1);
        let (back, read) = backward(&c, c.len() as u64, 4096);
        assert_eq!(back, [b"after".to_vec(), b"short".to_vec()]);
        assert_eq!(read.oversized_lines, 1);
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn a_truncated_gzip_yields_its_lines_before_the_damage_and_a_problem() {
        let c = corpus();
        let gz = gzip(&c);
        let dir = tempfile::tempdir().unwrap();
        let name = "a.2026-11-26.0001.jsonl.gz";
        std::fs::write(dir.path().join(name), &gz[..gz.len() / 2]).unwrap();
        let t = Trail::open(dir.path(), None).unwrap();
        let mut n = 0;
        let read = LineReader::new().read_lines(&t.files()[0], |_| {
            n += 1;
            ControlFlow::Continue(())
        });
        let p = read.problem().expect("damage is reported");
        assert_eq!(p.kind(), FileProblemKind::Damaged);
        assert_eq!(p.file(), name);
        assert!(n > 0 && n < expected(&c).len(), "{n}");
    }
}
