//! The human-readable form of a record (`tail`, `correlate --human`): one line, every value
//! escaped, quoted where it could be read as more than one value.

use serde_json::Value;
use std::fmt::Write;
use tracing_audit::trail::Visible;

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";
const BOLD: &str = "\x1b[1m";

/// Text from a record, through the crate's one escaper for humans ([`Visible`]): a record
/// cannot move the cursor, change colours, fake extra lines or reorder what the reader sees.
fn clean(s: &str, out: &mut String) {
    let _ = write!(out, "{}", Visible::str(s));
}

/// A value in `key=value` form: quoted (with `"` and `\` escaped) whenever it could be read as
/// more than one value: empty, or holding a space, `=`, a quote or a backslash. So
/// `resource=/x outcome=success` as one value prints as `resource="/x outcome=success"`.
fn scalar(v: &Value, out: &mut String) {
    let text = match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
        other => std::borrow::Cow::Owned(other.to_string()),
    };
    let quote = text.is_empty()
        || text
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '=' | '"' | '\\'));
    if !quote {
        clean(&text, out);
        return;
    }
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => clean(c.encode_utf8(&mut [0; 4]), out),
        }
    }
    out.push('"');
}

fn paint(out: &mut String, colour: bool, code: &str, text: impl FnOnce(&mut String)) {
    if colour {
        out.push_str(code);
    }
    text(out);
    if colour {
        out.push_str(RESET);
    }
}

/// One line for `v`.
pub(super) fn human(v: &Value, colour: bool) -> String {
    let mut out = String::with_capacity(160);
    let get = |k: &str| v.get(k);
    if let Some(ts) = get("ts") {
        paint(&mut out, colour, DIM, |o| scalar(ts, o));
        out.push(' ');
    }
    let level = get("level").and_then(Value::as_str).unwrap_or("");
    let level_colour = match level {
        "ERROR" => RED,
        "WARN" => YELLOW,
        "INFO" => GREEN,
        "DEBUG" => BLUE,
        _ => DIM,
    };
    if let Some(record) = get("record").and_then(Value::as_str) {
        paint(&mut out, colour, MAGENTA, |o| {
            o.push('[');
            clean(record, o);
            o.push(']');
        });
    } else {
        paint(&mut out, colour, level_colour, |o| {
            let _ = write!(o, "{:<5}", if level.is_empty() { "-" } else { level });
        });
    }
    if let Some(stream) = get("stream").and_then(Value::as_str) {
        out.push(' ');
        let tag = if stream == "audit" { BOLD } else { DIM };
        paint(&mut out, colour, tag, |o| clean(stream, o));
    }
    if let Some(seq) = get("seq") {
        out.push_str(" #");
        scalar(seq, &mut out);
    }
    for key in ["actor", "action", "resource"] {
        if let Some(val) = get(key) {
            let _ = write!(out, " {key}=");
            scalar(val, &mut out);
        }
    }
    if let Some(outcome) = get("outcome") {
        let text = outcome.as_str().unwrap_or("").to_ascii_lowercase();
        let c = match text.as_str() {
            "success" | "ok" | "allowed" | "allow" | "granted" => GREEN,
            "failure" | "failed" | "denied" | "deny" | "error" | "rejected" => RED,
            _ => YELLOW,
        };
        out.push_str(" outcome=");
        paint(&mut out, colour, c, |o| scalar(outcome, o));
    }
    for key in ["reason", "src_ip", "session"] {
        if let Some(val) = get(key) {
            let _ = write!(out, " {key}=");
            scalar(val, &mut out);
        }
    }
    if let Some(msg) = get("message") {
        out.push_str("  message=");
        scalar(msg, &mut out);
    }
    if let Some(Value::Object(fields)) = get("fields") {
        for (k, val) in fields {
            out.push(' ');
            scalar(&Value::String(k.clone()), &mut out);
            out.push('=');
            scalar(val, &mut out);
        }
    }
    if get("record").is_some() {
        if let Value::Object(map) = v {
            for (k, val) in map {
                if !matches!(
                    k.as_str(),
                    "seq" | "ts" | "stream" | "record" | "mac" | "kid" | "prev"
                ) {
                    out.push(' ');
                    scalar(&Value::String(k.clone()), &mut out);
                    out.push('=');
                    scalar(val, &mut out);
                }
            }
        }
    }
    if let Some(id) = get("correlation_id") {
        paint(&mut out, colour, DIM, |o| {
            o.push_str(" correlation_id=");
            scalar(id, o);
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_records_are_escaped() {
        let v = serde_json::json!({"ts":"t","level":"INFO","message":"a\u{1b}[2Jb\nforged line"});
        let s = human(&v, false);
        assert!(!s.contains('\u{1b}') && !s.contains('\n'), "{s}");
        assert!(s.contains("\\u{1b}[2Jb\\u{a}forged line"), "{s}");
    }

    #[test]
    fn a_value_cannot_impersonate_other_fields_or_reorder_the_line() {
        let v = serde_json::json!({
            "ts":"t","stream":"audit","actor":"eve",
            "resource":"/x outcome=success","outcome":"denied",
            "fields":{"note":"a\u{202e}gnp.exe","k=v":"x\"y","empty":""}
        });
        let s = human(&v, false);
        assert!(s.contains("resource=\"/x outcome=success\""), "{s}");
        assert!(s.contains("outcome=denied"), "{s}");
        assert!(!s.contains('\u{202e}') && s.contains("\\u{202e}"), "{s}");
        assert!(s.contains("empty=\"\""), "{s}");
        assert!(s.contains("\"x\\\"y\""), "{s}");
    }

    #[test]
    fn colour_only_when_asked() {
        let v = serde_json::json!({"ts":"t","level":"ERROR","stream":"audit","outcome":"denied"});
        assert!(!human(&v, false).contains('\u{1b}'));
        assert!(human(&v, true).contains(RED));
    }
}
