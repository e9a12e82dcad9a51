//! Per-stream settings: what one stream alone is configured with.
//!
//! [`AuditLayerBuilder::audit`](super::AuditLayerBuilder::audit) and
//! [`AuditLayerBuilder::debug`](super::AuditLayerBuilder::debug) hand one of these to a closure;
//! it is the only place a setting of one stream is made, so nothing overrides anything.

use crate::redact::detect::DetectorSet;
use crate::redact::{Action, FieldRules};
use crate::sink::{Overflow, Tuning};
use crate::Stream;
use std::fmt;
use std::time::Duration;
use tracing_core::{Level, LevelFilter};
use tracing_subscriber::filter::EnvFilter;

/// The settings both streams have.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) field_rules: FieldRules,
    pub(crate) detectors: DetectorSet,
    pub(crate) tuning: Tuning,
}

impl Common {
    fn new(stream: Stream) -> Self {
        Common {
            field_rules: FieldRules::default(),
            detectors: DetectorSet::for_stream(stream),
            tuning: Tuning::DEFAULT,
        }
    }
}

/// Methods every stream's settings have, written once for both types.
macro_rules! common_settings {
    ($ty:ident) => {
        impl $ty {
            /// Adds a field-name rule (glob, case-insensitive) to this stream only, e.g. hash
            /// `actor` in the debug stream but keep it in the audit trail. Rules added later
            /// take precedence, whether added here or for both streams by the builder's
            /// [`redact_field`](super::AuditLayerBuilder::redact_field).
            pub fn redact_field(mut self, pattern: &str, action: Action) -> Self {
                self.common.field_rules =
                    std::mem::take(&mut self.common.field_rules).rule(pattern, action);
                self
            }

            /// Replaces this stream's field-name rules (default: [`FieldRules::default`], the
            /// deny list of secret-looking names), including rules added before by the
            /// builder's [`redact_field`](super::AuditLayerBuilder::redact_field).
            pub fn field_rules(mut self, rules: FieldRules) -> Self {
                self.common.field_rules = rules;
                self
            }

            /// Replaces this stream's free-text detectors (default:
            /// [`DetectorSet::for_stream`]).
            pub fn detectors(mut self, detectors: DetectorSet) -> Self {
                self.common.detectors = detectors;
                self
            }

            /// How many bytes of records the stream's queue holds (default 8 MiB) before the
            /// overflow behaviour starts: AUDIT callers wait, DEBUG records are dropped and
            /// counted. Applies to file and `MakeWriter` destinations alike.
            pub fn queue_capacity(mut self, bytes: usize) -> Self {
                self.common.tuning.queue_capacity = Some(bytes);
                self
            }

            /// How long dropping the guard waits for this stream's queue to drain (default
            /// 30 s); records still unwritten then are counted as `failed`.
            pub fn drain_timeout(mut self, timeout: Duration) -> Self {
                self.common.tuning.drain_timeout = Some(timeout);
                self
            }
        }
    };
}

/// Settings of the audit stream, configured through
/// [`AuditLayerBuilder::audit`](super::AuditLayerBuilder::audit).
///
/// | setting | default |
/// |---|---|
/// | [`level`](Self::level) | `INFO`: audit events at INFO, WARN and ERROR are written whatever `RUST_LOG` says |
/// | [`overflow`](Self::overflow) | [`Overflow::Block`]: a full queue makes the caller wait |
/// | [`keep_identity`](Self::keep_identity) | `true`: `actor` and `src_ip` are exempt from the e-mail and IP detectors |
/// | [`redact_field`](Self::redact_field), [`field_rules`](Self::field_rules) | [`FieldRules::default`] |
/// | [`detectors`](Self::detectors) | [`DetectorSet::for_stream`]`(Stream::Audit)` |
/// | [`queue_capacity`](Self::queue_capacity), [`drain_timeout`](Self::drain_timeout) | 8 MiB, 30 s |
///
/// ```
/// use std::time::Duration;
/// use tracing::Level;
/// use tracing_audit::{redact::Action, sink::Overflow, layer::AuditLayer};
///
/// let builder = AuditLayer::builder().audit(|audit| {
///     audit
///         .level(Level::WARN)
///         .overflow(Overflow::BlockFor(Duration::from_millis(250)))
///         .redact_field("customer_ssn", Action::Hash)
/// });
/// # let _ = builder;
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub(crate) common: Common,
    pub(crate) floor: LevelFilter,
    pub(crate) identity_keeps: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            common: Common::new(Stream::Audit),
            floor: LevelFilter::INFO,
            identity_keeps: true,
        }
    }
}

