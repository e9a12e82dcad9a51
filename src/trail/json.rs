//! A JSON writer that cannot be broken by its input.
//!
//! Every string is escaped so that a record is exactly one line: besides what JSON requires
//! (`"`, `\`, U+0000..U+001F), DEL, the C1 controls U+0080..U+009F and the line and paragraph
//! separators U+2028/U+2029 are written as `\uXXXX`, so neither a terminal (ESC sequences, CWE-117)
//! nor a JavaScript-based reader can be fooled by a value.

/// Appends `s` as a quoted, escaped JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Bytes that may need escaping: what JSON requires, DEL, and the lead bytes of the C1 controls
/// (0xC2) and of U+2028/U+2029 (0xE2). Everything else is copied in runs without a second look,
/// which is what almost every byte of a record is.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0x7f] = true;
    table[0xc2] = true;
    table[0xe2] = true;
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
            // C1 controls are encoded as C2 80..C2 9F.
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => {
                out.extend_from_slice(&bytes[start..i]);
                write_u_escape(out, u32::from(bytes[i + 1]));
                i += 2;
                start = i;
                continue;
            }
            // U+2028 and U+2029 are encoded as E2 80 A8 / E2 80 A9.
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                out.extend_from_slice(&bytes[start..i]);
                write_u_escape(out, 0x2028 + u32::from(bytes[i + 2] - 0xa8));
                i += 3;
                start = i;
                continue;
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
