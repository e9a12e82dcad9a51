//! The [`AuditLayer`]: routes every event into the audit or the debug stream, redacts it, gives it
//! its span context and hands one JSON line to the stream's sink.

mod builder;
mod error;
mod event;
mod filter;
mod plan;
mod reach;
mod record_cap;
mod route;
mod settings;
#[cfg(feature = "shred")]
mod shred_hook;
mod spans;
mod trace_ids;

/// Back-pressure without blocking a thread, for the HTTP middleware (see `sink::queue::room`).
#[cfg(feature = "http")]
pub(crate) use crate::sink::{deferring, Deferred};
pub use builder::{AuditLayerBuilder, DEFAULT_MAX_VALUE_LEN};
pub use error::{BuildError, BuildErrorKind, SyncError, SyncErrorKind};
pub use reach::FilteredCallsite;
pub use settings::{AuditSettings, DebugFilter, DebugSettings};

use crate::record::fields::Renderer;
use crate::redact::policy::StreamPolicy;
use crate::redact::Pseudonymizer;
use crate::sink::{Health, SinkGuard, SinkHandle};
use crate::Stream;
use filter::RouteFilter;
use plan::stream_index;
use route::Router;
use spans::SpanContexts;
use std::any::TypeId;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing_core::{span, subscriber::Interest, Event, Level, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, Filtered};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Configuration and sinks shared by the layer, its filter and its handles.
pub(crate) struct Shared {
    /// Distinguishes layer instances in thread-local caches and span extensions.
    pub(crate) id: u64,
    pub(crate) router: Router,
    pub(crate) audit_floor: LevelFilter,
    pub(crate) context_floor: LevelFilter,
    pub(crate) debug_filter: EnvFilter,
    /// The debug filter has span or field directives (`[span{field=value}]=level`), so it must
    /// follow spans; otherwise its span hooks only take locks to find nothing.
    pub(crate) debug_filter_tracks_spans: bool,
    pub(crate) policies: [StreamPolicy; 2],
    /// Both streams scrub free text alike, so a span field with the same action in both renders
    /// to the same bytes and is rendered once.
    pub(crate) streams_scrub_alike: bool,
    pub(crate) hasher: Option<Pseudonymizer>,
    pub(crate) max_value_len: usize,
    /// Records longer than this are cut to fit ([`record_cap`]).
    pub(crate) max_record_len: usize,
    /// Records the cap had to cut.
    pub(crate) records_cut: AtomicU64,
    pub(crate) sinks: [SinkHandle; 2],
    pub(crate) schema_violations: AtomicU64,
    /// Values whose `Debug`/`Display` panicked while a record was rendered.
    pub(crate) render_counters: crate::record::fields::RenderCounters,
    /// Whether audit callsites can reach the layer through the rest of the subscriber.
    pub(crate) reach: reach::Reach,
    /// What the configuration does not guarantee, said once at build time.
    pub(crate) notes: Vec<String>,
    pub(crate) dispatch: trace_ids::DispatchSlot,
    /// Crypto-shredding of personal fields, when configured.
    #[cfg(feature = "shred")]
    pub(crate) shred: Option<crate::shred::Shredder>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("router", &self.router)
            .field("audit_floor", &self.audit_floor)
            .field("context_floor", &self.context_floor)
            .field("debug_filter", &self.debug_filter)
            .field("max_value_len", &self.max_value_len)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn audit_admits(&self, level: &Level) -> bool {
        *level <= self.audit_floor
    }

    pub(crate) fn context_admits(&self, level: &Level) -> bool {
        *level <= self.context_floor
    }

    pub(crate) fn renderer(&self, stream: Stream) -> Renderer<'_> {
        Renderer {
            policy: &self.policies[stream_index(stream)],
            hasher: self.hasher.as_ref(),
            max_len: self.max_value_len,
            counters: &self.render_counters,
        }
    }

    pub(crate) fn sink(&self, stream: Stream) -> &SinkHandle {
        &self.sinks[stream_index(stream)]
    }
}

/// The layer proper, behind [`RouteFilter`].
#[derive(Debug, Clone)]
pub(crate) struct Core {
    shared: Arc<Shared>,
}

