//! Reading one stream's records in file order, from a position on, following rotation and
//! compression by the sink's own file names.

use super::error::{ShipError, ShipErrorKind};
use crate::trail::cursor::Position;
use crate::trail::open::{open_in_trail, Inflate};
use crate::trail::{naming, Trail, TrailFile};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One record read from the files.
#[derive(Debug)]
pub(crate) struct Record {
    /// The line without its newline.
    pub(crate) line: Vec<u8>,
    /// The position just past it.
    pub(crate) end: Position,
}

/// Something the reader had to step over, reported to the operator.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// The cursor's file no longer exists (deleted before it was shipped): reading went on
    /// with the next file.
    MissingFile(String),
    /// A closed file ended without a newline; those bytes were not shipped.
    TornTail { file: String, bytes: usize },
}

struct Open {
    base: String,
    reader: Box<dyn Read + Send>,
    /// Offset (in the uncompressed content) of `buf[0]`.
    offset: u64,
    buf: Vec<u8>,
    /// Where in `buf` the next line starts.
    start: usize,
}

/// The reader.
pub(crate) struct Source {
    dir: PathBuf,
    prefix: String,
    open: Option<Open>,
    /// Where to start when nothing is open (after a seek).
    from: Option<Position>,
    last_seq: Option<u64>,
    last_mac: Option<String>,
    pub(crate) skipped: Vec<Skipped>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("dir", &self.dir)
            .field("prefix", &self.prefix)
            .field("file", &self.open.as_ref().map(|o| &o.base))
            .finish_non_exhaustive()
    }
}

const CHUNK: usize = 256 * 1024;

/// The longest line the shipper reads (the trail readers' limit): a longer one stops it with an
/// error naming the file and offset.
const MAX_LINE: usize = 8 << 20;

impl Source {
    pub(crate) fn new(dir: &Path, prefix: &str) -> Self {
        Source {
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
            open: None,
            from: None,
            last_seq: None,
            last_mac: None,
            skipped: Vec::new(),
        }
    }

    /// Reads on from `pos` (the start of the first file when `None`).
    pub(crate) fn seek(&mut self, pos: Option<&Position>) {
        self.open = None;
        self.from = pos.cloned();
        self.last_seq = pos.and_then(|p| p.seq);
        self.last_mac = pos.and_then(|p| p.mac.clone());
    }

    /// The stream's files, oldest first.
    pub(crate) fn files(&self) -> io::Result<Vec<TrailFile>> {
        match Trail::open(&self.dir, Some(&self.prefix)) {
            Ok(t) => Ok(t.files().to_vec()),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    /// The next complete record; `None` when everything written so far has been read.
    pub(crate) fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            if self.open.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let Some(o) = self.open.as_mut() else {
                return Ok(None);
            };
            if let Some(rec) = take_line(o, &mut self.last_seq, &mut self.last_mac) {
                return Ok(Some(rec));
            }
            if fill(o)? > 0 {
                continue;
            }
            // At the end of what is written. A later file means this one is closed: the sink
            // never appends to a file after starting the next. Read once more (it may have been
            // finished between the read above and the listing), then move on.
            let base = o.base.clone();
            let later = self
                .files()?
                .into_iter()
                .any(|f| after(f.written_as(), &base));
            if !later {
                return Ok(None);
            }
            let Some(o) = self.open.as_mut() else {
                return Ok(None);
            };
            if fill(o)? > 0 {
                continue;
            }
            let torn = o.buf.len() - o.start;
            if torn > 0 {
                self.skipped.push(Skipped::TornTail {
                    file: base.clone(),
                    bytes: torn,
                });
            }
            self.from = Some(Position {
                file: base,
                offset: u64::MAX,
                seq: self.last_seq,
                mac: self.last_mac.clone(),
            });
            self.open = None;
        }
    }

    /// Opens the file to read next; false when there is none (yet).
    fn open_next(&mut self) -> io::Result<bool> {
        let files = self.files()?;
        let (file, offset) = match self.from.take() {
            None => match files.into_iter().next() {
                Some(f) => (f, 0),
                None => return Ok(false),
            },
            Some(pos) => {
                if pos.offset != u64::MAX {
                    if let Some(f) = files.iter().find(|f| f.written_as() == pos.file) {
                        (f.clone(), pos.offset)
                    } else {
                        match files.into_iter().find(|f| after(f.written_as(), &pos.file)) {
                            Some(f) => {
                                self.skipped.push(Skipped::MissingFile(pos.file.clone()));
                                (f, 0)
                            }
                            None => {
                                self.from = Some(pos);
                                return Ok(false);
                            }
                        }
                    }
                } else {
                    // Past the end of `pos.file`: the first file after it.
                    match files.into_iter().find(|f| after(f.written_as(), &pos.file)) {
                        Some(f) => (f, 0),
                        None => {
                            self.from = Some(pos);
                            return Ok(false);
                        }
                    }
                }
            }
        };
        let reader = open_at(&file, offset)?;
        self.open = Some(Open {
            base: file.written_as().to_owned(),
            reader,
            offset,
            buf: Vec::with_capacity(CHUNK),
            start: 0,
        });
        Ok(true)
    }
}

