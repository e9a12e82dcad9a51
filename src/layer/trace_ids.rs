//! The OpenTelemetry trace id and span id of a record's innermost span.
//!
//! tracing-opentelemetry keeps each span's OpenTelemetry context in a private span extension and
//! gives it out only through the dispatch (`get_otel_context`), starting the OpenTelemetry span
//! if it was not started yet (it is, as soon as the span is entered). Its ids never change after
//! that, so a span's ids are looked up once, on the first record inside it, and kept in this
//! layer's own span context: every later record pays one atomic load.
//!
//! Without the `opentelemetry` feature everything here is zero-sized and does nothing.

#[cfg(feature = "opentelemetry")]
pub(crate) use enabled::*;

#[cfg(not(feature = "opentelemetry"))]
pub(crate) use disabled::*;

/// `,"trace_id":"<32 hex>","span_id":"<16 hex>"`: what a record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceIds {
    trace: [u8; 32],
    span: [u8; 16],
}

impl TraceIds {
    /// W3C form: lowercase hex, big-endian byte order.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn from_bytes(trace: [u8; 16], span: [u8; 8]) -> Self {
        let mut ids = TraceIds {
            trace: [0; 32],
            span: [0; 16],
        };
        hex(&trace, &mut ids.trace);
        hex(&span, &mut ids.span);
        ids
    }

    /// Appends the two keys to a record being assembled.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"trace_id\":\"");
        out.extend_from_slice(&self.trace);
        out.extend_from_slice(b"\",\"span_id\":\"");
        out.extend_from_slice(&self.span);
        out.push(b'"');
    }
}

#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
fn hex(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
}

#[cfg(feature = "opentelemetry")]
mod enabled {
    use super::TraceIds;
    use crate::layer::spans::SpanContexts;
    use opentelemetry::trace::TraceContextExt;
    use std::sync::OnceLock;
    use tracing_core::dispatcher::WeakDispatch;
    use tracing_core::{span, Dispatch, Subscriber};
    use tracing_subscriber::layer::Context;
    use tracing_subscriber::registry::{LookupSpan, SpanRef};

    /// The dispatch this layer is registered in: tracing-opentelemetry answers only through it.
    /// Weak, because the dispatch owns the layer.
    #[derive(Debug, Default)]
    pub(crate) struct DispatchSlot(OnceLock<WeakDispatch>);

    impl DispatchSlot {
        pub(crate) fn register(&self, dispatch: &Dispatch) {
            // A layer lives in one dispatch; a second registration (a clone of the same
            // subscriber) is the same registry.
            let _ = self.0.set(dispatch.downgrade());
        }
    }

    /// A span's ids once looked up: `None` inside when no OpenTelemetry span encloses it.
    pub(crate) type Cached = OnceLock<Option<TraceIds>>;

    /// The ids of the innermost span of a record: `leaf` is that span and `cached` what its
    /// context already knows. Looks them up (and remembers them) on the first record in a span.
    pub(crate) fn for_record<S>(
        slot: &DispatchSlot,
        layer: u64,
        ctx: &Context<'_, S>,
        leaf: &span::Id,
        cached: Option<Option<TraceIds>>,
    ) -> Option<TraceIds>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if let Some(known) = cached {
            return known;
        }
        let span = ctx.span(leaf)?;
        let dispatch = slot.0.get().and_then(WeakDispatch::upgrade);
        // Leaf to root: a span the OpenTelemetry layer does not see (its own filter rejected
        // it) carries the ids of the nearest one it does.
        let mut visited: Vec<SpanRef<'_, S>> = Vec::new();
        let mut found = None;
        for s in span.scope() {
            if let Some(known) = cached_ids(&s, layer) {
                found = known;
                break;
            }
            let ids = dispatch.as_ref().and_then(|d| otel_ids(d, &s.id()));
            visited.push(s);
            if ids.is_some() {
                found = ids;
                break;
            }
        }
        for s in &visited {
            let ext = s.extensions();
            if let Some(c) = ext.get::<SpanContexts>().and_then(|c| c.for_layer(layer)) {
                let _ = c.trace_ids.set(found);
            }
        }
        found
    }

    fn cached_ids<S>(span: &SpanRef<'_, S>, layer: u64) -> Option<Option<TraceIds>>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let ext = span.extensions();
        let c = ext.get::<SpanContexts>()?.for_layer(layer)?;
        c.trace_ids.get().copied()
    }

    /// Asks tracing-opentelemetry (of the pinned version: another version's layer does not
    /// answer, which `otel::layer` turns into a compile error) for the span's context.
    fn otel_ids(dispatch: &Dispatch, id: &span::Id) -> Option<TraceIds> {
        // No `dispatcher::with_default` around this to silence what the SDK might log while it
        // starts a span: swapping the default inside a dispatch panics (its state is borrowed).
        // tracing-opentelemetry starts the span with its own re-entrancy guard, and a record
        // this layer writes meanwhile gets fresh buffers (`with_buffers`).
        let cx = tracing_opentelemetry::get_otel_context(id, dispatch)?;
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid()
            .then(|| TraceIds::from_bytes(sc.trace_id().to_bytes(), sc.span_id().to_bytes()))
    }
}

#[cfg(not(feature = "opentelemetry"))]
mod disabled {
    use tracing_core::Dispatch;

    #[derive(Debug, Default)]
    pub(crate) struct DispatchSlot;

    impl DispatchSlot {
        pub(crate) fn register(&self, _: &Dispatch) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_written_as_lowercase_w3c_hex() {
        let ids = TraceIds::from_bytes(
            [
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36,
            ],
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
        );
        let mut out = Vec::new();
        ids.write(&mut out);
        assert_eq!(
            out,
            br#","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7""#
        );
    }
}
