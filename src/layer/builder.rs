//! Configuring and building an [`AuditLayer`].

use super::error::BuildError;
use super::filter::RouteFilter;
use super::route::{RoutePredicate, Router};
use super::settings::{AuditSettings, DebugFilter, DebugSettings, FilterSource};
use super::{AuditGuard, AuditHandle, AuditLayer, Core, Shared};
use crate::chain::ChainConfig;
use crate::key::KeySource;
use crate::redact::policy::StreamPolicy;
use crate::redact::{Action, Pseudonymizer};
use crate::sink::{self, SinkSpec, Target};
use crate::Stream;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing_core::{Level, LevelFilter, Metadata};
use tracing_subscriber::filter::{EnvFilter, Filtered};
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};

/// Default cap on one string value, in bytes.
pub const DEFAULT_MAX_VALUE_LEN: usize = 16 * 1024;

pub(super) enum Destination {
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

/// Configures an [`AuditLayer`].
///
/// Methods of the builder itself apply to the layer or to both streams; what one stream alone
/// is configured with is set in [`audit`](Self::audit) ([`AuditSettings`]) or
/// [`debug`](Self::debug) ([`DebugSettings`]), and nowhere else.
///
/// | setting | default |
/// |---|---|
/// | audit destination | none: [`audit_to_files`](Self::audit_to_files) or [`audit_to`](Self::audit_to) is required |
/// | debug destination | none: [`debug_to_files`](Self::debug_to_files) or [`debug_to`](Self::debug_to) is required |
/// | debug filter | [`DebugFilter::from_env`]`("RUST_LOG")`, `info` when unset; never affects audit |
/// | audit routing | targets `audit`, `audit::*`, `*::audit`; events with a field named `audit` |
/// | span context floor | `INFO`: spans at INFO and above are always kept as context (this covers `#[instrument]`) |
/// | field-name redaction | [`FieldRules::default`](crate::redact::FieldRules::default) (mask `password`, `token`, `secret`, ... in both streams) |
/// | hash key | none: `Action::Hash` masks instead |
/// | audit chain | [`ChainConfig::default`]: plain SHA-256, no key (accidental damage only, see [`AuditHandle::notes`]) |
/// | value cap | [`DEFAULT_MAX_VALUE_LEN`] bytes per string value, marked when truncated |
/// | per-stream settings | [`AuditSettings`], [`DebugSettings`] |
///
/// ```no_run
/// use std::time::Duration;
/// use tracing::Level;
/// use tracing_audit::{sink::{FileSink, Overflow}, layer::AuditLayer};
///
/// # fn main() -> Result<(), tracing_audit::layer::BuildError> {
/// let (layer, guard) = AuditLayer::builder()
///     .audit_to_files(FileSink::new("logs/audit"))
///     .debug_to_files(FileSink::new("logs/debug"))
///     .debug_filter("info,my_app=debug")
///     .audit(|a| a.level(Level::INFO).overflow(Overflow::BlockFor(Duration::from_secs(1))))
///     .debug(|d| d.queue_capacity(1 << 20))
///     .build::<tracing_subscriber::Registry>()?;
/// # drop((layer, guard)); Ok(()) }
/// ```
#[must_use]
pub struct AuditLayerBuilder {
    audit: Option<Destination>,
    debug: Option<Destination>,
    debug_filter: DebugFilter,
    router: Router,
    context_floor: LevelFilter,
    audit_settings: AuditSettings,
    debug_settings: DebugSettings,
    hash_key: Option<KeySource>,
    chain: ChainConfig,
    max_value_len: usize,
    max_record_len: usize,
    #[cfg(feature = "ship")]
    shippers: Vec<crate::ship::Shipper>,
    #[cfg(feature = "shred")]
    shred: Option<crate::shred::ShredConfig>,
}

impl fmt::Debug for AuditLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLayerBuilder")
            .field("audit", &self.audit)
            .field("debug", &self.debug)
            .field("debug_filter", &self.debug_filter)
            .field("router", &self.router)
            .field("context_floor", &self.context_floor)
            .field("audit_settings", &self.audit_settings)
            .field("debug_settings", &self.debug_settings)
            .field("chain", &self.chain)
            .field("max_value_len", &self.max_value_len)
            .field("max_record_len", &self.max_record_len)
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
            debug_filter: DebugFilter::default(),
            router: Router::default(),
            context_floor: LevelFilter::INFO,
            audit_settings: AuditSettings::default(),
            debug_settings: DebugSettings::default(),
            hash_key: None,
            chain: ChainConfig::default(),
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            max_record_len: super::record_cap::DEFAULT_MAX_RECORD_LEN,
            #[cfg(feature = "ship")]
            shippers: Vec::new(),
            #[cfg(feature = "shred")]
            shred: None,
        }
    }

    /// Writes the audit stream to any `MakeWriter` (for example a `tracing_appender::rolling`
    /// appender). Records are still sequenced and chained; rotation and retention are then the
    /// writer's business and files carry no seals.
    ///
    /// `sync()` flushes the very writer that wrote the records, but a writer that hands records
    /// on to somewhere else (`tracing_appender::non_blocking` queues them for its own thread)
    /// cannot promise they reached their destination: prefer
    /// [`audit_to_files`](Self::audit_to_files) for the audit trail.
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

    /// The debug stream's filter: directives (`"info,my_app=debug"`), an [`EnvFilter`], or
    /// [`DebugFilter::from_env`]. Never affects the audit stream.
    pub fn debug_filter(mut self, filter: impl Into<DebugFilter>) -> Self {
        self.debug_filter = filter.into();
        self
    }

    /// Configures the audit stream: its level floor, overflow behaviour, redaction and queue.
    /// See [`AuditSettings`].
    pub fn audit(mut self, configure: impl FnOnce(AuditSettings) -> AuditSettings) -> Self {
        self.audit_settings = configure(self.audit_settings);
        self
    }

    /// Configures the debug stream's redaction and queue. See [`DebugSettings`].
    pub fn debug(mut self, configure: impl FnOnce(DebugSettings) -> DebugSettings) -> Self {
        self.debug_settings = configure(self.debug_settings);
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

    /// Spans at `level` or more severe are always kept as context for both streams, whatever the
    /// debug filter says. Default `INFO`.
    pub fn context_level(mut self, level: Level) -> Self {
        self.context_floor = LevelFilter::from_level(level);
        self
    }

    /// Adds a field-name rule (glob, case-insensitive) to both streams. A rule for one stream
    /// is added with [`AuditSettings::redact_field`] or [`DebugSettings::redact_field`].
    pub fn redact_field(mut self, pattern: &str, action: Action) -> Self {
        self.audit_settings = self.audit_settings.redact_field(pattern, action);
        self.debug_settings = self.debug_settings.redact_field(pattern, action);
        self
    }

    /// The key for `Action::Hash` pseudonyms (`hmac-sha256:<hex>`), loaded at `build()`.
    ///
    /// ```
    /// use tracing_audit::{layer::AuditLayer, KeySource};
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

    /// Ships a stream's files off the host in process: the [`Shipper`](crate::ship::Shipper)
    /// starts on a thread of its own once `build()` opened the files, never on the path of a
    /// logging call, and stops when the guard drops, after the sinks flushed and after shipping
    /// what they wrote for up to [`SHIP_DRAIN`](crate::layer::SHIP_DRAIN). May be given once per
    /// stream (or per receiver). Its health is [`AuditGuard::shipping`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tracing_audit::{ship::Shipper, sink::FileSink, layer::AuditLayer, Stream};
    ///
    /// let (layer, guard) = AuditLayer::builder()
    ///     .audit_to_files(FileSink::new("/var/log/myapp/audit"))
    ///     .debug_to_files(FileSink::new("/var/log/myapp/debug"))
    ///     .ship(Shipper::new("/var/log/myapp/audit", "relp://central.example:2514".parse()?).stream(Stream::Audit))
    ///     .build::<tracing_subscriber::Registry>()?;
    /// # drop((layer, guard)); Ok(()) }
    /// ```
    #[cfg(feature = "ship")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ship")))]
    pub fn ship(mut self, shipper: crate::ship::Shipper) -> Self {
        self.shippers.push(shipper);
        self
    }

    /// Encrypts the personal fields of audit records under per-subject keys
    /// ([`crate::shred`]), so that a subject can be erased by destroying its key
    /// ([`AuditHandle::erase`](super::AuditHandle::erase)).
    #[cfg(feature = "shred")]
    #[cfg_attr(docsrs, doc(cfg(feature = "shred")))]
    pub fn shred(mut self, config: crate::shred::ShredConfig) -> Self {
        self.shred = Some(config);
        self
    }

    /// Cap on one string value in bytes; longer values are cut and marked `…[truncated N bytes]`.
    pub fn max_value_len(mut self, bytes: usize) -> Self {
        self.max_value_len = bytes.max(16);
        self
    }

    /// Cap on one record in bytes before the chain's trailer (default 60 KiB, at least 4 KiB): a
    /// longer record loses its innermost spans, then its last fields, then the tail of its
    /// longest strings, and says so in `"cut"` (see docs/schema.md). Keep it below the
    /// shipper's `max_message_size` (64 KiB by default) so every record can be shipped.
    pub fn max_record_len(mut self, bytes: usize) -> Self {
        self.max_record_len = bytes.max(super::record_cap::MIN_MAX_RECORD_LEN);
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
        let audit_floor = self.audit_settings.floor;
        check_static_level(tracing::level_filters::STATIC_MAX_LEVEL, audit_floor)?;
        let debug_filter = match self.debug_filter.0 {
            FilterSource::Ready(filter) => *filter,
            FilterSource::Directives(d) => EnvFilter::builder()
                .parse(&d)
                .map_err(|e| BuildError::filter(format!("invalid debug filter {d:?}"), e))?,
            FilterSource::Env(var) => match std::env::var(&var) {
                Ok(d) if !d.trim().is_empty() => EnvFilter::builder().parse(&d).map_err(|e| {
                    BuildError::filter(format!("invalid debug filter in ${var} ({d:?})"), e)
                })?,
                _ => EnvFilter::new("info"),
            },
        };
        let hasher = match &self.hash_key {
            None => None,
            Some(source) => Some(Pseudonymizer::new(
                &source.load().map_err(BuildError::hash_key)?,
            )),
        };
        let audit = self
            .audit
            .ok_or_else(|| BuildError::missing_destination(Stream::Audit))?;
        // Before the sink starts: an erasure that a crash left half done is completed before
        // any record is written with the store.
        #[cfg(feature = "shred")]
        let shred = match &self.shred {
            None => None,
            Some(config) => {
                Some(super::shred_hook::open(config, &audit).map_err(BuildError::shred)?)
            }
        };
        let debug = self
            .debug
            .ok_or_else(|| BuildError::missing_destination(Stream::Debug))?;
        let (audit_common, debug_common) = (self.audit_settings.common, self.debug_settings.common);
        let policies = [
            StreamPolicy::new(
                audit_common.field_rules,
                audit_common.detectors,
                self.audit_settings.identity_keeps,
            ),
            StreamPolicy::new(debug_common.field_rules, debug_common.detectors, false),
        ];
        let (audit_tuning, debug_tuning) = (audit_common.tuning, debug_common.tuning);
        let mut notes = Vec::new();
        if !self.chain.is_keyed() {
            notes.push(
                "the audit chain has no key: it detects accidental damage only, since anyone who \
                 can write the files can recompute it; configure a ChainConfig key kept off this \
                 host for tamper evidence"
                    .to_owned(),
            );
        }
        // Both streams' indexes are authenticated under the audit chain key (none without one).
        let index_key = self
            .chain
            .chain_key()
            .map(crate::chain::index::IndexKey::derive);
        let (audit_sink, audit_guard) = sink::spawn_tuned(
            SinkSpec {
                stream: Stream::Audit,
                target: target(audit, index_key.clone()),
                framer: Some(self.chain.framer()),
            },
            audit_tuning,
        )
        .map_err(|e| BuildError::sink(Stream::Audit, e))?;
        let (debug_sink, debug_guard) = sink::spawn_tuned(
            SinkSpec {
                stream: Stream::Debug,
                target: target(debug, index_key),
                framer: None,
            },
            debug_tuning,
        )
        .map_err(|e| BuildError::sink(Stream::Debug, e))?;

        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            router: self.router,
            audit_floor,
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
            records_cut: AtomicU64::new(0),
            max_record_len: self.max_record_len,
            render_counters: Default::default(),
            reach: Default::default(),
            notes,
            dispatch: Default::default(),
            #[cfg(feature = "shred")]
            shred,
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
        // The files exist now: the shippers can open them.
        #[cfg(feature = "ship")]
        let shippers = self
            .shippers
            .into_iter()
            .map(crate::ship::Shipper::spawn)
            .collect::<Result<Vec<_>, _>>()
            .map_err(BuildError::ship)?;
        let guard = AuditGuard {
            audit: Some(audit_guard),
            debug: Some(debug_guard),
            handle: AuditHandle { shared },
            #[cfg(feature = "ship")]
            shippers,
        };
        Ok((layer, guard))
    }
}

/// Audit events at the floor must not be compiled out by tracing's `max_level_*` /
/// `release_max_level_*` features: that loss would be silent and total.
fn check_static_level(static_max: LevelFilter, audit_floor: LevelFilter) -> Result<(), BuildError> {
    if static_max < audit_floor {
        return Err(BuildError::static_max_level(static_max, audit_floor));
    }
    Ok(())
}

fn target(d: Destination, index_key: Option<crate::chain::index::IndexKey>) -> Target {
    match d {
        Destination::Writer(w) => Target::Writer(w),
        Destination::Files(f) => Target::Files(f.index_key(index_key)),
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
