//! Span context: each span's fields rendered and redacted once, kept in the registry's
//! extensions, and written into every record inside the span.

use super::plan::{is_identity, plan_for, stream_index, FieldKind};
use super::Shared;
use crate::record::fields::{render_text, Value, Visitor, DETECTION_MARGIN};
use crate::record::with_buffers;
use crate::trail::json;
use crate::Stream;
use smallvec::SmallVec;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use tracing_core::field::Visit;
use tracing_core::Metadata;

/// A correlation id: 16 lowercase hex digits shared by every record under one root span.
pub(crate) type CorrelationId = [u8; 16];

/// One span's fields as rendered for one stream.
///
/// All values live in the one `json` buffer (`"name":value,...`, exactly what a record embeds),
/// found by range: a span costs a couple of allocations per stream, not one per field.
#[derive(Debug, Default)]
pub(crate) struct RenderedFields {
    /// `"name":value,...`.
    json: Vec<u8>,
    /// Each field's name and where its JSON value lies in `json`; inline for the few fields a
    /// span usually has, so that a span costs no allocation for it.
    values: SmallVec<[(&'static str, Range<usize>); INLINE_FIELDS]>,
}

/// Fields of a span kept without an allocation of their own (a request span: id, user, method,
/// route).
const INLINE_FIELDS: usize = 4;

impl Clone for RenderedFields {
    /// A copy with [`FIRST_CAPACITY`] room at least, like a rendering of its own.
    fn clone(&self) -> Self {
        let mut json = Vec::with_capacity(self.json.len().max(FIRST_CAPACITY));
        json.extend_from_slice(&self.json);
        RenderedFields {
            json,
            values: self.values.clone(),
        }
    }
}

impl RenderedFields {
    /// Appends one field; `write` appends its JSON value and returns `false` (having appended
    /// nothing) when the field is dropped.
    fn push(&mut self, name: &'static str, write: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
        if self.json.capacity() == 0 {
            self.json.reserve(FIRST_CAPACITY);
        }
        let mark = self.json.len();
        if !self.values.is_empty() {
            self.json.push(b',');
        }
        json::write_key(&mut self.json, name);
        let value_start = self.json.len();
        if write(&mut self.json) {
            self.values.push((name, value_start..self.json.len()));
            true
        } else {
            self.json.truncate(mark);
            false
        }
    }

    /// Applies a rendering of some of the span's fields with replace semantics: a value
    /// replaces the field's current one in place, a new name is appended, a dropped name is
    /// removed.
    fn apply(&mut self, update: Update) {
        let has_duplicates = update
            .fields
            .values
            .iter()
            .enumerate()
            .any(|(i, (name, _))| update.fields.values[..i].iter().any(|(n, _)| n == name));
        if self.values.is_empty() && !has_duplicates {
            // A new span: the rendering is the result.
            *self = update.fields;
            return;
        }
        // Edited in place: a late `Span::record` allocates nothing once the buffers have room.
        for (name, range) in &update.fields.values {
            self.set(name, &update.fields.json[range.clone()]);
        }
        for name in &update.dropped {
            self.remove(name);
        }
    }

    /// Replaces the value of `name` (keeping its place), or appends the field.
    fn set(&mut self, name: &'static str, value: &[u8]) {
        let Some(i) = self.values.iter().position(|(n, _)| *n == name) else {
            self.push(name, |out| {
                out.extend_from_slice(value);
                true
            });
            return;
        };
        let old = self.values[i].1.clone();
        self.json.splice(old.clone(), value.iter().copied());
        self.values[i].1 = old.start..old.start + value.len();
        self.shift_after(i, old.len(), value.len());
    }

    /// Removes the field `name` with its separating comma, if the span has it.
    fn remove(&mut self, name: &str) {
        let Some(i) = self.values.iter().position(|(n, _)| *n == name) else {
            return;
        };
        let end = self.values[i].1.end;
        // The first field takes the comma after it along, any other the comma before it.
        let cut = match i {
            0 if self.values.len() > 1 => 0..end + 1,
            0 => 0..end,
            _ => self.values[i - 1].1.end..end,
        };
        self.json.drain(cut.clone());
        self.values.remove(i);
        if i < self.values.len() {
            self.shift_after(i.wrapping_sub(1), cut.len(), 0);
        }
    }

    /// Moves the ranges of the fields after index `i` (all fields for `usize::MAX`) by the
    /// difference between an old and a new length written before them.
    fn shift_after(&mut self, i: usize, old_len: usize, new_len: usize) {
        let from = i.wrapping_add(1);
        for (_, range) in &mut self.values[from..] {
            *range = range.start + new_len - old_len..range.end + new_len - old_len;
        }
    }

    /// The rendered value of the field pushed last.
    fn last_value(&self) -> Option<&[u8]> {
        let (_, range) = self.values.last()?;
        self.json.get(range.clone())
    }

    /// The rendered value of a field called `name`, if the span has one.
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, range)| self.json.get(range.clone()))
    }

    /// Every field's name and rendered JSON value, in order.
    #[cfg_attr(not(feature = "shred"), allow(dead_code))]
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&'static str, &[u8])> {
        self.values
            .iter()
            .map(|(n, range)| (*n, self.json.get(range.clone()).unwrap_or_default()))
    }

    pub(crate) fn json(&self) -> &[u8] {
        &self.json
    }
}

