//! One event becomes one record: routed, visited, redacted, given its span context, encoded.

use super::plan::{is_identity, plan_for, stream_index, FieldKind, Plan, LIFTED, REQUIRED};
use super::record_cap;
use super::spans::SpanContexts;
use super::Shared;
use crate::record::fields::{Value, Visitor};
use crate::record::{with_buffers, Buffers};
use crate::trail::{json, time};
use crate::Stream;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use tracing_core::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

pub(crate) fn on_event<S>(shared: &Shared, event: &Event<'_>, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let normalized = event.normalized_metadata();
    let (meta, plan) = match &normalized {
        Some(real) => (
            real,
            Rc::new(Plan::build_split(shared, real, event.metadata())),
        ),
        None => (event.metadata(), plan_for(shared, event.metadata())),
    };
    let stream = if plan.route == Stream::Audit && shared.audit_admits(meta.level()) {
        Stream::Audit
    } else {
        Stream::Debug
    };
    let si = stream_index(stream);
    let renderer = shared.renderer(stream);

    with_buffers(|bufs| {
        let Buffers {
            out,
            message,
            fields,
            spans,
            lifted,
            text,
            scratch,
        } = bufs;

        // Fields first: this runs user `Debug` impls, so no lock may be held yet.
        let mut visitor = Visitor(|field: &tracing_core::Field, value: Value<'_>| {
            let fp = plan.field(field.index());
            match (fp.kind, stream) {
                (FieldKind::Skip, _) => {}
                (FieldKind::Message, _) => {
                    message.clear();
                    renderer.write_value(
                        message,
                        value,
                        field.name(),
                        fp.actions[si],
                        false,
                        false,
                        text,
                        scratch,
                    );
                }
                (FieldKind::Lifted(k), Stream::Audit) => {
                    lifted[k].clear();
                    renderer.write_value(
                        &mut lifted[k],
                        value,
                        field.name(),
                        fp.actions[si],
                        is_identity(k),
                        true,
                        text,
                        scratch,
                    );
                }
                _ => {
                    let mark = fields.len();
                    if !fields.is_empty() {
                        fields.push(b',');
                    }
                    json::write_key(fields, field.name());
                    if !renderer.write_value(
                        fields,
                        value,
                        field.name(),
                        fp.actions[si],
                        false,
                        false,
                        text,
                        scratch,
                    ) {
                        fields.truncate(mark);
                    }
                }
            }
        });
        event.record(&mut visitor);

        // Span context, root to leaf. Lifted audit keys the event lacks are taken from the
        // nearest enclosing span that has them (the request span usually knows the actor).
        let event_has: [bool; 7] = std::array::from_fn(|k| !lifted[k].is_empty());
        let mut correlation = None;
        // Where personal span values lie in `spans`, for encryption (feature `shred`).
        #[cfg(feature = "shred")]
        let mut marks = Vec::new();
        #[cfg(feature = "opentelemetry")]
        let mut leaf = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                let ext = span.extensions();
                let Some(sc) = ext
                    .get::<SpanContexts>()
                    .and_then(|c| c.for_layer(shared.id))
                else {
                    continue;
                };
                correlation.get_or_insert(sc.correlation_id);
                #[cfg(feature = "opentelemetry")]
                {
                    leaf = Some((span.id(), sc.trace_ids.get().copied()));
                }
                let rendered = sc.fields(stream);
                if !spans.is_empty() {
                    spans.push(b',');
                }
                spans.extend_from_slice(b"{\"name\":");
                json::write_str(spans, span.name());
                spans.extend_from_slice(b",\"fields\":{");
                #[cfg(feature = "shred")]
                match (&shared.shred, stream) {
                    (Some(shredder), Stream::Audit) => {
                        super::shred_hook::push_span_fields(shredder, spans, rendered, &mut marks)
                    }
                    _ => spans.extend_from_slice(rendered.json()),
                }
                #[cfg(not(feature = "shred"))]
                spans.extend_from_slice(rendered.json());
                spans.extend_from_slice(b"}}");
                if stream == Stream::Audit {
                    for k in 0..LIFTED.len() {
                        if event_has[k] {
                            continue;
                        }
                        if let Some(v) = rendered.get(LIFTED[k]) {
                            lifted[k].clear();
                            lifted[k].extend_from_slice(v);
                        }
                    }
                }
            }
        }

        // After the span loop: looking ids up takes the spans' extension locks again.
        #[cfg(feature = "opentelemetry")]
        let trace_ids = leaf.and_then(|(id, cached)| {
            super::trace_ids::for_record(&shared.dispatch, shared.id, ctx, &id, cached)
        });

        let ts = std::time::SystemTime::now();
        #[cfg(feature = "shred")]
        if stream == Stream::Audit {
            // `out` is still empty here: it serves as the encryption's scratch buffer.
            super::shred_hook::seal(shared, ts, lifted, spans, &marks, out);
            out.clear();
        }
        let violation = stream == Stream::Audit && REQUIRED.iter().any(|&k| lifted[k].is_empty());
        if violation {
            shared.schema_violations.fetch_add(1, Ordering::Relaxed);
        }
        let head = Head {
            ts,
            stream,
            level: level_str(meta.level()),
            target: meta.target(),
            correlation,
            violation,
        };
        #[cfg(feature = "opentelemetry")]
        let ids = |o: &mut Vec<u8>| {
            if let Some(ids) = &trace_ids {
                ids.write(o);
            }
        };
        #[cfg(not(feature = "opentelemetry"))]
        let ids = |_: &mut Vec<u8>| {};
        write_record(out, &head, lifted, message, fields, spans, &ids, None);
        if out.len() > shared.max_record_len {
            // Rare: re-read the parts and cut them at element boundaries (record_cap.rs).
            let total = out.len();
            let cut = {
                let [l0, l1, l2, l3, l4, l5, l6] = &mut *lifted;
                let mut strings = [&mut *message, l0, l1, l2, l3, l4, l5, l6];
                record_cap::shrink(shared.max_record_len, total, spans, fields, &mut strings)
            };
            out.clear();
            write_record(out, &head, lifted, message, fields, spans, &ids, Some(cut));
            shared.records_cut.fetch_add(1, Ordering::Relaxed);
        }
        shared.sink(stream).submit(out);
    });
}

