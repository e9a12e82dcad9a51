//! Configuring and building an [`AuditLayer`].

use super::filter::RouteFilter;
use super::route::{RoutePredicate, Router};
use super::{AuditGuard, AuditHandle, AuditLayer, Core, Shared};
use crate::chain::ChainConfig;
use crate::key::KeySource;
use crate::redact::detect::DetectorSet;
use crate::redact::policy::StreamPolicy;
use crate::redact::{Action, FieldRules, Pseudonymizer};
use crate::sink::{self, SinkError, SinkSpec, Target, Tuning};
use crate::Stream;
use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing_core::{Level, LevelFilter, Metadata};
use tracing_subscriber::filter::{EnvFilter, Filtered};
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};

/// Default cap on one string value, in bytes.
pub const DEFAULT_MAX_VALUE_LEN: usize = 16 * 1024;

enum Destination {
    Writer(BoxMakeWriter),
    Files(crate::sink::FileSink),
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Writer(_) => f.write_str("Writer(..)"),
            Destination::Files(files) => f.debug_tuple("Files").field(files).finish(),
        }
    }
}

enum DebugFilterSource {
    Directives(String),
    Env(String),
}

/// Configures an [`AuditLayer`].
///
/// | setting | default |
/// |---|---|
/// | audit destination | none: [`audit_to`](Self::audit_to) or [`audit_to_files`](Self::audit_to_files) is required |
/// | debug destination | none: [`debug_to`](Self::debug_to) or [`debug_to_files`](Self::debug_to_files) is required |
/// | debug filter | `RUST_LOG` ([`debug_filter_env`](Self::debug_filter_env)), `info` when unset |
/// | audit routing | targets `audit`, `audit::*`, `*::audit`; events with a field named `audit` |
/// | audit floor | `INFO`: audit events at INFO, WARN, ERROR are written whatever `RUST_LOG` says |
/// | span context floor | `INFO`: spans at INFO and above are always kept as context (this covers `#[instrument]`) |
/// | field-name redaction | [`FieldRules::default`] (mask `password`, `token`, `secret`, ... in both streams) |
/// | free-text detectors | [`DetectorSet::for_stream`] of each stream |
/// | `actor`/`src_ip` in audit records | kept verbatim (e-mail and IP detectors off for them) |
/// | hash key | none: `Action::Hash` masks instead |
/// | audit chain | [`ChainConfig::default`]: plain SHA-256, no key |
/// | value cap | [`DEFAULT_MAX_VALUE_LEN`] bytes per string value, marked when truncated |
/// | queue, drain timeout | the destination's (FileSink) or 8 MiB and 30 s; see [`queue_capacity`](Self::queue_capacity) |
#[must_use]
pub struct AuditLayerBuilder {
    audit: Option<Destination>,
    debug: Option<Destination>,
    debug_filter: DebugFilterSource,
    router: Router,
    audit_floor: LevelFilter,
    context_floor: LevelFilter,
    field_rules: [FieldRules; 2],
    detectors: [DetectorSet; 2],
    identity_keeps: bool,
    hash_key: Option<KeySource>,
    chain: ChainConfig,
    max_value_len: usize,
    tuning: [Tuning; 2],
}

impl fmt::Debug for AuditLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLayerBuilder")
            .field("audit", &self.audit)
            .field("debug", &self.debug)
            .field("router", &self.router)
            .field("audit_floor", &self.audit_floor)
            .field("context_floor", &self.context_floor)
            .field("field_rules", &self.field_rules)
            .field("chain", &self.chain)
            .field("max_value_len", &self.max_value_len)
            .finish_non_exhaustive()
    }
}