/// Room for a typical span's fields, reserved on the first field so the buffer rarely grows.
const FIRST_CAPACITY: usize = 96;

/// Some of a span's fields rendered for one stream: the kept ones, and the names whose values
/// the redaction policy drops. A field name's action is fixed, so a name is never in both.
#[derive(Debug, Default, Clone)]
pub(crate) struct Update {
    fields: RenderedFields,
    dropped: Vec<&'static str>,
}

/// Rendered span field values, per stream (indexed by `stream_index`).
pub(crate) type Rendered = [Update; 2];

/// A rendering of a span's fields: per stream, or once for both when every field renders to
/// the same bytes in both (the common case: no per-stream rule names any of the span's fields),
/// which saves a new span two allocations and a copy.
enum Rendering {
    PerStream(Rendered),
    Both(Update),
}

impl Rendering {
    fn per_stream(self) -> Rendered {
        match self {
            Rendering::PerStream(rendered) => rendered,
            Rendering::Both(update) => [update.clone(), update],
        }
    }
}

/// What one layer instance keeps about one span.
#[derive(Debug)]
pub(crate) struct SpanContext {
    layer: u64,
    pub(crate) correlation_id: CorrelationId,
    /// Per stream; the debug entry stays empty while `shared` holds.
    streams: [RenderedFields; 2],
    /// Both streams' fields are `streams[0]`: every field rendered alike so far. Cleared (and
    /// the debug entry filled with a copy) by the first late record that sets it apart.
    shared: bool,
    /// The OpenTelemetry ids of this span, looked up on the first record inside it.
    #[cfg(feature = "opentelemetry")]
    pub(crate) trace_ids: super::trace_ids::Cached,
}

impl SpanContext {
    pub(crate) fn fields(&self, stream: Stream) -> &RenderedFields {
        if self.shared {
            &self.streams[0]
        } else {
            &self.streams[stream_index(stream)]
        }
    }
}

/// The extension actually stored. Extensions are keyed by type and inserting twice panics, so
/// every `AuditLayer` in a registry shares this one value and keeps its own entry in it.
#[derive(Debug, Default)]
pub(crate) struct SpanContexts {
    /// Nearly every registry has one `AuditLayer`: its context is kept inline, without an
    /// allocation of its own.
    first: Option<SpanContext>,
    others: Vec<SpanContext>,
}

impl SpanContexts {
    pub(crate) fn for_layer(&self, layer: u64) -> Option<&SpanContext> {
        self.first
            .iter()
            .chain(&self.others)
            .find(|c| c.layer == layer)
    }

    fn for_layer_mut(&mut self, layer: u64) -> Option<&mut SpanContext> {
        self.first
            .iter_mut()
            .chain(&mut self.others)
            .find(|c| c.layer == layer)
    }
}

