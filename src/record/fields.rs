//! Field values rendered as redacted JSON.
//!
//! The order is fixed: the field-name action first (a `password` field is masked whatever it
//! holds), then the detectors over what is kept (a JWT inside an innocently named value), then
//! the length cap (after detection, so a truncated secret cannot slip past a detector), then
//! JSON escaping.

use crate::redact::policy::{apply_action, StreamPolicy};
use crate::redact::{Action, Pseudonymizer};
use crate::trail::json;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many `source()` links of an error are followed; guards against cyclic chains.
const MAX_ERROR_CHAIN: usize = 32;

/// Bytes of a value read past the length cap, so that the detectors see whole a secret that
/// begins before the cut (they run before the cap; a cut secret would no longer match).
pub(crate) const DETECTION_MARGIN: usize = 16 << 10;

/// What a value's own `Debug`/`Display` put in the record instead of itself when it panicked.
pub(crate) const PANIC_MARKER: &str = "[formatting panicked]";

/// What went wrong while formatting values, for the layer's health.
#[derive(Debug, Default)]
pub(crate) struct RenderCounters {
    /// Values whose `Debug`/`Display` panicked (the record was written with a marker).
    pub(crate) panics: AtomicU64,
}

/// A `fmt::Write` that takes at most `limit` bytes (cut on a character boundary) and refuses
/// the rest, so no `Debug`/`Display` can make a value use more memory than that, however much it
/// writes. Refusing is an error, which stops well-behaved impls early.
struct Bounded<'a> {
    text: &'a mut String,
    limit: usize,
    /// Bytes offered after the limit was reached.
    refused: u64,
}

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.limit.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        self.refused += (s.len() - cut) as u64;
        Err(fmt::Error)
    }
}

/// A field value as `tracing` hands it to a visitor.
#[derive(Clone, Copy)]
pub(crate) enum Value<'v> {
    Str(&'v str),
    /// A `Debug`/`Display`/error value already rendered once (span fields are rendered once for
    /// both streams), of which `beyond` more bytes were refused by the cap.
    Rendered(&'v str, u64),
    Debug(&'v dyn fmt::Debug),
    Error(&'v (dyn Error + 'static)),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
}

/// Renders values for one stream.
#[derive(Clone, Copy)]
pub(crate) struct Renderer<'a> {
    pub(crate) policy: &'a StreamPolicy,
    pub(crate) hasher: Option<&'a Pseudonymizer>,
    pub(crate) max_len: usize,
    pub(crate) counters: &'a RenderCounters,
}

impl fmt::Debug for Renderer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer")
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl Renderer<'_> {
    /// Appends `value` as a JSON value, redacted under `action`. Returns `false` (and appends
    /// nothing) when the action drops the field. `identity` selects the detectors for the audit
    /// record's `actor`/`src_ip`. `as_string` forces numbers and booleans into strings (lifted
    /// keys are always strings).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_value(
        &self,
        out: &mut Vec<u8>,
        value: Value<'_>,
        field: &str,
        action: Action,
        identity: bool,
        as_string: bool,
        text: &mut String,
        scratch: &mut String,
    ) -> bool {
        if action == Action::Keep && !as_string {
            let scalar = match value {
                Value::I64(v) => {
                    json::write_i64(out, v);
                    true
                }
                Value::U64(v) => {
                    json::write_u64(out, v);
                    true
                }
                Value::I128(v) => {
                    json::write_i128(out, v);
                    true
                }
                Value::U128(v) => {
                    json::write_u128(out, v);
                    true
                }
                Value::F64(v) => {
                    json::write_f64(out, v);
                    true
                }
                Value::Bool(v) => {
                    json::write_bool(out, v);
                    true
                }
                Value::Str(_) | Value::Rendered(..) | Value::Debug(_) | Value::Error(_) => false,
            };
            if scalar {
                return true;
            }
        }
        let limit = self.max_len.saturating_add(DETECTION_MARGIN);
        let (s, beyond): (&str, u64) = match value {
            Value::Str(s) => cut_at(s, limit),
            Value::Rendered(s, beyond) => {
                let (s, more) = cut_at(s, limit);
                (s, beyond + more)
            }
            other => {
                text.clear();
                let beyond = render_text(other, text, limit, self.counters);
                (text.as_str(), beyond)
            }
        };
        self.write_text(out, s, beyond, field, action, identity, scratch)
    }

    /// Appends a string value as a JSON string, redacted and capped; `beyond` bytes of it were
    /// never read (see [`DETECTION_MARGIN`]). `field` is the field's name, which the detectors
    /// take as context (a Luhn-valid number in `trace_id` is an id).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_text(
        &self,
        out: &mut Vec<u8>,
        value: &str,
        beyond: u64,
        field: &str,
        action: Action,
        identity: bool,
        scratch: &mut String,
    ) -> bool {
        if action != Action::Keep {
            return match apply_action(action, value, self.hasher, scratch) {
                Some(redacted) => {
                    json::write_str(out, &redacted);
                    true
                }
                None => false,
            };
        }
        let detectors = if identity {
            &self.policy.identity
        } else {
            &self.policy.detectors
        };
        let scrubbed = detectors.scrub_field(field, value, self.hasher);
        write_capped(out, &scrubbed, beyond, self.max_len);
        true
    }
}