impl Default for AuditLayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl AuditLayerBuilder {
    /// A builder with the defaults in the table above.
    pub fn new() -> Self {
        AuditLayerBuilder {
            audit: None,
            debug: None,
            debug_filter: DebugFilterSource::Env("RUST_LOG".to_owned()),
            router: Router::default(),
            audit_floor: LevelFilter::INFO,
            context_floor: LevelFilter::INFO,
            field_rules: [FieldRules::default(), FieldRules::default()],
            detectors: [
                DetectorSet::for_stream(Stream::Audit),
                DetectorSet::for_stream(Stream::Debug),
            ],
            identity_keeps: true,
            hash_key: None,
            chain: ChainConfig::default(),
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            tuning: [Tuning::DEFAULT; 2],
        }
    }

    /// Writes the audit stream to any `MakeWriter` (for example a `tracing_appender::rolling`
    /// appender). Records are still sequenced and chained; rotation and retention are then the
    /// writer's business and files carry no seals.
    pub fn audit_to<M>(mut self, writer: M) -> Self
    where
        M: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        self.audit = Some(Destination::Writer(BoxMakeWriter::new(writer)));
        self
    }

    /// Writes the audit stream to rotating files (the recommended destination).
    pub fn audit_to_files(mut self, files: crate::sink::FileSink) -> Self {
        self.audit = Some(Destination::Files(files));
        self
    }

    /// Writes the debug stream to any `MakeWriter`.
    pub fn debug_to<M>(mut self, writer: M) -> Self
    where
        M: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        self.debug = Some(Destination::Writer(BoxMakeWriter::new(writer)));
        self
    }

    /// Writes the debug stream to rotating files.
    pub fn debug_to_files(mut self, files: crate::sink::FileSink) -> Self {
        self.debug = Some(Destination::Files(files));
        self
    }

    /// `EnvFilter` directives for the debug stream (`"info,my_app=debug"`). Never affects the
    /// audit stream.
    pub fn debug_filter(mut self, directives: &str) -> Self {
        self.debug_filter = DebugFilterSource::Directives(directives.to_owned());
        self
    }

    /// Reads the debug stream's directives from the environment variable `var` (default
    /// `RUST_LOG`); `info` when it is unset.
    pub fn debug_filter_env(mut self, var: &str) -> Self {
        self.debug_filter = DebugFilterSource::Env(var.to_owned());
        self
    }

    /// Replaces the audit target patterns (globs: `audit`, `audit::*`, `*::security`).
    pub fn audit_targets<I, T>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.router.targets = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a field name that marks an event as an audit event (default: `audit`). Marker
    /// fields are routing information and are not written.
    pub fn audit_marker(mut self, field_name: &'static str) -> Self {
        self.router.markers.push(field_name);
        self
    }

    /// Routes with a function of the callsite's metadata, evaluated once per callsite before the
    /// target and marker rules; `None` falls through to them.
    pub fn route_by<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&Metadata<'_>) -> Option<Stream> + Send + Sync + 'static,
    {
        self.router.predicate = Some(Arc::new(predicate) as RoutePredicate);
        self
    }

    /// Audit-routed events less severe than `level` are not audit records (they are treated as
    /// debug events). Default `INFO`.
    pub fn audit_level(mut self, level: Level) -> Self {
        self.audit_floor = LevelFilter::from_level(level);
        self
    }

    /// Spans at `level` or more severe are always kept as context for both streams, whatever the
    /// debug filter says. Default `INFO`.
    pub fn context_level(mut self, level: Level) -> Self {
        self.context_floor = LevelFilter::from_level(level);
        self
    }

    /// Adds a field-name rule (glob, case-insensitive) to both streams.
    pub fn redact_field(self, pattern: &str, action: Action) -> Self {
        self.redact_field_in(Stream::Audit, pattern, action)
            .redact_field_in(Stream::Debug, pattern, action)
    }

    /// Adds a field-name rule to one stream, e.g. hash `actor` in debug but keep it in audit.
    pub fn redact_field_in(mut self, stream: Stream, pattern: &str, action: Action) -> Self {
        let i = super::plan::stream_index(stream);
        self.field_rules[i] = std::mem::take(&mut self.field_rules[i]).rule(pattern, action);
        self
    }

    /// Replaces one stream's field-name rules.
    pub fn field_rules(mut self, stream: Stream, rules: FieldRules) -> Self {
        self.field_rules[super::plan::stream_index(stream)] = rules;
        self
    }

    /// Replaces one stream's free-text detectors.
    pub fn detectors(mut self, stream: Stream, detectors: DetectorSet) -> Self {
        self.detectors[super::plan::stream_index(stream)] = detectors;
        self
    }

    /// Whether an audit record's `actor` and `src_ip` are exempt from the e-mail and IP
    /// detectors (default `true`: the trail must say who and from where). Set `false` to
    /// pseudonymize them too (GDPR), with a hash key configured.
    pub fn keep_identity_in_audit(mut self, keep: bool) -> Self {
        self.identity_keeps = keep;
        self
    }

    /// The key for `Action::Hash` pseudonyms (`hmac-sha256:<hex>`), loaded at `build()`.
    ///
    /// ```
    /// use tracing_audit::{AuditLayer, KeySource};
    /// let builder = AuditLayer::builder().hash_key(KeySource::env("AUDIT_HASH_KEY"));
    /// # let _ = builder;
    /// ```
    pub fn hash_key(mut self, key: KeySource) -> Self {
        self.hash_key = Some(key);
        self
    }

    /// The audit chain: key, checkpoints.
    pub fn chain(mut self, chain: ChainConfig) -> Self {
        self.chain = chain;
        self
    }

    /// How many bytes of records one stream may queue before AUDIT callers wait and DEBUG records
    /// are dropped (default 8 MiB). Overrides [`FileSink::queue_capacity`](crate::sink::FileSink::queue_capacity);
    /// the only way to size the queue of a `MakeWriter` destination.
    pub fn queue_capacity(mut self, stream: Stream, bytes: usize) -> Self {
        self.tuning[super::plan::stream_index(stream)].queue_capacity = Some(bytes);
        self
    }

    /// How long dropping the guard waits for one stream's queue to drain (default 30 s).
    /// Overrides [`FileSink::drain_timeout`](crate::sink::FileSink::drain_timeout).
    pub fn drain_timeout(mut self, stream: Stream, timeout: Duration) -> Self {
        self.tuning[super::plan::stream_index(stream)].drain_timeout = Some(timeout);
        self
    }

    /// Cap on one string value in bytes; longer values are cut and marked `…[truncated N bytes]`.
    pub fn max_value_len(mut self, bytes: usize) -> Self {
        self.max_value_len = bytes.max(16);
        self
    }

    /// Validates the configuration, starts one writer thread per stream and returns the layer and
    /// the guard that flushes both streams when dropped.
    ///
    /// # Errors
    /// - the debug filter's directives do not parse;
    /// - tracing's compile-time max level (`release_max_level_*` features) removes audit events
    ///   at the audit floor;
    /// - a destination is missing, a key cannot be read, or a sink cannot be opened.
    pub fn build<S>(self) -> Result<(AuditLayer<S>, AuditGuard), BuildError> {
        check_static_level(tracing::level_filters::STATIC_MAX_LEVEL, self.audit_floor)?;
        let debug_filter = match &self.debug_filter {
            DebugFilterSource::Directives(d) => EnvFilter::builder().parse(d).map_err(|e| {
                BuildError::new(format!("invalid debug filter {d:?}"), Some(Box::new(e)))
            })?,
            DebugFilterSource::Env(var) => match std::env::var(var) {
                Ok(d) if !d.trim().is_empty() => EnvFilter::builder().parse(&d).map_err(|e| {
                    BuildError::new(
                        format!("invalid debug filter in ${var} ({d:?})"),
                        Some(Box::new(e)),
                    )
                })?,
                _ => EnvFilter::new("info"),
            },
        };
        let hasher = match &self.hash_key {
            None => None,
            Some(source) => Some(Pseudonymizer::new(&source.load().map_err(|e| {
                BuildError::new("cannot load the hash key".into(), Some(Box::new(e)))
            })?)),
        };
        let audit = self.audit.ok_or_else(|| {
            BuildError::new(
                "no audit destination: call audit_to_files(..) or audit_to(..)".into(),
                None,
            )
        })?;
        let debug = self.debug.ok_or_else(|| {
            BuildError::new(
                "no debug destination: call debug_to_files(..) or debug_to(..)".into(),
                None,
            )
        })?;
        let [audit_rules, debug_rules] = self.field_rules;
        let [audit_detectors, debug_detectors] = self.detectors;
        let policies = [
            StreamPolicy::new(audit_rules, audit_detectors, self.identity_keeps),
            StreamPolicy::new(debug_rules, debug_detectors, false),
        ];
        let [audit_tuning, debug_tuning] = self.tuning;
        let (audit_sink, audit_guard) = sink::spawn_tuned(
            SinkSpec {
                stream: Stream::Audit,
                target: target(audit),
                framer: Some(self.chain.framer()),
            },
            audit_tuning,
        )
        .map_err(|e| BuildError::sink(Stream::Audit, e))?;
        let (debug_sink, debug_guard) = sink::spawn_tuned(
            SinkSpec {
                stream: Stream::Debug,
                target: target(debug),
                framer: None,
            },
            debug_tuning,
        )
        .map_err(|e| BuildError::sink(Stream::Debug, e))?;

        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            router: self.router,
            audit_floor: self.audit_floor,
            context_floor: self.context_floor,
            // Only span and field directives print brackets (`EnvFilter`'s Display lists them all).
            debug_filter_tracks_spans: debug_filter.to_string().contains('['),
            debug_filter,
            streams_scrub_alike: policies[0].detectors == policies[1].detectors,
            policies,
            hasher,
            max_value_len: self.max_value_len,
            sinks: [audit_sink, debug_sink],
            schema_violations: AtomicU64::new(0),
        });
        let layer = AuditLayer {
            inner: Filtered::new(
                Core {
                    shared: shared.clone(),
                },
                RouteFilter {
                    shared: shared.clone(),
                },
            ),
            shared: shared.clone(),
        };
        let guard = AuditGuard {
            audit: Some(audit_guard),
            debug: Some(debug_guard),
            handle: AuditHandle { shared },
        };
        Ok((layer, guard))
    }
}