/// Renders the fields in `values` for both streams. Runs user `Debug` impls, so it must be
/// called without holding any extension lock.
fn render(shared: &Shared, meta: &Metadata<'_>, record: impl FnOnce(&mut dyn Visit)) -> Rendering {
    let plan = plan_for(shared, meta);
    let mut rendered: Rendered = Default::default();
    // Every field so far rendered alike: the debug rendering is left empty until one is not.
    let mut all_alike = true;
    // Only scalars forced into strings (lifted keys) are formatted into this; it stays
    // unallocated otherwise.
    let mut number_text = String::new();
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
                    let limit = shared.max_value_len.saturating_add(DETECTION_MARGIN);
                    let beyond = render_text(value, &mut bufs.text, limit, &shared.render_counters);
                    Value::Rendered(&bufs.text, beyond)
                }
                other => other,
            };
            let alike = shared.streams_scrub_alike
                && fp.actions[0] == fp.actions[1]
                && !matches!(fp.kind, FieldKind::Lifted(_));
            if !alike && all_alike {
                // The first field that differs: the debug rendering catches up with the alike
                // fields so far.
                all_alike = false;
                rendered[1] = rendered[0].clone();
            }
            if alike {
                // Same bytes for both streams: scrub once, copy (unless all are alike so far).
                let [audit, debug] = &mut rendered;
                let kept = audit.fields.push(field.name(), |out| {
                    shared.renderer(Stream::Audit).write_value(
                        out,
                        value,
                        field.name(),
                        fp.actions[0],
                        false,
                        false,
                        &mut number_text,
                        &mut bufs.scratch,
                    )
                });
                match audit.fields.last_value() {
                    _ if all_alike => {
                        if !kept {
                            audit.dropped.push(field.name());
                        }
                    }
                    Some(bytes) if kept => {
                        debug.fields.push(field.name(), |out| {
                            out.extend_from_slice(bytes);
                            true
                        });
                    }
                    _ => {
                        audit.dropped.push(field.name());
                        debug.dropped.push(field.name());
                    }
                }
                return;
            }
            for stream in [Stream::Audit, Stream::Debug] {
                let i = stream_index(stream);
                let (identity, as_string) = match (stream, fp.kind) {
                    (Stream::Audit, FieldKind::Lifted(k)) => (is_identity(k), true),
                    _ => (false, false),
                };
                let update = &mut rendered[i];
                let kept = update.fields.push(field.name(), |out| {
                    shared.renderer(stream).write_value(
                        out,
                        value,
                        field.name(),
                        fp.actions[i],
                        identity,
                        as_string,
                        &mut number_text,
                        &mut bufs.scratch,
                    )
                });
                if !kept {
                    update.dropped.push(field.name());
                }
            }
        });
        record(&mut visitor);
    });
    if all_alike {
        let [audit, _] = rendered;
        Rendering::Both(audit)
    } else {
        Rendering::PerStream(rendered)
    }
}

/// Builds the context of a new span; `parent` is the nearest enclosing span this layer sees.
pub(crate) fn new_span_context(
    shared: &Shared,
    attrs: &tracing_core::span::Attributes<'_>,
    parent: Option<CorrelationId>,
) -> SpanContext {
    let mut streams: [RenderedFields; 2] = Default::default();
    let shared_fields = match render(shared, attrs.metadata(), |v| attrs.record(v)) {
        Rendering::Both(update) => {
            streams[0].apply(update);
            true
        }
        Rendering::PerStream(rendered) => {
            for (fields, update) in streams.iter_mut().zip(rendered) {
                fields.apply(update);
            }
            false
        }
    };
    SpanContext {
        layer: shared.id,
        correlation_id: parent.unwrap_or_else(new_correlation_id),
        streams,
        shared: shared_fields,
        #[cfg(feature = "opentelemetry")]
        trace_ids: Default::default(),
    }
}

/// Renders late-recorded values; apply them with [`apply_record`] under the extension lock.
pub(crate) fn render_record(
    shared: &Shared,
    meta: &Metadata<'_>,
    values: &tracing_core::span::Record<'_>,
) -> Rendered {
    render(shared, meta, |v| values.record(v)).per_stream()
}

