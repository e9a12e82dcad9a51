//! Reading a trail: the files of one stream in the order they were written.
//!
//! A sink writes `<prefix>.<stamp>.<NNNN>.jsonl` files, rotates them, and may compress closed
//! ones to `.jsonl.gz`. [`Trail`] finds them by that naming (never by inode or modification
//! time), orders them by stamp and counter, reads compressed and plain files alike, and skips
//! what is not a regular file (the `<prefix>.current.jsonl` link, FIFOs, directories). The
//! verifier, the command-line tool and the shipper all read trails through it.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use tracing_audit::trail::Trail;
//!
//! let trail = Trail::open("logs/audit", None)?;
//! let mut records = 0;
//! trail.for_each_line(|_file, _line| {
//!     records += 1;
//!     ControlFlow::Continue(())
//! })?;
//! println!("{records} lines in {} files", trail.files().len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod cursor;
pub(crate) mod files;
pub(crate) mod hex;
pub(crate) mod json;
pub(crate) mod naming;
pub(crate) mod open;
pub(crate) mod read;
pub(crate) mod time;
pub(crate) mod trailer;
mod visible;
pub(crate) mod write;

pub use files::TrailFile;

/// The version of the trail format this crate writes, and the newest it reads: `"format"` in
/// every `genesis` and `seal` record (the start of a trail and the end of each of its files).
/// A reader meets one before it trusts a file's ending and branches on it; a record that names a
/// newer format is reported as unverifiable by name, never misread. Trails written before the
/// key existed (none were published) are format 1. See CHANGELOG.md for what each version holds.
pub const FORMAT: u64 = 1;
pub use json::printable_json;
pub use read::{FileProblem, FileProblemKind, FileRead, LineReader, SkippedLines};
pub use visible::{is_hidden, Visible};

use std::error::Error;
use std::fmt;
use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// The files of one trail in a directory, in the order they were written.
#[derive(Debug)]
pub struct Trail {
    dir: PathBuf,
    listing: files::Listing,
}

impl Trail {
    /// Lists the trail in `dir`. `prefix` picks one trail when the directory holds several
    /// (`audit` for `audit.*.jsonl`); without it the directory must hold at most one.
    ///
    /// # Errors
    /// The directory cannot be listed ([`TrailErrorKind::Io`]), or it holds several trails and
    /// no prefix was given ([`TrailErrorKind::SeveralTrails`]).
    pub fn open(dir: impl AsRef<Path>, prefix: Option<&str>) -> Result<Trail, TrailError> {
        let dir = dir.as_ref();
        let listing = files::list(dir, prefix).map_err(|e| TrailError {
            kind: TrailErrorKind::Io,
            context: format!("cannot list {}", dir.display()),
            source: Some(e),
        })?;
        let prefixes = files::prefixes(&listing);
        if prefixes.len() > 1 {
            return Err(TrailError {
                kind: TrailErrorKind::SeveralTrails,
                context: format!(
                    "{} holds several trails ({}); choose one by its prefix",
                    dir.display(),
                    prefixes.join(", ")
                ),
                source: None,
            });
        }
        Ok(Trail {
            dir: dir.to_path_buf(),
            listing,
        })
    }