/// The record with sequence number `seq` in the trail `prefix` of `dir`: the position just
/// before it (`None` when it is the trail's first record) and the position just past it (whose
/// `seq` and `mac` are its own). Reads from the first file on: a deliberate start is rare.
pub(crate) fn find_seq(
    dir: &Path,
    prefix: &str,
    seq: u64,
) -> Result<(Option<Position>, Position), ShipError> {
    let mut s = Source::new(dir, prefix);
    let mut before = None;
    loop {
        match s.next_record() {
            Ok(Some(rec)) => {
                if crate::trail::trailer::parse_seq(&rec.line) == Some(seq)
                    && rec.end.seq == Some(seq)
                {
                    return Ok((before, rec.end));
                }
                before = Some(rec.end);
            }
            Ok(None) => {
                return Err(ShipError::new(
                    ShipErrorKind::Config,
                    format!(
                        "no record with seq {seq} in the {prefix} trail in {}",
                        dir.display()
                    ),
                ))
            }
            Err(e) => {
                return Err(ShipError::with_source(
                    ShipErrorKind::Io,
                    format!("cannot read the {prefix} files"),
                    e,
                ))
            }
        }
    }
}

/// Whether the file named `a` was started after the one named `b` (names as written, without
/// `.gz`; see [`naming::started_after`]). A name that is not a data file's sorts as text.
pub(crate) fn after(a: &str, b: &str) -> bool {
    naming::started_after(a, b).unwrap_or(a > b)
}

/// Opens `file` positioned at `offset` of its uncompressed content, through the crate's one
/// opener and gzip decoder (regular files only, never through a symlink, inflate ratio capped).
fn open_at(file: &TrailFile, offset: u64) -> io::Result<Box<dyn Read + Send>> {
    let mut f = open_in_trail(file.path())?;
    if !file.is_compressed() {
        f.seek(SeekFrom::Start(offset))?;
        return Ok(Box::new(f));
    }
    let mut r = Inflate::new(io::BufReader::new(f))?;
    let skipped = io::copy(&mut (&mut r).take(offset), &mut io::sink())?;
    if skipped < offset {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is shorter than the shipping cursor's offset {offset}",
                file.path().display()
            ),
        ));
    }
    Ok(Box::new(r))
}

/// Reads more of the open file; 0 at its current end.
fn fill(o: &mut Open) -> io::Result<usize> {
    if o.start > 0 {
        o.buf.drain(..o.start);
        o.offset += o.start as u64;
        o.start = 0;
    }
    let len = o.buf.len();
    if len > MAX_LINE && memchr::memchr(b'\n', &o.buf).is_none() {
        // Nothing the layer writes is this long (and no receiver would take it): stop here,
        // visibly, instead of buffering the line whole.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: a line at offset {} is longer than {MAX_LINE} bytes; it cannot be shipped",
                o.base, o.offset
            ),
        ));
    }
    o.buf.resize(len + CHUNK, 0);
    let n = loop {
        match o.reader.read(&mut o.buf[len..]) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                o.buf.truncate(len);
                return Err(e);
            }
        }
    };
    o.buf.truncate(len + n);
    Ok(n)
}

fn take_line(o: &mut Open, seq: &mut Option<u64>, mac: &mut Option<String>) -> Option<Record> {
    let rest = &o.buf[o.start..];
    let nl = memchr::memchr(b'\n', rest)?;
    let line = rest[..nl].to_vec();
    o.start += nl + 1;
    if let Some(t) = crate::chain::parse_trailer(&line) {
        *seq = Some(t.seq);
        *mac = crate::trail::trailer::mac_text(&line).map(str::to_owned);
    }
    Some(Record {
        line,
        end: Position {
            file: o.base.clone(),
            offset: o.offset + o.start as u64,
            seq: *seq,
            mac: mac.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn drain(s: &mut Source) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(r) = s.next_record().unwrap() {
            out.push(String::from_utf8(r.line).unwrap());
        }
        out
    }

    #[test]
    fn files_are_read_in_order_following_rotation_and_resuming_at_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("audit.2026-12-01.0001.jsonl"), "a\nb\n").unwrap();
        fs::write(d.join("audit.2026-12-01.0002.jsonl"), "c\nd").unwrap();
        fs::write(d.join("debug.2026-12-01.0001.jsonl"), "x\n").unwrap();
        let mut s = Source::new(d, "audit");
        assert_eq!(drain(&mut s), ["a", "b", "c"]);
        // The active file grows.
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(d.join("audit.2026-12-01.0002.jsonl"))
            .unwrap();
        std::io::Write::write_all(&mut f, b"\ne\n").unwrap();
        assert_eq!(drain(&mut s), ["d", "e"]);
        // Resume after "b": the position is in the first file.
        s.seek(Some(&Position {
            file: "audit.2026-12-01.0001.jsonl".into(),
            offset: 4,
            seq: None,
            mac: None,
        }));
        assert_eq!(drain(&mut s), ["c", "d", "e"]);
        assert!(s.skipped.is_empty());
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn a_file_compressed_after_the_cursor_was_saved_is_resumed_inside() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a\nb\nc\n").unwrap();
        fs::write(
            d.join("audit.2026-12-01.0001.jsonl.gz"),
            gz.finish().unwrap(),
        )
        .unwrap();
        fs::write(d.join("audit.2026-12-01.0002.jsonl"), "d\n").unwrap();
        let mut s = Source::new(d, "audit");
        s.seek(Some(&Position {
            file: "audit.2026-12-01.0001.jsonl".into(),
            offset: 2,
            seq: None,
            mac: None,
        }));
        assert_eq!(drain(&mut s), ["b", "c", "d"]);
    }

    #[test]
    fn a_deleted_file_is_reported_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("audit.2026-12-01.0003.jsonl"), "z\n").unwrap();
        let mut s = Source::new(d, "audit");
        s.seek(Some(&Position {
            file: "audit.2026-12-01.0001.jsonl".into(),
            offset: 10,
            seq: None,
            mac: None,
        }));
        assert_eq!(drain(&mut s), ["z"]);
        assert_eq!(
            s.skipped,
            [Skipped::MissingFile("audit.2026-12-01.0001.jsonl".into())]
        );
    }
}