/// Replaces the span's fields with the late-recorded values (replace semantics).
pub(crate) fn apply_record(contexts: &mut SpanContexts, layer: u64, rendered: Rendered) {
    let Some(ctx) = contexts.for_layer_mut(layer) else {
        return;
    };
    if ctx.shared {
        // A late record may set the streams apart: from now on each keeps its own fields.
        ctx.streams[1] = ctx.streams[0].clone();
        ctx.shared = false;
    }
    for (fields, update) in ctx.streams.iter_mut().zip(rendered) {
        fields.apply(update);
    }
}

impl SpanContexts {
    pub(crate) fn insert(&mut self, ctx: SpanContext) {
        if let Some(existing) = self.for_layer_mut(ctx.layer) {
            *existing = ctx;
        } else if self.first.is_none() {
            self.first = Some(ctx);
        } else {
            self.others.push(ctx);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn update(kept: &[(&'static str, &str)], dropped: &[&'static str]) -> Update {
        let mut u = Update::default();
        for (name, value) in kept {
            u.fields.push(name, |out| {
                out.extend_from_slice(value.as_bytes());
                true
            });
        }
        u.dropped.extend_from_slice(dropped);
        u
    }

    #[test]
    fn span_fields_are_one_json_buffer_with_values_by_name() {
        let mut f = RenderedFields::default();
        f.apply(update(&[("a", "1"), ("b", "\"x\"")], &[]));
        assert_eq!(f.json(), br#""a":1,"b":"x""#);
        assert_eq!(f.get("b"), Some(&br#""x""#[..]));
        assert_eq!(f.get("c"), None);
    }

    #[test]
    fn late_record_replaces_in_place_appends_new_and_removes_dropped() {
        let mut f = RenderedFields::default();
        f.apply(update(&[("a", "1"), ("b", "2"), ("c", "3")], &[]));
        f.apply(update(&[("b", "20"), ("d", "4")], &["a"]));
        assert_eq!(f.json(), br#""b":20,"c":3,"d":4"#);
        assert_eq!(f.get("a"), None);
        assert_eq!(f.get("d"), Some(&b"4"[..]));
    }

    proptest::proptest! {
        /// In-place edits agree with a plain ordered list of (name, value): replace keeps the
        /// place, new names append, dropped names go, and every value is found by name.
        #[test]
        fn in_place_updates_match_an_ordered_list(
            updates in proptest::collection::vec(
                (
                    proptest::collection::vec((0usize..5, "[a-z0-9]{0,6}"), 0..5),
                    proptest::collection::vec(0usize..5, 0..3),
                ),
                1..8,
            )
        ) {
            const NAMES: [&str; 5] = ["a", "bb", "c", "dd", "e"];
            let mut f = RenderedFields::default();
            let mut model: Vec<(&str, String)> = Vec::new();
            for (kept, dropped) in updates {
                let mut u = Update::default();
                for (n, v) in &kept {
                    let value = format!("\"{v}\"");
                    u.fields.push(NAMES[*n], |out| {
                        out.extend_from_slice(value.as_bytes());
                        true
                    });
                    match model.iter().position(|(m, _)| *m == NAMES[*n]) {
                        Some(i) => model[i].1 = value,
                        None => model.push((NAMES[*n], value)),
                    }
                }
                for n in &dropped {
                    // A name's action is fixed: it is never both kept and dropped.
                    if kept.iter().all(|(k, _)| k != n) {
                        u.dropped.push(NAMES[*n]);
                        model.retain(|(m, _)| *m != NAMES[*n]);
                    }
                }
                f.apply(u);
                let want: Vec<String> =
                    model.iter().map(|(n, v)| format!("\"{n}\":{v}")).collect();
                proptest::prop_assert_eq!(
                    String::from_utf8(f.json().to_vec()).unwrap(),
                    want.join(",")
                );
                for (n, v) in &model {
                    proptest::prop_assert_eq!(f.get(n), Some(v.as_bytes()));
                }
            }
        }
    }

    #[test]
    fn a_name_recorded_twice_keeps_its_first_place_and_last_value() {
        let mut f = RenderedFields::default();
        f.apply(update(&[("a", "1"), ("b", "2"), ("a", "3")], &[]));
        assert_eq!(f.json(), br#""a":3,"b":2"#);
    }

    #[test]
    fn correlation_ids_are_unique_and_hex() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| new_correlation_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.iter().all(u8::is_ascii_hexdigit)));
    }
}
