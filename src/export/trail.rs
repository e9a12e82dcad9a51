//! Exporting a whole trail directory, one line in memory at a time.

use super::{ExportError, ExportErrorKind, Format};
use crate::trail::{Trail, TrailErrorKind, TrailFile};
use serde_json::Value;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

/// A record filter of [`ExportOptions::filter`].
type Filter<'f> = Box<dyn FnMut(&Value) -> bool + 'f>;

/// What [`export_trail`] exports and how.
///
/// | setting | default |
/// |---|---|
/// | `prefix` | the only trail in the directory (an error when there are several) |
/// | `filter` | every audit record |
///
/// ```
/// use tracing_audit::export::{ExportOptions, Format};
/// let options = ExportOptions::new(Format::Ocsf)
///     .prefix("audit")
///     .filter(|record| record["actor"] == "alice");
/// # let _ = options;
/// ```
#[must_use]
pub struct ExportOptions<'f> {
    format: Format,
    prefix: Option<String>,
    filter: Option<Filter<'f>>,
}

impl fmt::Debug for ExportOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportOptions")
            .field("format", &self.format)
            .field("prefix", &self.prefix)
            .field("filter", &self.filter.is_some())
            .finish()
    }
}

impl<'f> ExportOptions<'f> {
    /// Every audit record of the directory's one trail, in `format`.
    pub fn new(format: Format) -> Self {
        ExportOptions {
            format,
            prefix: None,
            filter: None,
        }
    }

    /// Only the trail whose files are named `<prefix>.<stamp>.<NNNN>.jsonl[.gz]`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Only the records (as written, before mapping) for which `filter` returns `true`.
    pub fn filter(mut self, filter: impl FnMut(&Value) -> bool + 'f) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }
}

/// Counts of one export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Lines read from the trail.
    pub lines: u64,
    /// Mapped objects written.
    pub exported: u64,
    /// Lines that are not JSON objects (a torn last line of a crashed writer).
    pub unreadable: u64,
}

/// Writes the OCSF or ECS mapping of every audit record in the trail directory `dir` to `out`,
/// one JSON object per line, in file order (sealed and compressed files, then the active one).
/// Control records, debug records and records the filter rejects are skipped.
///
/// Streams: memory use is one line, whatever the size of the trail.
///
/// ```no_run
/// use tracing_audit::export::{export_trail, ExportOptions, Format};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let stdout = std::io::stdout();
/// let summary = export_trail("logs/audit", ExportOptions::new(Format::Ecs), stdout.lock())?;
/// eprintln!("{} records exported", summary.exported);
/// # Ok(()) }
/// ```
pub fn export_trail(
    dir: impl AsRef<Path>,
    mut options: ExportOptions<'_>,
    out: impl Write,
) -> Result<ExportSummary, ExportError> {
    let dir = dir.as_ref();
    let trail = Trail::open(dir, options.prefix.as_deref()).map_err(|e| {
        let kind = match e.kind() {
            TrailErrorKind::SeveralTrails => ExportErrorKind::SeveralTrails,
            _ => ExportErrorKind::Read,
        };
        ExportError::new(kind, dir.display().to_string(), Some(e.into()))
    })?;
    let mut out = io::BufWriter::new(out);
    let mut summary = ExportSummary::default();
    let mut line = Vec::with_capacity(4096);
    let mut encoded = Vec::with_capacity(4096);
    for file in trail.files() {
        let mut reader = match open(file) {
            Ok(r) => r,
            // Retention may prune, or compression rename, a file while we walk.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_error(file, e)),
        };
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(read_error(file, e)),
            }
            // A last line without its newline is torn (or still being written): not a record,
            // as for every other reader of trails.
            if line.last() != Some(&b'\n') {
                break;
            }
            summary.lines += 1;
            let text = match std::str::from_utf8(&line) {
                Ok(t) => t.trim_end_matches(['\n', '\r']),
                Err(_) => {
                    summary.unreadable += 1;
                    continue;
                }
            };
            if text.is_empty() {
                continue;
            }
            let Ok(record @ Value::Object(_)) = serde_json::from_str::<Value>(text) else {
                summary.unreadable += 1;
                continue;
            };
            if let Some(filter) = options.filter.as_mut() {
                if !filter(&record) {
                    continue;
                }
            }
            let Some(mapped) = options.format.map_record(&record, text) else {
                continue;
            };
            encoded.clear();
            // Serializing a `Value` into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut encoded, &mapped);
            encoded.push(b'\n');
            out.write_all(&encoded).map_err(write_error)?;
            summary.exported += 1;
        }
    }
    out.flush().map_err(write_error)?;
    Ok(summary)
}

fn read_error(file: &TrailFile, e: io::Error) -> ExportError {
    if e.kind() == io::ErrorKind::Unsupported {
        return ExportError::new(
            ExportErrorKind::GzipUnsupported,
            file.path().display().to_string(),
            Some(e.into()),
        );
    }
    ExportError::new(
        ExportErrorKind::Read,
        file.path().display().to_string(),
        Some(e.into()),
    )
}

fn write_error(e: io::Error) -> ExportError {
    ExportError::new(ExportErrorKind::Write, "the export", Some(e.into()))
}

/// A buffered reader over a trail file, decompressing `.gz` files as it reads.
fn open(file: &TrailFile) -> io::Result<Box<dyn BufRead>> {
    let f = File::open(file.path())?;
    if !file.is_compressed() {
        return Ok(Box::new(BufReader::with_capacity(64 * 1024, f)));
    }
    gunzip(f)
}

#[cfg(feature = "gzip")]
fn gunzip(f: File) -> io::Result<Box<dyn BufRead>> {
    let raw = BufReader::with_capacity(64 * 1024, f);
    Ok(Box::new(BufReader::with_capacity(
        64 * 1024,
        flate2::bufread::MultiGzDecoder::new(raw),
    )))
}

#[cfg(not(feature = "gzip"))]
fn gunzip(_f: File) -> io::Result<Box<dyn BufRead>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "gzip support is not compiled in",
    ))
}