impl<S> Layer<S> for Core
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &tracing_core::Dispatch) {
        self.shared.dispatch.register(dispatch);
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<SpanContexts>()
                .and_then(|c| c.for_layer(self.shared.id))
                .map(|c| c.correlation_id)
        });
        // Rendered before the extensions are locked: user `Debug` impls may log.
        let context = spans::new_span_context(&self.shared, attrs, parent);
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanContexts>() {
            Some(contexts) => contexts.insert(context),
            None => {
                let mut contexts = SpanContexts::default();
                contexts.insert(context);
                ext.insert(contexts);
            }
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let rendered = spans::render_record(&self.shared, span.metadata(), values);
        let mut ext = span.extensions_mut();
        if let Some(contexts) = ext.get_mut::<SpanContexts>() {
            spans::apply_record(contexts, self.shared.id, rendered);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        event::on_event(&self.shared, event, &ctx);
    }
}

/// A `tracing_subscriber` layer writing an audit trail and a debug log.
///
/// Build it with [`AuditLayer::builder`]; register it in a `registry()` next to any other layer.
/// It carries its own per-layer filter, so it neither disables anything for sibling layers nor
/// loses audit events to their filters or to `RUST_LOG`.
///
/// ```no_run
/// use tracing_audit::{layer::AuditLayer, sink::FileSink};
/// use tracing_subscriber::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (layer, _guard) = AuditLayer::builder()
///     .audit_to_files(FileSink::new("logs/audit"))
///     .debug_to_files(FileSink::new("logs/debug"))
///     .debug_filter("info,my_app=debug")
///     .build()?;
/// tracing_subscriber::registry().with(layer).init();
///
/// tracing::info!(target: "audit", actor = "alice", action = "read", resource = "/reports/q3", outcome = "success");
/// # Ok(()) }
/// ```
pub struct AuditLayer<S> {
    inner: Filtered<Core, RouteFilter, S>,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for AuditLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLayer")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl AuditLayer<tracing_subscriber::Registry> {
    /// Starts configuring a layer. See [`AuditLayerBuilder`] for the defaults.
    pub fn builder() -> AuditLayerBuilder {
        AuditLayerBuilder::new()
    }
}

impl<S> AuditLayer<S> {
    /// A handle to the layer's sinks: health counters and `sync()`.
    pub fn handle(&self) -> AuditHandle {
        AuditHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S> Layer<S> for AuditLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &tracing_core::Dispatch) {
        self.shared.reach.registered_in(subscriber);
        self.inner.on_register_dispatch(subscriber)
    }
    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber)
    }
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }
    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx)
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }
    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx)
    }
    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx)
    }
    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.inner.on_event(event, ctx)
    }
    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx)
    }
    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx)
    }
    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx)
    }
    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx)
    }
    // Forwarded so tracing-subscriber still recognises the per-layer filter inside (it asks by
    // downcasting for a marker type).
    #[doc(hidden)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        self.inner.downcast_raw(id)
    }
}

/// Health counters and fail-closed `sync()` for both streams. Cheap to clone.
///
/// ```no_run
/// # fn handle(h: tracing_audit::layer::AuditHandle) -> Result<(), Box<dyn std::error::Error>> {
/// use tracing_audit::Stream;
/// tracing::info!(target: "audit", actor = "alice", action = "delete", resource = "/x", outcome = "success");
/// // Refuse to answer the request if the audit record is not on disk.
/// h.sync()?;
/// println!("audit records written: {}", h.health(Stream::Audit).written);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuditHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for AuditHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditHandle")
            .field("audit", &self.health(Stream::Audit))
            .field("debug", &self.health(Stream::Debug))
            .finish()
    }
}

impl AuditHandle {
    /// Returns once every audit record emitted before the call is written and fsynced (whatever
    /// the sink's durability policy), or the error that prevents it. Use it to fail closed.
    ///
    /// It also fails, with [`SyncErrorKind::Filtered`], when another filter in the subscriber
    /// disables audit callsites before this layer sees them (`registry().with(EnvFilter)` under
    /// `RUST_LOG=warn`): those records were never emitted, and "nothing pending" would be a lie.
    /// The subscriber is asked at most once a second, and whenever a new audit callsite
    /// appears.
    ///
    /// For a `MakeWriter` destination, "durable" means written to and flushed by the writer
    /// that wrote them; a writer that queues for a thread of its own (`non_blocking`) cannot
    /// promise more than that.
    pub fn sync(&self) -> Result<(), SyncError> {
        self.check(false)?;
        self.shared
            .sink(Stream::Audit)
            .sync()
            .map_err(SyncError::sink)
    }

