//! The layer's errors: why it could not be built, and why a `sync()` could not promise the
//! audit records are durable.

use super::reach::FilteredCallsite;
use crate::key::KeyError;
use crate::sink::{SinkError, SinkErrorKind};
use crate::Stream;
use std::error::Error;
use std::fmt;
use tracing_core::LevelFilter;

/// Why [`AuditLayerBuilder::build`](super::AuditLayerBuilder::build) failed.
///
/// `Display` says what failed; the cause (a filter parse error, an I/O error) is the
/// [`source`](Error::source).
#[derive(Debug)]
pub struct BuildError {
    kind: BuildErrorKind,
    context: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

/// What kind of [`BuildError`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// The debug filter's directives do not parse.
    InvalidFilter,
    /// tracing's compile-time max level (`max_level_*`, `release_max_level_*` features) removes
    /// audit events at the audit floor.
    StaticMaxLevel,
    /// A stream has no destination.
    MissingDestination,
    /// A key could not be loaded.
    Key,
    /// A stream's sink could not be started (its files opened, its thread spawned).
    Sink,
    /// A shipper given to `ship(..)` could not be started (feature `ship`).
    Ship,
}

impl BuildError {
    pub(crate) fn filter(context: String, source: impl Error + Send + Sync + 'static) -> Self {
        BuildError {
            kind: BuildErrorKind::InvalidFilter,
            context,
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn hash_key(source: KeyError) -> Self {
        BuildError {
            kind: BuildErrorKind::Key,
            context: "cannot load the hash key".to_owned(),
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn missing_destination(stream: Stream) -> Self {
        BuildError {
            kind: BuildErrorKind::MissingDestination,
            context: format!(
                "no {stream} destination: call {stream}_to_files(..) or {stream}_to(..)"
            ),
            source: None,
        }
    }

    pub(crate) fn static_max_level(static_max: LevelFilter, audit_floor: LevelFilter) -> Self {
        BuildError {
            kind: BuildErrorKind::StaticMaxLevel,
            context: format!(
                "tracing is compiled with a max level of {static_max} (a `max_level_*` or \
                 `release_max_level_*` feature), which removes audit events at {audit_floor}"
            ),
            source: None,
        }
    }

    pub(crate) fn sink(stream: Stream, source: SinkError) -> Self {
        BuildError {
            kind: BuildErrorKind::Sink,
            context: format!("cannot start the {stream} sink"),
            source: Some(Box::new(source)),
        }
    }

    #[cfg(feature = "shred")]
    pub(crate) fn shred(source: crate::shred::ShredError) -> Self {
        BuildError {
            kind: BuildErrorKind::Key,
            context: "cannot open the key store for encrypted fields".to_owned(),
            source: Some(Box::new(source)),
        }
    }

    #[cfg(feature = "ship")]
    pub(crate) fn ship(source: crate::ship::ShipError) -> Self {
        BuildError {
            kind: BuildErrorKind::Ship,
            context: "cannot start shipping".to_owned(),
            source: Some(Box::new(source)),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> BuildErrorKind {
        self.kind
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Why [`AuditHandle::sync`](super::AuditHandle::sync) cannot promise that the audit records
/// emitted before it are durable. An application that fails closed refuses to act on any of
/// them.
#[derive(Debug, Clone)]
pub struct SyncError {
    kind: SyncErrorKind,
    context: String,
    filtered: Vec<FilteredCallsite>,
    source: Option<SinkError>,
}

/// What kind of [`SyncError`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncErrorKind {
    /// Another filter in the subscriber disables audit callsites before this layer sees them
    /// (a global `EnvFilter` under `RUST_LOG=warn`, ...): their records are never emitted.
    /// [`SyncError::filtered_callsites`] names them.
    Filtered,
    /// Writing, syncing, rotating or opening failed; the sink's error is the source.
    Io,
    /// The sink has shut down; nothing more will be written.
    Closed,
    /// A bounded wait gave up before the records were durable.
    TimedOut,
    /// Audit records waited for queue room longer than their overflow bound and were not
    /// written.
    Overflowed,
}

impl SyncError {
    pub(crate) fn filtered(filtered: Vec<FilteredCallsite>) -> Self {
        let list: Vec<String> = filtered.iter().map(ToString::to_string).collect();
        SyncError {
            kind: SyncErrorKind::Filtered,
            context: format!(
                "audit events are filtered out before the audit layer sees them: {}; another \
                 filter in the subscriber disables them (most likely a global EnvFilter or level \
                 filter such as `registry().with(EnvFilter::from_default_env())` under \
                 RUST_LOG=warn): put that filter on the sibling layer with `.with_filter(..)`, \
                 the audit layer filters for itself",
                list.join(", ")
            ),
            filtered,
            source: None,
        }
    }

    pub(crate) fn sink(source: SinkError) -> Self {
        let kind = match source.kind() {
            SinkErrorKind::Closed => SyncErrorKind::Closed,
            SinkErrorKind::TimedOut => SyncErrorKind::TimedOut,
            SinkErrorKind::Overflowed => SyncErrorKind::Overflowed,
            _ => SyncErrorKind::Io,
        };
        SyncError {
            kind,
            context: "the audit records are not durable".to_owned(),
            filtered: Vec::new(),
            source: Some(source),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> SyncErrorKind {
        self.kind
    }

    /// For [`SyncErrorKind::Filtered`]: the audit callsites another filter disables.
    pub fn filtered_callsites(&self) -> &[FilteredCallsite] {
        &self.filtered
    }

    /// The sink's error, when the sink caused this.
    pub fn sink_error(&self) -> Option<&SinkError> {
        self.source.as_ref()
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl Error for SyncError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}
