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

/// How many `source()` links of an error are followed; guards against cyclic chains.
const MAX_ERROR_CHAIN: usize = 32;

/// A field value as `tracing` hands it to a visitor.
#[derive(Clone, Copy)]
pub(crate) enum Value<'v> {
    Str(&'v str),
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
                Value::Str(_) | Value::Debug(_) | Value::Error(_) => false,
            };
            if scalar {
                return true;
            }
        }
        let s: &str = match value {
            Value::Str(s) => s,
            other => {
                text.clear();
                render_text(other, text);
                text.as_str()
            }
        };
        self.write_text(out, s, field, action, identity, scratch)
    }

    /// Appends a string value as a JSON string, redacted and capped. `field` is the field's
    /// name, which the detectors take as context (a Luhn-valid number in `trace_id` is an id).
    pub(crate) fn write_text(
        &self,
        out: &mut Vec<u8>,
        value: &str,
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
        write_capped(out, &scrubbed, self.max_len);
        true
    }
}

/// Writes `value` as a JSON string of at most `max_len` bytes of content, cut on a character
/// boundary and marked so a reader knows the value is incomplete.
fn write_capped(out: &mut Vec<u8>, value: &str, max_len: usize) {
    if value.len() <= max_len {
        json::write_str(out, value);
        return;
    }
    let mut cut = max_len;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    out.push(b'"');
    json::write_str_body(out, &value[..cut]);
    out.extend_from_slice("…[truncated ".as_bytes());
    json::write_u64(out, (value.len() - cut) as u64);
    out.extend_from_slice(b" bytes]\"");
}

/// `Display` of numbers, `Debug` of debug values, and errors with their whole source chain
/// (`top: cause: root cause`), which `fmt`'s JSON drops (tokio-rs/tracing#2784).
pub(crate) fn render_text(value: Value<'_>, text: &mut String) {
    // A `Debug` impl returning `Err` leaves what it wrote so far; that is the best we can keep.
    let _ = match value {
        Value::Str(s) => text.write_str(s),
        Value::Debug(d) => write!(text, "{d:?}"),
        Value::Error(e) => {
            let r = write!(text, "{e}");
            let mut source = e.source();
            let mut depth = 0;
            while let Some(s) = source {
                if depth == MAX_ERROR_CHAIN {
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
