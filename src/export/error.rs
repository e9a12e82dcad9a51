//! The error of the export entry points.

use std::error::Error;
use std::fmt;

/// What went wrong while exporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportErrorKind {
    /// A line is not a JSON object.
    Parse,
    /// The trail directory or one of its files could not be listed or read.
    Read,
    /// The mapped output could not be written.
    Write,
    /// The directory holds several trails and no prefix chose one.
    SeveralTrails,
    /// A format name other than `ocsf` or `ecs`.
    UnknownFormat,
}

/// An export failed; [`kind`](ExportError::kind) says how, [`source`](Error::source) why.
///
/// ```
/// use tracing_audit::export::{ExportErrorKind, Format};
/// let err = "cef".parse::<Format>().unwrap_err();
/// assert_eq!(err.kind(), ExportErrorKind::UnknownFormat);
/// ```
#[derive(Debug)]
pub struct ExportError {
    kind: ExportErrorKind,
    what: String,
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl ExportError {
    pub(crate) fn new(
        kind: ExportErrorKind,
        what: impl Into<String>,
        source: Option<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        ExportError {
            kind,
            what: what.into(),
            source,
        }
    }

    /// How the export failed.
    pub fn kind(&self) -> ExportErrorKind {
        self.kind
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ExportErrorKind::Parse => write!(f, "cannot parse {}", self.what),
            ExportErrorKind::Read => write!(f, "cannot read {}", self.what),
            ExportErrorKind::Write => write!(f, "cannot write {}", self.what),
            ExportErrorKind::SeveralTrails => {
                write!(
                    f,
                    "{} holds several trails; choose one with a prefix",
                    self.what
                )
            }
            ExportErrorKind::UnknownFormat => write!(f, "unknown {}", self.what),
        }
    }
}

impl Error for ExportError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}
