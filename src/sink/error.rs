//! The error a sink reports when records cannot be made durable.

use std::error::Error;
use std::fmt;
use std::io;
use std::sync::Arc;

use crate::Stream;

/// Why a sink could not start, or could not make records durable.
///
/// Returned by [`SinkHandle::sync`](crate::sink::SinkHandle::sync) when records emitted before
/// the call are not on disk (an application uses this to fail closed), and by sink construction.
/// The underlying I/O error, if any, is available through [`Error::source`] and
/// [`SinkError::io_error_kind`].
#[derive(Debug, Clone)]
pub struct SinkError {
    kind: SinkErrorKind,
    context: String,
    source: Option<Arc<io::Error>>,
}

/// What kind of [`SinkError`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkErrorKind {
    /// Writing, syncing, rotating or opening failed; the I/O error is the source.
    Io,
    /// The sink has shut down (or its writer thread died); nothing more will be written.
    Closed,
    /// A bounded wait (`sync_timeout`) gave up before the records were durable.
    TimedOut,
    /// An AUDIT record waited for room in a full queue longer than its
    /// [`Overflow::BlockFor`](crate::sink::Overflow::BlockFor) bound and was not written.
    Overflowed,
}

impl SinkError {
    pub(crate) fn io(context: impl Into<String>, source: Arc<io::Error>) -> Self {
        SinkError {
            kind: SinkErrorKind::Io,
            context: context.into(),
            source: Some(source),
        }
    }

    pub(crate) fn closed(stream: Stream) -> Self {
        SinkError {
            kind: SinkErrorKind::Closed,
            context: format!("the {stream} sink is shut down; records were not written"),
            source: None,
        }
    }

    pub(crate) fn timed_out(stream: Stream) -> Self {
        SinkError {
            kind: SinkErrorKind::TimedOut,
            context: format!("the {stream} sink did not make the records durable in time"),
            source: None,
        }
    }

    /// The kind of the underlying I/O error (for example `StorageFull` on a full disk), if the
    /// failure came from I/O.
    pub fn io_error_kind(&self) -> Option<io::ErrorKind> {
        self.source.as_deref().map(io::Error::kind)
    }

    /// The raw OS error code (for example `ENOSPC`) of the underlying I/O error, if any, also
    /// when that error wraps the OS error with more context.
    pub fn raw_os_error(&self) -> Option<i32> {
        let mut current: &(dyn Error + 'static) = self.source.as_deref()?;
        loop {
            if let Some(io) = current.downcast_ref::<io::Error>() {
                if let Some(code) = io.raw_os_error() {
                    return Some(code);
                }
                if let Some(inner) = io.get_ref() {
                    current = inner;
                    continue;
                }
            }
            current = current.source()?;
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> SinkErrorKind {
        self.kind
    }

    pub(crate) fn overflowed(stream: Stream, count: u64) -> Self {
        SinkError {
            kind: SinkErrorKind::Overflowed,
            context: format!(
                "{count} {stream} record(s) were not written: the queue stayed full past the \
                 overflow bound"
            ),
            source: None,
        }
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl Error for SinkError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_is_the_source_and_context_is_the_message() {
        let err = SinkError::io(
            "writing audit.jsonl",
            Arc::new(io::Error::from_raw_os_error(libc::ENOSPC)),
        );
        assert_eq!(err.to_string(), "writing audit.jsonl");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert!(err.source().is_some());
        assert_eq!(err.kind(), SinkErrorKind::Io);
    }

    #[test]
    fn raw_os_error_is_found_under_added_context() {
        #[derive(Debug)]
        struct WithPath(io::Error);
        impl fmt::Display for WithPath {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "cannot write to /x: {}", self.0)
            }
        }
        impl Error for WithPath {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let inner = io::Error::from_raw_os_error(libc::EFBIG);
        let wrapped = io::Error::new(inner.kind(), WithPath(inner));
        let err = SinkError::io("writing", Arc::new(wrapped));
        assert_eq!(err.raw_os_error(), Some(libc::EFBIG));
    }

    #[test]
    fn closed_error_names_the_stream() {
        let err = SinkError::closed(Stream::Audit);
        assert_eq!(err.kind(), SinkErrorKind::Closed);
        assert!(err.to_string().contains("audit"));
        assert!(err.source().is_none());
    }
}