common_settings!(AuditSettings);

impl AuditSettings {
    /// Audit-routed events less severe than `level` are not audit records (they are treated as
    /// debug events). Default `INFO`.
    pub fn level(mut self, level: Level) -> Self {
        self.floor = LevelFilter::from_level(level);
        self
    }

    /// What an audit caller does when the queue is full (default [`Overflow::Block`]).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.common.tuning.overflow = overflow;
        self
    }

    /// Whether an audit record's `actor` and `src_ip` are exempt from the e-mail and IP
    /// detectors (default `true`: the trail must say who and from where). Set `false` to
    /// pseudonymize them too (GDPR), with a hash key configured.
    pub fn keep_identity(mut self, keep: bool) -> Self {
        self.identity_keeps = keep;
        self
    }
}

/// Settings of the debug stream, configured through
/// [`AuditLayerBuilder::debug`](super::AuditLayerBuilder::debug).
///
/// | setting | default |
/// |---|---|
/// | [`redact_field`](Self::redact_field), [`field_rules`](Self::field_rules) | [`FieldRules::default`] |
/// | [`detectors`](Self::detectors) | [`DetectorSet::for_stream`]`(Stream::Debug)` |
/// | [`queue_capacity`](Self::queue_capacity), [`drain_timeout`](Self::drain_timeout) | 8 MiB, 30 s |
///
/// The debug stream's filter is given to the builder itself:
/// [`debug_filter`](super::AuditLayerBuilder::debug_filter).
///
/// ```
/// use tracing_audit::{redact::Action, layer::AuditLayer};
///
/// let builder = AuditLayer::builder()
///     .debug(|debug| debug.queue_capacity(1 << 20).redact_field("actor", Action::Hash));
/// # let _ = builder;
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct DebugSettings {
    pub(crate) common: Common,
}

impl Default for DebugSettings {
    fn default() -> Self {
        DebugSettings {
            common: Common::new(Stream::Debug),
        }
    }
}

common_settings!(DebugSettings);

/// The debug stream's filter: `EnvFilter` directives, from a string, an environment variable or
/// a ready [`EnvFilter`]. Never affects the audit stream.
///
/// ```
/// use tracing_audit::layer::DebugFilter;
/// use tracing_subscriber::EnvFilter;
///
/// let _from_str: DebugFilter = "info,my_app=debug".into();
/// let _from_filter: DebugFilter = EnvFilter::new("warn").into();
/// let _from_env = DebugFilter::from_env("MY_APP_LOG");
/// ```
pub struct DebugFilter(pub(crate) FilterSource);

pub(crate) enum FilterSource {
    Directives(String),
    Env(String),
    Ready(Box<EnvFilter>),
}

impl fmt::Debug for DebugFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            FilterSource::Directives(d) => f.debug_tuple("DebugFilter").field(d).finish(),
            FilterSource::Env(var) => write!(f, "DebugFilter::from_env({var:?})"),
            FilterSource::Ready(filter) => f.debug_tuple("DebugFilter").field(filter).finish(),
        }
    }
}

impl DebugFilter {
    /// Directives read from the environment variable `var` at `build()`; `info` when it is
    /// unset or empty. The default is `DebugFilter::from_env("RUST_LOG")`.
    pub fn from_env(var: impl Into<String>) -> Self {
        DebugFilter(FilterSource::Env(var.into()))
    }
}

impl Default for DebugFilter {
    fn default() -> Self {
        DebugFilter::from_env("RUST_LOG")
    }
}

impl From<&str> for DebugFilter {
    fn from(directives: &str) -> Self {
        DebugFilter(FilterSource::Directives(directives.to_owned()))
    }
}

impl From<String> for DebugFilter {
    fn from(directives: String) -> Self {
        DebugFilter(FilterSource::Directives(directives))
    }
}

impl From<EnvFilter> for DebugFilter {
    fn from(filter: EnvFilter) -> Self {
        DebugFilter(FilterSource::Ready(Box::new(filter)))
    }
}