    /// The prefixes of the trails in `dir` (`audit`, `debug`), in order: one per trail.
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn prefixes_in(dir: impl AsRef<Path>) -> Result<Vec<String>, TrailError> {
        let dir = dir.as_ref();
        let listing = files::list(dir, None).map_err(|e| TrailError {
            kind: TrailErrorKind::Io,
            context: format!("cannot list {}", dir.display()),
            source: Some(e),
        })?;
        Ok(files::prefixes(&listing))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The trail's files, oldest first. While a closed file is being compressed only its
    /// complete plain form is listed.
    pub fn files(&self) -> &[TrailFile] {
        &self.listing.files
    }

    /// Torn tails the writer set aside after a crash (`<prefix>.torn-<nanos>.partial`): not part
    /// of the trail, kept for inspection.
    pub fn set_aside(&self) -> &[PathBuf] {
        &self.listing.partials
    }

    /// Calls `f` with every complete line of every file, oldest first, without the newline,
    /// until it returns `ControlFlow::Break`. Empty lines and a last line without its newline
    /// (torn by a crash, or still being written) are not complete lines and are skipped.
    /// Files are streamed in chunks (gzip decompressed on the fly): memory does not grow with
    /// the trail. Lines longer than [`LineReader`]'s default limit are skipped.
    ///
    /// A file pruned or renamed by compression after the listing is skipped.
    ///
    /// # Errors
    /// A file cannot be read or decompressed ([`TrailErrorKind::Io`]); the lines before the
    /// damage have been passed to `f`. [`Trail::for_each_line_tolerant`] reads on instead.
    pub fn for_each_line(
        &self,
        mut f: impl FnMut(&TrailFile, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), TrailError> {
        let reader = LineReader::new();
        for file in self.files() {
            let mut read = reader.read_lines(file, |line| f(file, line));
            match read.take_problem() {
                Some(p) if p.kind() == FileProblemKind::Vanished => continue,
                Some(p) => {
                    return Err(TrailError {
                        kind: TrailErrorKind::Io,
                        context: format!("cannot read {}", file.path().display()),
                        source: Some(io::Error::other(p)),
                    })
                }
                None => {}
            }
            if read.stopped {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Like [`for_each_line`](Trail::for_each_line), but a file that cannot be read, or not to
    /// its end (a truncated `.gz`), is a finding, not a stop: its problem is returned and the
    /// other files are still read. A file pruned after the listing is not a problem.
    ///
    /// ```no_run
    /// use std::ops::ControlFlow;
    /// use tracing_audit::trail::Trail;
    ///
    /// let trail = Trail::open("logs/audit", None)?;
    /// let problems = trail.for_each_line_tolerant(|_file, _line| ControlFlow::Continue(()));
    /// for p in &problems {
    ///     eprintln!("warning: {p}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_line_tolerant(
        &self,
        mut f: impl FnMut(&TrailFile, &[u8]) -> ControlFlow<()>,
    ) -> Vec<FileProblem> {
        let reader = LineReader::new();
        let mut problems = Vec::new();
        for file in self.files() {
            let mut read = reader.read_lines(file, |line| f(file, line));
            if let Some(p) = read.take_problem() {
                if p.kind() != FileProblemKind::Vanished {
                    problems.push(p);
                }
            }
            if read.stopped {
                break;
            }
        }
        problems
    }
}

/// The newline-terminated, non-empty lines of `content`, without their newline.
#[cfg(test)]
pub(crate) fn complete_lines(content: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = content
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    content[..end]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
}

/// Why a trail could not be read.
#[derive(Debug)]
pub struct TrailError {
    kind: TrailErrorKind,
    context: String,
    source: Option<io::Error>,
}

/// What kind of [`TrailError`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrailErrorKind {
    /// The directory or a file could not be read.
    Io,
    /// The directory holds several trails and no prefix chose one.
    SeveralTrails,
}

impl TrailError {
    /// What went wrong.
    pub fn kind(&self) -> TrailErrorKind {
        self.kind
    }
}

impl fmt::Display for TrailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl Error for TrailError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_lines_are_lines() {
        let lines: Vec<_> = complete_lines(b"a\n\nb\nc").collect();
        assert_eq!(lines, [b"a".as_slice(), b"b".as_slice()]);
        assert_eq!(complete_lines(b"torn").count(), 0);
        assert_eq!(complete_lines(b"").count(), 0);
    }

    #[test]
    fn several_trails_need_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["a.2026-11-26.0001.jsonl", "b.2026-11-26.0001.jsonl"] {
            std::fs::write(dir.path().join(n), b"{}\n").unwrap();
        }
        let err = Trail::open(dir.path(), None).unwrap_err();
        assert_eq!(err.kind(), TrailErrorKind::SeveralTrails);
        let t = Trail::open(dir.path(), Some("b")).unwrap();
        assert_eq!(t.files().len(), 1);
        assert_eq!(t.files()[0].prefix(), "b");
    }
}