/// Audit events at the floor must not be compiled out by tracing's `max_level_*` /
/// `release_max_level_*` features: that loss would be silent and total.
fn check_static_level(static_max: LevelFilter, audit_floor: LevelFilter) -> Result<(), BuildError> {
    if static_max < audit_floor {
        return Err(BuildError::new(
            format!(
                "tracing is compiled with a max level of {static_max} (a `max_level_*` or \
                 `release_max_level_*` feature), which removes audit events at {audit_floor}"
            ),
            None,
        ));
    }
    Ok(())
}

fn target(d: Destination) -> Target {
    match d {
        Destination::Writer(w) => Target::Writer(w),
        Destination::Files(f) => Target::Files(f),
    }
}

/// Why [`AuditLayerBuilder::build`] failed.
#[derive(Debug)]
pub struct BuildError {
    context: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl BuildError {
    fn new(context: String, source: Option<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        BuildError { context, source }
    }

    fn sink(stream: Stream, e: SinkError) -> Self {
        BuildError::new(format!("cannot start the {stream} sink"), Some(Box::new(e)))
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_max_level_below_the_audit_floor_is_refused() {
        let err = check_static_level(LevelFilter::WARN, LevelFilter::INFO).unwrap_err();
        assert!(err.to_string().contains("release_max_level_"), "{err}");
        assert!(check_static_level(LevelFilter::INFO, LevelFilter::INFO).is_ok());
        assert!(check_static_level(LevelFilter::TRACE, LevelFilter::INFO).is_ok());
        assert!(check_static_level(LevelFilter::OFF, LevelFilter::ERROR).is_err());
    }
}
