//! Where commands write: results to stdout, where a reader that has seen enough (`| head`) ends
//! the command quietly, and warnings to stderr, escaped.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe fails with `BrokenPipe` and `println!`
//! panics (exit 101). Every result goes through [`Out`] instead, which turns that error into
//! "stop writing": the command then ends with the exit code of what it found (for `verify`,
//! the class of its first finding), not an error about the pipe.

use super::CliError;
use std::fmt::Display;
use std::io::{ErrorKind, StdoutLock, Write};
use tracing_audit::trail::Visible;

/// Buffered stdout that remembers when its reader went away.
pub(super) struct Out {
    inner: std::io::BufWriter<StdoutLock<'static>>,
    closed: bool,
}

impl Out {
    pub(super) fn new() -> Self {
        Out {
            inner: std::io::BufWriter::new(std::io::stdout().lock()),
            closed: false,
        }
    }

    /// Writes `line` and a newline; `Ok(false)` once the reader is gone (nothing more is
    /// written). `line` must already be safe to show: escaped text, or JSON through
    /// `printable_json`.
    pub(super) fn line(&mut self, line: &[u8]) -> Result<bool, CliError> {
        if self.closed {
            return Ok(false);
        }
        let written = self
            .inner
            .write_all(line)
            .and_then(|()| self.inner.write_all(b"\n"));
        self.settle(written)
    }

    /// Pushes what is buffered to the reader (after each line of `tail --follow`, and at the
    /// end); `Ok(false)` once the reader is gone.
    pub(super) fn flush(&mut self) -> Result<bool, CliError> {
        if self.closed {
            return Ok(false);
        }
        let flushed = self.inner.flush();
        self.settle(flushed)
    }

    fn settle(&mut self, r: std::io::Result<()>) -> Result<bool, CliError> {
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(false)
            }
            Err(e) => Err(CliError(format!("cannot write to stdout: {e}"))),
        }
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        // Whatever the reader still takes; a closed pipe here is the same quiet stop.
        let _ = self.flush();
    }
}

/// One line on stderr, `tracing-audit: ` and `msg` with every hidden character escaped (a
/// message may hold file names and values from the trail). A stderr that cannot be written
/// is ignored: nothing is left to tell.
pub(super) fn warn(msg: impl Display) {
    let text = msg.to_string();
    let _ = writeln!(
        std::io::stderr().lock(),
        "tracing-audit: {}",
        Visible::str(&text)
    );
}

/// Writes a file the operator named (`-o`), never through a symlink (an investigator running as
/// root must not have a planted link at that name redirect the write), readable by its owner
/// only: it holds audit records.
pub(super) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    file.write_all(bytes)
}