/// `s`, or its first `limit` bytes (cut on a character boundary) and how many bytes were left.
fn cut_at(s: &str, limit: usize) -> (&str, u64) {
    if s.len() <= limit {
        return (s, 0);
    }
    let mut cut = limit;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    (&s[..cut], (s.len() - cut) as u64)
}

/// Writes `value` as a JSON string of at most `max_len` bytes of content, cut on a character
/// boundary and marked so a reader knows the value is incomplete; `beyond` more bytes were cut
/// before it was read.
fn write_capped(out: &mut Vec<u8>, value: &str, beyond: u64, max_len: usize) {
    if value.len() <= max_len && beyond == 0 {
        json::write_str(out, value);
        return;
    }
    let (kept, cut) = cut_at(value, max_len);
    out.push(b'"');
    json::write_str_body(out, kept);
    out.extend_from_slice("…[truncated ".as_bytes());
    json::write_u64(out, cut + beyond);
    out.extend_from_slice(b" bytes]\"");
}

/// `Display` of numbers, `Debug` of debug values, and errors with their whole source chain
/// (`top: cause: root cause`), which `fmt`'s JSON drops (tokio-rs/tracing#2784), appended to
/// `text` up to `limit` bytes in all. Returns how many bytes the value offered beyond that (a
/// lower bound: refusing stops most impls). A `Debug`/`Display` that panics leaves
/// [`PANIC_MARKER`] after what it wrote, and is counted; the record is still written.
pub(crate) fn render_text(
    value: Value<'_>,
    text: &mut String,
    limit: usize,
    counters: &RenderCounters,
) -> u64 {
    let start = text.len();
    let mut bounded = Bounded {
        text,
        limit: start.saturating_add(limit),
        refused: 0,
    };
    let result = catch_unwind(AssertUnwindSafe(|| format_value(value, &mut bounded)));
    if result.is_err() {
        counters.panics.fetch_add(1, Ordering::Relaxed);
        // What a panicking impl wrote may end anywhere; the marker says it is incomplete.
        bounded.text.push_str(PANIC_MARKER);
    }
    bounded.refused
}

fn format_value(value: Value<'_>, text: &mut Bounded<'_>) {
    // A `Debug` impl returning `Err` leaves what it wrote so far; that is the best we can keep.
    let _ = match value {
        Value::Str(s) | Value::Rendered(s, _) => text.write_str(s),
        Value::Debug(d) => write!(text, "{d:?}"),
        Value::Error(e) => {
            let r = write!(text, "{e}");
            let mut source = e.source();
            let mut depth = 0;
            while let Some(s) = source {
                if depth == MAX_ERROR_CHAIN || text.refused > 0 {
                    break;
                }
                let _ = write!(text, ": {s}");
                source = s.source();
                depth += 1;
            }
            r
        }
        Value::I64(v) => write!(text, "{v}"),
        Value::U64(v) => write!(text, "{v}"),
        Value::I128(v) => write!(text, "{v}"),
        Value::U128(v) => write!(text, "{v}"),
        Value::F64(v) => write!(text, "{v}"),
        Value::Bool(v) => write!(text, "{v}"),
    };
}

/// Adapts `tracing`'s typed visitor callbacks to one `(field, Value)` callback.
pub(crate) struct Visitor<F>(pub(crate) F);

impl<F: FnMut(&tracing_core::Field, Value<'_>)> tracing_core::field::Visit for Visitor<F> {
    fn record_debug(&mut self, field: &tracing_core::Field, value: &dyn fmt::Debug) {
        (self.0)(field, Value::Debug(value))
    }
    fn record_str(&mut self, field: &tracing_core::Field, value: &str) {
        (self.0)(field, Value::Str(value))
    }
    fn record_error(&mut self, field: &tracing_core::Field, value: &(dyn Error + 'static)) {
        (self.0)(field, Value::Error(value))
    }
    fn record_i64(&mut self, field: &tracing_core::Field, value: i64) {
        (self.0)(field, Value::I64(value))
    }
    fn record_u64(&mut self, field: &tracing_core::Field, value: u64) {
        (self.0)(field, Value::U64(value))
    }
    fn record_i128(&mut self, field: &tracing_core::Field, value: i128) {
        (self.0)(field, Value::I128(value))
    }
    fn record_u128(&mut self, field: &tracing_core::Field, value: u128) {
        (self.0)(field, Value::U128(value))
    }
    fn record_f64(&mut self, field: &tracing_core::Field, value: f64) {
        (self.0)(field, Value::F64(value))
    }
    fn record_bool(&mut self, field: &tracing_core::Field, value: bool) {
        (self.0)(field, Value::Bool(value))
    }
}