    /// Like [`sync`](Self::sync), but gives up with [`SyncErrorKind::TimedOut`] after
    /// `timeout`, for a request path with a latency budget.
    pub fn sync_timeout(&self, timeout: std::time::Duration) -> Result<(), SyncError> {
        self.check(false)?;
        self.shared
            .sink(Stream::Audit)
            .sync_timeout(timeout)
            .map_err(SyncError::sink)
    }

    /// Checks now that audit events can reach the layer: call it right after installing the
    /// subscriber to refuse to start with a filter that empties the audit trail.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tracing_audit::{sink::FileSink, layer::AuditLayer};
    /// use tracing_subscriber::prelude::*;
    ///
    /// let (layer, guard) = AuditLayer::builder()
    ///     .audit_to_files(FileSink::new("logs/audit"))
    ///     .debug_to_files(FileSink::new("logs/debug"))
    ///     .build()?;
    /// tracing_subscriber::registry().with(layer).init();
    /// guard.handle().check_filters()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SyncErrorKind::Filtered`], naming the callsites another filter disables.
    pub fn check_filters(&self) -> Result<(), SyncError> {
        self.check(true)
    }

    fn check(&self, fresh: bool) -> Result<(), SyncError> {
        let filtered = self.shared.reach.filtered(&self.shared, fresh);
        if filtered.is_empty() {
            Ok(())
        } else {
            Err(SyncError::filtered(filtered))
        }
    }

    /// The handle of one stream's sink: its [`Health`], `sync()` of that stream alone.
    pub fn sink(&self, stream: Stream) -> SinkHandle {
        self.shared.sink(stream).clone()
    }

    /// The counters of one stream's sink. For the audit stream,
    /// [`Health::filtered_callsites`] also lists audit callsites another filter disables.
    pub fn health(&self, stream: Stream) -> Health {
        let mut health = self.shared.sink(stream).health();
        health.formatting_panics = self.shared.render_counters.panics.load(Ordering::Relaxed);
        health.records_cut = self.shared.records_cut.load(Ordering::Relaxed);
        if stream == Stream::Audit {
            health.filtered_callsites = self
                .shared
                .reach
                .filtered(&self.shared, false)
                .iter()
                .map(ToString::to_string)
                .collect();
        }
        health
    }

    /// How many audit records were written without one of `actor`, `action`, `outcome`.
    pub fn schema_violations(&self) -> u64 {
        self.shared.schema_violations.load(Ordering::Relaxed)
    }

    /// What this configuration does not guarantee, for the application to log or show at
    /// start-up: for example that an audit chain without a key only detects accidental
    /// damage. Empty when there is nothing to say.
    pub fn notes(&self) -> &[String] {
        &self.shared.notes
    }
}

/// Flushes both streams when dropped: everything still queued is written (within each sink's
/// drain timeout) and anything that could not be is counted in its health.
///
/// Keep it alive for as long as the application logs, typically in `main`.
#[must_use = "dropping the guard flushes and stops both streams"]
pub struct AuditGuard {
    // Audit first: the audit trail gets the drain time first.
    audit: Option<SinkGuard>,
    debug: Option<SinkGuard>,
    handle: AuditHandle,
    /// Started by `AuditLayerBuilder::ship`; stopped after the sinks flushed.
    #[cfg(feature = "ship")]
    shippers: Vec<crate::ship::ShipperHandle>,
}

/// How long dropping the [`AuditGuard`] lets in-process shippers go on shipping what the sinks
/// wrote before it stops them (what is left is shipped by the next run, from the cursor).
#[cfg(feature = "ship")]
#[cfg_attr(docsrs, doc(cfg(feature = "ship")))]
pub const SHIP_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

impl fmt::Debug for AuditGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditGuard")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl AuditGuard {
    /// A handle to the same sinks.
    pub fn handle(&self) -> AuditHandle {
        self.handle.clone()
    }

    /// The counters of the in-process shippers, in the order they were given to
    /// [`AuditLayerBuilder::ship`]: acknowledged, lag, connected, last error.
    #[cfg(feature = "ship")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ship")))]
    pub fn shipping(&self) -> Vec<crate::ship::Health> {
        self.shippers.iter().map(|s| s.health()).collect()
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        drop(self.audit.take());
        drop(self.debug.take());
        #[cfg(feature = "ship")]
        for shipper in self.shippers.drain(..) {
            shipper.shutdown(SHIP_DRAIN);
        }
    }
}
