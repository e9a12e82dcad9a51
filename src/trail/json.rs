//! The crate's one JSON escaper: the writer's string encoding, and the same escaping applied to
//! a line someone else wrote before a read command prints it.
//!
//! Every string is escaped so that a record is exactly one line: besides what JSON requires
//! (`"`, `\`, U+0000..U+001F), every character [`is_hidden`] names (DEL, the C1 controls,
//! U+2028/U+2029, bidi controls and other invisible format characters) is written as `\uXXXX`,
//! so neither a terminal (ESC sequences, CWE-117), nor a JavaScript-based reader, nor a reader's
//! eye (U+202E reversing a value) can be fooled by a value.

use super::visible::{is_hidden, may_start_hidden};
use std::borrow::Cow;

/// Appends `s` as a quoted, escaped JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Bytes that may need escaping: what JSON requires, DEL, and the lead bytes of the hidden
/// characters. Everything else is copied in runs without a second look, which is what almost
/// every byte of a record is.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20 || b == 0x7f || may_start_hidden(b as u8);
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Appends the escaped body of a JSON string (no quotes).
pub(crate) fn write_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len());
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Whole words of eight bytes while they are all plain printable ASCII; the rest (and a
        // tail shorter than a word) one byte at a time through the table.
        while let Some(&word) = bytes.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
            if word_may_need_escaping(u64::from_le_bytes(word)) {
                break;
            }
            i += 8;
        }
        let Some(&b) = bytes.get(i) else { break };
        if !SPECIAL[usize::from(b)] {
            i += 1;
            continue;
        }
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x00..=0x1f | 0x7f => {
                out.extend_from_slice(&bytes[start..i]);
                write_u_escape(out, u32::from(b));
                i += 1;
                start = i;
                continue;
            }
            // A lead byte of a character that may be hidden: `i` is on a character boundary.
            0x80.. => {
                let Some(c) = s.get(i..).and_then(|rest| rest.chars().next()) else {
                    break;
                };
                if is_hidden(c) {
                    out.extend_from_slice(&bytes[start..i]);
                    write_char_escape(out, c);
                    i += c.len_utf8();
                    start = i;
                    continue;
                }
                None
            }
            _ => None,
        };
        if let Some(esc) = escape {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(esc);
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether any of the eight bytes is a control character, `"`, `\\`, DEL or not ASCII (a word
/// that is all plain ASCII needs no look at its bytes one by one). Exact: no false negatives.
fn word_may_need_escaping(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below `n` (n <= 0x80) exists iff some lane of `w - n` borrows into its high bit
    // while that byte of `w` has its high bit clear.
    let below = |n: u64| w.wrapping_sub(ONES * n) & !w & HIGH;
    let has = |b: u64| {
        let x = w ^ (ONES * b);
        x.wrapping_sub(ONES) & !x & HIGH
    };
    (below(0x20) | has(u64::from(b'"')) | has(u64::from(b'\\')) | has(0x7f) | (w & HIGH)) != 0
}

fn write_u_escape(out: &mut Vec<u8>, c: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((c >> shift) & 0xf) as usize]);
    }
}

/// `\uXXXX`, or a surrogate pair of them for a character outside the Basic Multilingual Plane.
fn write_char_escape(out: &mut Vec<u8>, c: char) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        write_u_escape(out, u32::from(*unit));
    }
}

/// Whether any of the eight bytes is a control character, DEL or not ASCII: the bytes a line
/// written by someone else may hide something in (`"` and `\\` are the line's own syntax).
fn word_may_hide(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let x = w ^ (ONES * 0x7f);
    let del = x.wrapping_sub(ONES) & !x & HIGH;
    (below | del | (w & HIGH)) != 0
}

