//! The two streams every record is routed into.

use std::fmt;

/// Which output a record belongs to.
///
/// The audit stream answers "who did what, to which resource, when, from where, with what
/// outcome" and is kept for years; the debug stream holds developer diagnostics and is kept for
/// days.
///
/// ```
/// use tracing_audit::Stream;
/// assert_eq!(Stream::Audit.as_str(), "audit");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The tamper-evident audit trail.
    Audit,
    /// Developer diagnostics.
    Debug,
}

impl Stream {
    /// The lowercase name used in records, file names and the CLI.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stream::Audit => "audit",
            Stream::Debug => "debug",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
