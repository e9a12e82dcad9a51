//! The error the shipper reports: configuration that cannot work, or a receiver it cannot use.

use std::error::Error;
use std::fmt;
use std::io;
use std::sync::Arc;

/// What went wrong, for a caller that reacts differently to each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShipErrorKind {
    /// The destination, a certificate, a key or another setting is unusable.
    Config,
    /// Connecting, reading or writing the connection failed (the receiver is down or went away).
    Connect,
    /// The TLS handshake failed: most often the server's certificate is not signed by the given
    /// CA or does not name the host.
    Tls,
    /// The receiver broke the protocol or refused the session (a RELP `500`, a garbled frame).
    Protocol,
    /// The receiver did not answer within the configured time.
    TimedOut,
    /// A record is larger than the receiver accepts; it was not sent (never truncated).
    Oversize,
    /// Reading the stream's files or writing the cursor failed.
    Io,
    /// The cursor does not match the trail (the record at its position has another `seq` or
    /// MAC, its file is missing, the position is past the end or inside a line): the shipper
    /// refuses to resume there and leaves the cursor as it is. `ship --start-at-seq` starts
    /// from a chosen record on purpose, announced to the receiver.
    Cursor,
    /// The shipper was told to stop (shutdown, SIGTERM) while it waited: not a receiver failure.
    Stopped,
}

impl ShipErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ShipErrorKind::Config => "configuration",
            ShipErrorKind::Connect => "connection",
            ShipErrorKind::Tls => "TLS",
            ShipErrorKind::Protocol => "protocol",
            ShipErrorKind::TimedOut => "timeout",
            ShipErrorKind::Oversize => "oversize record",
            ShipErrorKind::Io => "file",
            ShipErrorKind::Cursor => "cursor",
            ShipErrorKind::Stopped => "stopped",
        }
    }
}

/// A shipping failure: its [`kind`](ShipError::kind), what was being done, and the cause as
/// [`Error::source`].
#[derive(Clone, Debug)]
pub struct ShipError {
    kind: ShipErrorKind,
    context: String,
    source: Option<Arc<dyn Error + Send + Sync + 'static>>,
}

impl ShipError {
    pub(crate) fn new(kind: ShipErrorKind, context: impl Into<String>) -> Self {
        ShipError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        kind: ShipErrorKind,
        context: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        ShipError {
            kind,
            context: context.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// An I/O failure on the connection, classified (a timeout is not a refused connection).
    pub(crate) fn net(context: impl Into<String>, e: io::Error) -> Self {
        let kind = match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ShipErrorKind::TimedOut,
            io::ErrorKind::InvalidData if is_tls(&e) => ShipErrorKind::Tls,
            _ => ShipErrorKind::Connect,
        };
        ShipError::with_source(kind, context, e)
    }

    /// What went wrong.
    pub fn kind(&self) -> ShipErrorKind {
        self.kind
    }
}

/// rustls reports handshake failures as `InvalidData` wrapping its own error.
fn is_tls(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

impl fmt::Display for ShipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.kind.describe(), self.context)
    }
}

impl Error for ShipError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// The whole chain of causes on one line, for counters and logs that keep a single string.
pub(crate) fn chain(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
