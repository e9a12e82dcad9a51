//! OpenTelemetry fixtures shared by the compare bench and `examples/otel_cost.rs`: an exporter
//! that discards, and a wrapper that hides a layer from type lookups.
#![allow(dead_code, unreachable_pub)]

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Exports nothing: the spans' cost stays in the measurement, their storage does not grow.
#[derive(Debug)]
pub struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

/// Forwards every callback to the wrapped layer but answers no type lookups, so the audit
/// layer cannot find tracing-opentelemetry in the dispatch.
pub struct Hidden<L>(pub L);

impl<S, L> Layer<S> for Hidden<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, d: &tracing::Dispatch) {
        self.0.on_register_dispatch(d)
    }
    fn on_layer(&mut self, s: &mut S) {
        self.0.on_layer(s)
    }
    fn register_callsite(&self, m: &'static Metadata<'static>) -> Interest {
        self.0.register_callsite(m)
    }
    fn enabled(&self, m: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.0.enabled(m, ctx)
    }
    fn on_new_span(&self, a: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.0.on_new_span(a, id, ctx)
    }
    fn on_record(&self, id: &span::Id, v: &span::Record<'_>, ctx: Context<'_, S>) {
        self.0.on_record(id, v, ctx)
    }
    fn on_follows_from(&self, id: &span::Id, f: &span::Id, ctx: Context<'_, S>) {
        self.0.on_follows_from(id, f, ctx)
    }
    fn event_enabled(&self, e: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.0.event_enabled(e, ctx)
    }
    fn on_event(&self, e: &Event<'_>, ctx: Context<'_, S>) {
        self.0.on_event(e, ctx)
    }
    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.0.on_enter(id, ctx)
    }
    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.0.on_exit(id, ctx)
    }
    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.0.on_close(id, ctx)
    }
}
