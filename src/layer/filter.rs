//! The per-layer filter in front of the layer: what either stream wants, and nothing else.
//!
//! It is a per-layer filter (not `Layer::enabled`) so that it never disables anything for sibling
//! layers, and so that `RUST_LOG` or a sibling's filter cannot disable audit events for us. The
//! debug stream's `EnvFilter` is consulted only for what is not audit and not span context, and
//! follows spans only when it has span or field directives (its span hooks take a shared lock
//! on every span enter and exit, for nothing when it has none).

use super::plan::plan_for;
use super::Shared;
use crate::Stream;
use std::sync::Arc;
use tracing_core::{span, subscriber::Interest, LevelFilter, Metadata};
use tracing_subscriber::layer::{Context, Filter};

#[derive(Debug, Clone)]
pub(crate) struct RouteFilter {
    pub(crate) shared: Arc<Shared>,
}

/// What the filter decides for a callsite without looking at the debug stream's filter.
enum Wanted {
    /// Audit event at or above the floor, or a span at or above the context floor.
    Always,
    /// Only if the debug stream's filter wants it.
    IfDebugWants,
}

impl RouteFilter {
    fn wanted(&self, meta: &Metadata<'_>) -> Wanted {
        let shared = &self.shared;
        if meta.is_span() {
            // Spans are context for both streams: an audit event must carry its request span's
            // fields even when RUST_LOG would not show that span.
            if shared.context_admits(meta.level()) {
                return Wanted::Always;
            }
            return Wanted::IfDebugWants;
        }
        if shared.audit_admits(meta.level()) && plan_for(shared, meta).route == Stream::Audit {
            return Wanted::Always;
        }
        Wanted::IfDebugWants
    }
}

impl<S> Filter<S> for RouteFilter {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        match self.wanted(meta) {
            Wanted::Always => true,
            Wanted::IfDebugWants => Filter::<S>::enabled(&self.shared.debug_filter, meta, cx),
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        match self.wanted(meta) {
            Wanted::Always => {
                if meta.is_event() {
                    self.shared.reach.saw_audit_callsite(meta);
                }
                if self.shared.debug_filter_tracks_spans {
                    // The debug filter learns here which span callsites its span directives
                    // match; without this it would never recognise the spans it filters by.
                    let _ = Filter::<S>::callsite_enabled(&self.shared.debug_filter, meta);
                }
                Interest::always()
            }
            Wanted::IfDebugWants => Filter::<S>::callsite_enabled(&self.shared.debug_filter, meta),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let shared = &self.shared;
        let debug = Filter::<S>::max_level_hint(&shared.debug_filter).unwrap_or(LevelFilter::TRACE);
        Some(debug.max(shared.audit_floor).max(shared.context_floor))
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if self.shared.debug_filter_tracks_spans {
            Filter::<S>::on_new_span(&self.shared.debug_filter, attrs, id, ctx)
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if self.shared.debug_filter_tracks_spans {
            Filter::<S>::on_record(&self.shared.debug_filter, id, values, ctx)
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        if self.shared.debug_filter_tracks_spans {
            Filter::<S>::on_enter(&self.shared.debug_filter, id, ctx)
        }
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        if self.shared.debug_filter_tracks_spans {
            Filter::<S>::on_exit(&self.shared.debug_filter, id, ctx)
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if self.shared.debug_filter_tracks_spans {
            Filter::<S>::on_close(&self.shared.debug_filter, id, ctx)
        }
    }
}