/// Whether `line` holds a control byte, a hidden character or bytes that are not UTF-8: what
/// [`printable_json`] must rewrite. Word-at-a-time over plain ASCII, like the writer.
fn needs_rewrite(line: &[u8]) -> bool {
    let mut i = 0;
    // Bytes that are not UTF-8 can only hide behind a non-ASCII byte.
    let mut saw_non_ascii = false;
    while i < line.len() {
        while let Some(&word) = line.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
            if word_may_hide(u64::from_le_bytes(word)) {
                break;
            }
            i += 8;
        }
        let Some(&b) = line.get(i) else { break };
        if b < 0x20 || b == 0x7f {
            return true;
        }
        if b < 0x80 {
            i += 1;
            continue;
        }
        saw_non_ascii = true;
        if !may_start_hidden(b) {
            i += 1;
            continue;
        }
        let end = line.len().min(i + 4);
        let c = match std::str::from_utf8(&line[i..end]) {
            Ok(s) => s.chars().next(),
            Err(e) if e.valid_up_to() > 0 => std::str::from_utf8(&line[i..i + e.valid_up_to()])
                .ok()
                .and_then(|s| s.chars().next()),
            Err(_) => return true,
        };
        match c {
            Some(c) if is_hidden(c) => return true,
            Some(c) => i += c.len_utf8(),
            None => return true,
        }
    }
    saw_non_ascii && std::str::from_utf8(line).is_err()
}