/// What a record says before its values.
struct Head<'a> {
    ts: std::time::SystemTime,
    stream: Stream,
    level: &'static str,
    target: &'a str,
    correlation: Option<super::spans::CorrelationId>,
    violation: bool,
}

/// Assembles one record from its rendered parts; `ids` writes the OpenTelemetry ids, `cut`
/// says what the record cap removed.
#[allow(clippy::too_many_arguments)]
fn write_record(
    out: &mut Vec<u8>,
    head: &Head<'_>,
    lifted: &[Vec<u8>; 7],
    message: &[u8],
    fields: &[u8],
    spans: &[u8],
    ids: &dyn Fn(&mut Vec<u8>),
    cut: Option<record_cap::Cut>,
) {
    out.extend_from_slice(b"{\"ts\":\"");
    time::write_rfc3339(head.ts, out);
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(head.stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(head.level.as_bytes());
    out.extend_from_slice(b"\",\"target\":");
    json::write_str(out, head.target);
    if head.stream == Stream::Audit {
        for (k, value) in lifted.iter().enumerate() {
            if !value.is_empty() {
                out.extend_from_slice(LIFTED_KEYS[k]);
                out.extend_from_slice(value);
            }
        }
    }
    if !message.is_empty() {
        out.extend_from_slice(b",\"message\":");
        out.extend_from_slice(message);
    }
    out.extend_from_slice(b",\"fields\":{");
    out.extend_from_slice(fields);
    out.extend_from_slice(b"},\"spans\":[");
    out.extend_from_slice(spans);
    out.push(b']');
    if let Some(id) = &head.correlation {
        out.extend_from_slice(b",\"correlation_id\":\"");
        out.extend_from_slice(id);
        out.push(b'"');
    }
    ids(out);
    if head.violation {
        out.extend_from_slice(b",\"schema_violation\":[");
        let mut first = true;
        for &k in &REQUIRED {
            if lifted[k].is_empty() {
                if !first {
                    out.push(b',');
                }
                first = false;
                json::write_str(out, LIFTED[k]);
            }
        }
        out.push(b']');
    }
    if let Some(cut) = cut.filter(record_cap::Cut::any) {
        cut.write(out);
    }
    out.push(b'}');
}

/// `,"<key>":` for each of [`LIFTED`], in the same order: constant, so never escaped per record.
const LIFTED_KEYS: [&[u8]; 7] = [
    b",\"actor\":",
    b",\"action\":",
    b",\"resource\":",
    b",\"outcome\":",
    b",\"reason\":",
    b",\"src_ip\":",
    b",\"session\":",
];

fn level_str(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifted_key_prefixes_match_the_lifted_names() {
        for (k, name) in LIFTED.iter().enumerate() {
            let mut expected = vec![b','];
            json::write_key(&mut expected, name);
            assert_eq!(LIFTED_KEYS[k], &expected[..], "{name}");
        }
    }
}
