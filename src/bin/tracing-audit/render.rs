//! The human-readable form of a record (`tail`, `correlate --human`).

use serde_json::Value;
use std::fmt::Write;

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";
const BOLD: &str = "\x1b[1m";

/// Text from a record, with control characters escaped so that a record cannot move the
/// cursor, change colours or fake extra lines on the reader's terminal.
fn clean(s: &str, out: &mut String) {
    for c in s.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

fn scalar(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => clean(s, out),
        other => clean(&other.to_string(), out),
    }
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
        out.push_str("  ");
        scalar(msg, &mut out);
    }
    if let Some(Value::Object(fields)) = get("fields") {
        for (k, val) in fields {
            out.push(' ');
            clean(k, &mut out);
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
                    clean(k, &mut out);
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
        assert!(s.contains("\\u{1b}[2Jb\\nforged line"), "{s}");
    }

    #[test]
    fn colour_only_when_asked() {
        let v = serde_json::json!({"ts":"t","level":"ERROR","stream":"audit","outcome":"denied"});
        assert!(!human(&v, false).contains('\u{1b}'));
        assert!(human(&v, true).contains(RED));
    }
}