/// A JSON line someone else wrote (a record read from a trail, a report serialized by
/// `serde_json`), made safe to print: inside strings every character the writer escapes is
/// escaped the writer's way; between tokens a raw tab or CR becomes a space; bytes that are
/// not UTF-8 become U+FFFD. A line with none of these (every line this crate's writer wrote) is
/// returned as it is, after one word-at-a-time scan. A valid JSON line stays valid and decodes
/// to the same value.
///
/// A debug line has no chain, and anyone who can write in the trail directory can add one: a
/// read command prints lines through this so that a forged line cannot reach a terminal raw.
///
/// ```
/// use tracing_audit::trail::printable_json;
///
/// let forged = "{\"message\":\"\u{1b}[2K\u{9b}\u{202e}x\"}".as_bytes();
/// let shown = printable_json(forged);
/// assert_eq!(&*shown, br#"{"message":"\u001b[2K\u009b\u202ex"}"#);
/// let honest = br#"{"actor":"alice"}"#;
/// assert!(matches!(printable_json(honest), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn printable_json(line: &[u8]) -> Cow<'_, [u8]> {
    if !needs_rewrite(line) {
        return Cow::Borrowed(line);
    }
    let text = String::from_utf8_lossy(line);
    let mut out = Vec::with_capacity(line.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string && escaped {
            escaped = false;
        } else if in_string {
            match c {
                '"' => in_string = false,
                '\\' => escaped = true,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, '\t' | '\r' | '\n') {
            out.push(b' ');
            continue;
        }
        if is_hidden(c) {
            write_char_escape(&mut out, c);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }
    Cow::Owned(out)
}

/// Appends `"key":` (the key escaped).
pub(crate) fn write_key(out: &mut Vec<u8>, key: &str) {
    write_str(out, key);
    out.push(b':');
}

pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// 128-bit integers outside the 64-bit range are written as strings: most JSON readers parse
/// numbers into `f64` or 64-bit integers and would silently lose digits.
pub(crate) fn write_i128(out: &mut Vec<u8>, v: i128) {
    match i64::try_from(v) {
        Ok(small) => write_i64(out, small),
        Err(_) => {
            out.push(b'"');
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            out.push(b'"');
        }
    }
}

/// See [`write_i128`].
pub(crate) fn write_u128(out: &mut Vec<u8>, v: u128) {
    match u64::try_from(v) {
        Ok(small) => write_u64(out, small),
        Err(_) => {
            out.push(b'"');
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            out.push(b'"');
        }
    }
}

/// NaN and the infinities have no JSON number form; they are written as the strings `"NaN"`,
/// `"inf"` and `"-inf"`.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

pub(crate) fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_everything_that_could_break_a_line_or_a_terminal() {
        let nasty = "a\nb\rc\u{1b}[31m\u{85}\u{9f}\u{2028}\u{2029}\u{7f}\"\\\t\0";
        let e = enc(nasty);
        assert!(!e.contains('\n') && !e.contains('\r') && !e.contains('\u{1b}'));
        assert!(!e.contains('\u{2028}') && !e.contains('\u{85}'));
        let back: String = serde_json::from_str(&e).unwrap();
        assert_eq!(back, nasty);
    }

    #[test]
    fn escapes_between_plain_runs_keep_every_plain_byte() {
        let s = "ab\"cd\u{2028}ef\u{a0}gh\u{85}ij\u{2030}kl\\";
        let e = enc(s);
        assert_eq!(e, "\"ab\\\"cd\\u2028ef\u{a0}gh\\u0085ij\u{2030}kl\\\\\"");
        let back: String = serde_json::from_str(&e).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn every_byte_position_of_every_special_byte_is_escaped() {
        // Each escaped character at every offset of a 17-byte run, so both the word-at-a-time
        // path and the byte path see it.
        for special in [
            "\"", "\\", "\n", "\u{0}", "\u{1f}", "\u{7f}", "\u{85}", "\u{2028}", "é",
        ] {
            for at in 0..17 {
                let s = format!("{}{special}{}", "a".repeat(at), "b".repeat(17 - at));
                let e = enc(&s);
                assert!(!e.contains('\n') && !e.contains('\u{2028}') && !e.contains('\u{85}'));
                let back: String = serde_json::from_str(&e).unwrap();
                assert_eq!(back, s, "{special:?} at {at}");
                assert_eq!(
                    e.matches('\\').count() > 0,
                    special != "é",
                    "{special:?} at {at}"
                );
            }
        }
    }

    #[test]
    fn bidi_and_invisible_characters_are_escaped_like_controls() {
        let s = "a\u{202e}b\u{200b}c\u{feff}d\u{61c}e\u{e0041}f";
        let e = enc(s);
        assert!(e.chars().all(|c| !is_hidden(c)), "{e}");
        assert!(e.contains("\\u202e") && e.contains("\\udb40\\udc41"), "{e}");
        let back: String = serde_json::from_str(&e).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_printed_line_keeps_its_value_and_loses_its_raw_controls() {
        // Valid JSON may hold DEL, C1, U+2028 and bidi controls raw, and tabs or CRs between
        // tokens; raw C0 inside a string is not JSON, and is escaped all the same.
        let line = "{\"m\":\"x\u{9b}\u{7f}\u{2028}\u{202e}\\\"q\\\\\",\r\"n\":\t1}";
        let shown = printable_json(line.as_bytes());
        let text = std::str::from_utf8(&shown).unwrap();
        assert!(text.chars().all(|c| !is_hidden(c)), "{text}");
        let a: serde_json::Value = serde_json::from_str(line).unwrap();
        let b: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(a, b);
        let invalid = printable_json("{\"m\":\"\u{1b}]0;t\u{7}\"}".as_bytes());
        assert_eq!(&*invalid, br#"{"m":"\u001b]0;t\u0007"}"#);
    }

    #[test]
    fn every_hidden_character_raw_in_a_line_is_escaped_and_decodes_back() {
        for c in (0x20..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| is_hidden(c))
        {
            let line = format!("{{\"a\":\"x{c}y\",\"b\":1}}");
            let shown = printable_json(line.as_bytes());
            let text = std::str::from_utf8(&shown).unwrap();
            assert!(text.chars().all(|c| !is_hidden(c)), "{c:?}: {text}");
            let a: serde_json::Value = serde_json::from_str(&line).unwrap();
            let b: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(a, b, "{c:?}");
            let mut written = Vec::new();
            write_str(&mut written, &format!("x{c}y"));
            assert!(
                text.contains(std::str::from_utf8(&written).unwrap()),
                "{c:?}"
            );
        }
    }

    #[test]
    fn a_line_the_writer_wrote_is_printed_as_it_is() {
        let mut out = b"{\"m\":".to_vec();
        write_str(&mut out, "héllo \u{1b}[31m ✓ 日本 \u{202e}");
        out.push(b'}');
        assert!(matches!(printable_json(&out), Cow::Borrowed(_)));
        let shown = printable_json(b"{\"a\":\"\xff\"}");
        assert_eq!(&*shown, "{\"a\":\"\u{fffd}\"}".as_bytes());
    }

    #[test]
    fn keeps_ordinary_unicode_verbatim() {
        assert_eq!(enc("héllo ✓ 日本"), "\"héllo ✓ 日本\"");
    }

    #[test]
    fn numbers_that_json_cannot_hold_become_strings() {
        let mut out = Vec::new();
        write_f64(&mut out, f64::NAN);
        out.push(b',');
        write_f64(&mut out, f64::NEG_INFINITY);
        out.push(b',');
        write_u128(&mut out, u128::MAX);
        out.push(b',');
        write_i128(&mut out, -5);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"NaN\",\"-inf\",\"340282366920938463463374607431768211455\",-5"
        );
    }
}
