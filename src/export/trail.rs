//! Exporting a whole trail directory, one line in memory at a time.

use super::{ExportError, ExportErrorKind, Format};
use crate::trail::{
    printable_json, FileProblemKind, LineReader, SkippedLines, Trail, TrailErrorKind,
};
use serde_json::Value;
use std::fmt;
use std::io::{self, Write};
use std::ops::ControlFlow;
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
    #[cfg(feature = "shred")]
    reveal: Option<&'f crate::shred::Revealer>,
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
            #[cfg(feature = "shred")]
            reveal: None,
        }
    }

    /// Encrypted fields (feature `shred`) as `revealer` shows them: plain with the key store,
    /// erased after an erasure; without this they are exported as encrypted strings.
    #[cfg(feature = "shred")]
    #[cfg_attr(docsrs, doc(cfg(feature = "shred")))]
    pub fn reveal(mut self, revealer: &'f crate::shred::Revealer) -> Self {
        self.reveal = Some(revealer);
        self
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Lines read from the trail.
    pub lines: u64,
    /// Mapped objects written.
    pub exported: u64,
    /// Lines that are not JSON objects.
    pub unreadable: u64,
    /// Per file, the lines skipped: longer than the line limit, or not JSON objects. A
    /// caller reports them (the CLI on stderr, with a non-zero exit).
    pub skipped: Vec<SkippedLines>,
    /// The reader of `out` went away (a closed pipe: `| head`): the export stopped there. The
    /// counts are those of the lines read until then.
    pub stopped: bool,
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
    let mut encoded = Vec::with_capacity(4096);
    let mut write_failed = None;
    let reader = LineReader::new();
    // The trail's own reader: streamed, gzip decompressed as it reads, torn last lines skipped,
    // over-long lines counted.
    for file in trail.files() {
        let mut unreadable = 0;
        let mut read = reader.read_lines(file, |line| {
            summary.lines += 1;
            match export_line(line, &mut options, &mut encoded) {
                Exported::Line => {}
                Exported::Nothing => return ControlFlow::Continue(()),
                Exported::Unreadable => {
                    unreadable += 1;
                    return ControlFlow::Continue(());
                }
            }
            // A line someone else wrote may hold characters the writer escapes (C1, bidi):
            // they leave escaped, as the writer would have written them.
            let written = out
                .write_all(&printable_json(&encoded))
                .and_then(|()| out.write_all(b"\n"));
            if let Err(e) = written {
                write_failed = Some(e);
                return ControlFlow::Break(());
            }
            summary.exported += 1;
            ControlFlow::Continue(())
        });
        summary.unreadable += unreadable;
        summary
            .skipped
            .extend(SkippedLines::new(file, read.oversized_lines, unreadable));
        match write_failed {
            Some(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                summary.stopped = true;
                return Ok(summary);
            }
            Some(e) => return Err(write_error(e)),
            None => {}
        }
        match read.take_problem() {
            Some(p) if p.kind() == FileProblemKind::Vanished => continue,
            Some(p) => {
                return Err(ExportError::new(
                    ExportErrorKind::Read,
                    dir.display().to_string(),
                    Some(io::Error::other(p).into()),
                ))
            }
            None => {}
        }
    }
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => summary.stopped = true,
        Err(e) => return Err(write_error(e)),
        Ok(()) => {}
    }
    Ok(summary)
}

/// What one line of the trail came to.
enum Exported {
    /// `encoded` holds the mapped object (one line, without its newline).
    Line,
    /// A control or debug record, or one the filter rejects.
    Nothing,
    /// Not a JSON object.
    Unreadable,
}

fn export_line(line: &[u8], options: &mut ExportOptions<'_>, encoded: &mut Vec<u8>) -> Exported {
    #[cfg(feature = "shred")]
    let revealed = options.reveal.map(|r| r.reveal_line(line));
    #[cfg(feature = "shred")]
    let line: &[u8] = revealed.as_deref().unwrap_or(line);
    let Ok(text) = std::str::from_utf8(line) else {
        return Exported::Unreadable;
    };
    let text = text.trim_end_matches('\r');
    if text.is_empty() {
        return Exported::Nothing;
    }
    let Ok(record @ Value::Object(_)) = serde_json::from_str::<Value>(text) else {
        return Exported::Unreadable;
    };
    if let Some(filter) = options.filter.as_mut() {
        if !filter(&record) {
            return Exported::Nothing;
        }
    }
    let Some(mapped) = options.format.map_record(&record, text) else {
        return Exported::Nothing;
    };
    encoded.clear();
    // Serializing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *encoded, &mapped);
    Exported::Line
}

fn write_error(e: io::Error) -> ExportError {
    ExportError::new(ExportErrorKind::Write, "the export", Some(e.into()))
}
