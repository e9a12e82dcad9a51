//! Span context: each span's fields rendered and redacted once, kept in the registry's
//! extensions, and written into every record inside the span.

use super::plan::{is_identity, plan_for, stream_index, FieldKind, LIFTED};
use super::Shared;
use crate::record::fields::{render_text, Value, Visitor};
use crate::record::{json, with_buffers};
use crate::Stream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use tracing_core::field::Visit;
use tracing_core::Metadata;

/// Rendered span field values per stream: `(name, Some(JSON value) | None when dropped)`.
pub(crate) type Rendered = [Vec<(&'static str, Option<Vec<u8>>)>; 2];

/// A correlation id: 16 lowercase hex digits shared by every record under one root span.
pub(crate) type CorrelationId = [u8; 16];

/// One span's fields as rendered for one stream.
#[derive(Debug, Default)]
pub(crate) struct RenderedFields {
    /// `(name, JSON value)`; replaced in place by `Span::record`.
    values: Vec<(&'static str, Vec<u8>)>,
    /// `"name":value,...`, rebuilt after every change.
    json: Vec<u8>,
}

impl RenderedFields {
    fn set(&mut self, name: &'static str, value: Option<Vec<u8>>) {
        let existing = self.values.iter().position(|(n, _)| *n == name);
        match (existing, value) {
            (Some(i), Some(v)) => self.values[i].1 = v,
            (None, Some(v)) => self.values.push((name, v)),
            (Some(i), None) => {
                self.values.remove(i);
            }
            (None, None) => {}
        }
    }

    fn rebuild(&mut self) {
        self.json.clear();
        for (i, (name, value)) in self.values.iter().enumerate() {
            if i > 0 {
                self.json.push(b',');
            }
            json::write_key(&mut self.json, name);
            self.json.extend_from_slice(value);
        }
    }

    /// The rendered value of a field called `name`, if the span has one.
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    pub(crate) fn json(&self) -> &[u8] {
        &self.json
    }
}

/// What one layer instance keeps about one span.
#[derive(Debug)]
pub(crate) struct SpanContext {
    layer: u64,
    pub(crate) correlation_id: CorrelationId,
    streams: [RenderedFields; 2],
}

impl SpanContext {
    pub(crate) fn fields(&self, stream: Stream) -> &RenderedFields {
        &self.streams[stream_index(stream)]
    }
}

/// The extension actually stored. Extensions are keyed by type and inserting twice panics, so
/// every `AuditLayer` in a registry shares this one value and keeps its own entry in it.
#[derive(Debug, Default)]
pub(crate) struct SpanContexts(Vec<SpanContext>);

impl SpanContexts {
    pub(crate) fn for_layer(&self, layer: u64) -> Option<&SpanContext> {
        self.0.iter().find(|c| c.layer == layer)
    }

    fn for_layer_mut(&mut self, layer: u64) -> Option<&mut SpanContext> {
        self.0.iter_mut().find(|c| c.layer == layer)
    }
}

/// Renders the fields in `values` for both streams as `(name, Some(json) | None = dropped)`.
/// Runs user `Debug` impls, so it must be called without holding any extension lock.
fn render(shared: &Shared, meta: &Metadata<'_>, record: impl FnOnce(&mut dyn Visit)) -> Rendered {
    let plan = plan_for(shared, meta);
    let mut rendered: Rendered = Default::default();
    with_buffers(|bufs| {
        let mut visitor = Visitor(|field: &tracing_core::Field, value: Value<'_>| {
            let fp = plan.field(field.index());
            if matches!(fp.kind, FieldKind::Skip) {
                return;
            }
            // User formatting runs once, however many streams render the result.
            let value = match value {
                Value::Debug(_) | Value::Error(_) => {
                    bufs.text.clear();
                    render_text(value, &mut bufs.text);
                    Value::Str(&bufs.text)
                }
                other => other,
            };
            for stream in [Stream::Audit, Stream::Debug] {
                let i = stream_index(stream);
                let (identity, as_string) = match (stream, fp.kind) {
                    (Stream::Audit, FieldKind::Lifted(k)) => (is_identity(k), true),
                    _ => (false, false),
                };
                let mut out = Vec::new();
                let kept = shared.renderer(stream).write_value(
                    &mut out,
                    value,
                    fp.actions[i],
                    identity,
                    as_string,
                    &mut String::new(),
                    &mut bufs.scratch,
                );
                rendered[i].push((field.name(), kept.then_some(out)));
            }
        });
        record(&mut visitor);
    });
    rendered
}

/// Builds the context of a new span; `parent` is the nearest enclosing span this layer sees.
pub(crate) fn new_span_context(
    shared: &Shared,
    attrs: &tracing_core::span::Attributes<'_>,
    parent: Option<CorrelationId>,
) -> SpanContext {
    let rendered = render(shared, attrs.metadata(), |v| attrs.record(v));
    let mut streams: [RenderedFields; 2] = Default::default();
    for (fields, values) in streams.iter_mut().zip(rendered) {
        for (name, value) in values {
            fields.set(name, value);
        }
        fields.rebuild();
    }
    SpanContext {
        layer: shared.id,
        correlation_id: parent.unwrap_or_else(new_correlation_id),
        streams,
    }
}

/// Renders late-recorded values; apply them with [`apply_record`] under the extension lock.
pub(crate) fn render_record(
    shared: &Shared,
    meta: &Metadata<'_>,
    values: &tracing_core::span::Record<'_>,
) -> Rendered {
    render(shared, meta, |v| values.record(v))
}

/// Replaces the span's fields with the late-recorded values (replace semantics).
pub(crate) fn apply_record(contexts: &mut SpanContexts, layer: u64, rendered: Rendered) {
    let Some(ctx) = contexts.for_layer_mut(layer) else {
        return;
    };
    for (fields, values) in ctx.streams.iter_mut().zip(rendered) {
        for (name, value) in values {
            fields.set(name, value);
        }
        fields.rebuild();
    }
}

impl SpanContexts {
    pub(crate) fn insert(&mut self, ctx: SpanContext) {
        match self.for_layer_mut(ctx.layer) {
            Some(existing) => *existing = ctx,
            None => self.0.push(ctx),
        }
    }
}

/// A process-unique id: a random-ish per-process seed plus a counter, mixed so ids of one process
/// do not look sequential and ids of different processes do not collide in practice.
fn new_correlation_id() -> CorrelationId {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let addr = &COUNTER as *const AtomicU64 as u64;
        splitmix64(nanos ^ (u64::from(std::process::id()) << 32) ^ addr)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = splitmix64(seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let mut out = [0u8; 16];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = HEX[((id >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The index of a lifted key by name (for span fallbacks).
pub(crate) fn lifted_name(k: usize) -> &'static str {
    LIFTED[k]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_unique_and_hex() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| new_correlation_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.iter().all(u8::is_ascii_hexdigit)));
    }
}
