//! Values after secret-sounding keys: `password=…`, `api_key: …`, `"client_secret": "…"`.
//!
//! The key says "this is a secret", but many such values are not (`token=none`, `key=42`,
//! `secret: required`), so the value must also look like one: passwords need only a few
//! characters that are not a placeholder, other secrets must be long and random.

use super::engine::Hits;
use super::tokens::run_end;
use super::Detector;

/// Longer keys are compared by their last 64 bytes.
const MAX_KEY: usize = 64;
/// Spaces tolerated between a key, its separator and its value (`key : value`).
const MAX_PADDING: usize = 4;

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Bytes of an unquoted value: everything up to whitespace or a byte that ends a value in
/// query strings, JSON, `Debug` output and prose.
fn is_value_byte(b: u8) -> bool {
    !(b.is_ascii_whitespace()
        || b.is_ascii_control()
        || matches!(
            b,
            b'"' | b'\''
                | b'`'
                | b','
                | b';'
                | b'&'
                | b'<'
                | b'>'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
        ))
}

pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// What a key says about its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    /// `Authorization`, `Proxy-Authorization`: the value is a scheme and a credential.
    Authorization,
    /// Chosen by people, so short and low in entropy.
    Password,
    /// Generated, so long and random; `aws` says a 40-character value is an AWS secret key.
    Secret { aws: bool },
}

/// The key ending just before the separator at `sep` (`key=`, `"key": `, `\"key\":`).
fn key_before(b: &[u8], sep: usize) -> Option<&[u8]> {
    let mut end = sep;
    while end > 0 && sep - end < MAX_PADDING && is_blank(b[end - 1]) {
        end -= 1;
    }
    if end > 0 && matches!(b[end - 1], b'"' | b'\'') {
        end -= 1;
        if end > 0 && b[end - 1] == b'\\' {
            end -= 1;
        }
    }
    let mut start = end;
    while start > 0 && end - start < MAX_KEY && is_key_byte(b[start - 1]) {
        // Keys have single dashes; `-----` is a PEM boundary or a rule.
        if b[start - 1] == b'-' && start > 1 && b[start - 2] == b'-' {
            break;
        }
        start -= 1;
    }
    while start < end && b[start] == b'-' {
        start += 1;
    }
    let key = &b[start..end];
    // `hmac-sha256:<hex>` is a pseudonym an earlier scrub wrote, not a key and its value.
    (!key.is_empty() && !key.ends_with(b"hmac-sha256")).then_some(key)
}

fn classify(key: &[u8]) -> Option<KeyKind> {
    // The shortest keywords (`key`, `pwd`) have three bytes.
    if key.len() < 3 {
        return None;
    }
    let mut buf = [0u8; MAX_KEY];
    let key = &key[key.len().saturating_sub(MAX_KEY)..];
    let lower = &mut buf[..key.len()];
    lower.copy_from_slice(key);
    lower.make_ascii_lowercase();
    let lower = &*lower;
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if lower.ends_with(b"authorization") {
        return Some(KeyKind::Authorization);
    }
    // The shell's working directory, not a password.
    if lower == b"pwd" || lower == b"oldpwd" {
        return None;
    }
    if has(b"password") || has(b"passwd") || has(b"passphrase") || has(b"pwd") {
        return Some(KeyKind::Password);
    }
    if has(b"secret")
        || has(b"token")
        || has(b"key")
        || has(b"credential")
        || has(b"auth")
        || has(b"signature")
    {
        return Some(KeyKind::Secret {
            aws: has(b"aws") || has(b"secret"),
        });
    }
    None
}

/// The value after the separator at `sep`: quoted (up to the closing quote or the end of the
/// line) or bare (up to a delimiter).
pub(super) fn value_after(b: &[u8], sep: usize) -> (usize, usize) {
    let mut i = sep + 1;
    while i < b.len() && i - sep <= MAX_PADDING && is_blank(b[i]) {
        i += 1;
    }
    if b.get(i) == Some(&b'\\') && matches!(b.get(i + 1), Some(b'"' | b'\'')) {
        i += 1;
    }
    match b.get(i) {
        Some(&quote @ (b'"' | b'\'')) => {
            let start = i + 1;
            let mut end = run_end(b, start, |c| c != quote && c != b'\n' && c != b'\r');
            // `\"` closes a quoted value inside an escaped string.
            if b.get(end) == Some(&quote) && end > start && b[end - 1] == b'\\' {
                end -= 1;
            }
            (start, end)
        }
        _ => (i, run_end(b, i, is_value_byte)),
    }
}

/// Values that say a password is absent or was handled, rather than being one.
pub(super) fn is_placeholder(value: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"none",
        b"null",
        b"nil",
        b"true",
        b"false",
        b"empty",
        b"unset",
        b"redacted",
        b"hidden",
        b"masked",
        b"missing",
        b"required",
        b"invalid",
        b"wrong",
        b"incorrect",
        b"expired",
        b"changed",
        b"reset",
        b"undefined",
        b"default",
        b"n/a",
    ];
    // A value of one repeated character (`********`, `xxxxxx`) is a mask someone typed.
    let repeated = value
        .first()
        .is_none_or(|&first| value.iter().all(|&c| c == first));
    repeated || WORDS.iter().any(|w| w.eq_ignore_ascii_case(value))
}

/// Whether `value` is long and varied enough to be a generated secret rather than a word, a
/// number or an identifier: at least 8 bytes, two of the classes lower case, upper case and
/// digits (`user_profile_cache` has one), and a Shannon entropy of at least 3 bits per byte (less for short values, which
/// cannot reach it).
pub(super) fn looks_random(value: &[u8]) -> bool {
    let n = value.len();
    if n < 8 {
        return false;
    }
    let mut classes = 0u8;
    let mut counts = [0u32; 256];
    for &c in value {
        classes |= if c.is_ascii_lowercase() {
            1
        } else if c.is_ascii_uppercase() {
            2
        } else if c.is_ascii_digit() {
            4
        } else {
            0
        };
        counts[c as usize] += 1;
    }
    if classes.count_ones() < 2 {
        return false;
    }
    let len = n as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum();
    entropy >= (0.8 * len.log2()).min(3.0)
}

/// Whether `value` is written in the alphabets generated secrets use (base64, base64url, hex,
/// with `.`, `~` and `-` separators). A `:` or `@` makes it a composite key (`user:1234:profile`),
/// an address or a time instead.
fn is_token(value: &[u8]) -> bool {
    value.iter().all(|&c| {
        c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'.' | b'~' | b'-')
    })
}

/// An AWS secret access key: 40 bytes of base64.
fn is_aws_secret(value: &[u8]) -> bool {
    value.len() == 40
        && value
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'/' || c == b'+')
}

/// Finds secret values after keys, and the credentials of `Authorization` headers.
pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut from = 0;
    // A plain loop: separators can be dense, and most strings reaching here are short.
    while let Some(next) = b[from..].iter().position(|&c| c == b'=' || c == b':') {
        let sep = from + next;
        from = sep + 1;
        if b[sep] == b':' && b[sep + 1..].starts_with(b"//") {
            continue;
        }
        let Some(kind) = key_before(b, sep).and_then(classify) else {
            continue;
        };
        if kind == KeyKind::Authorization {
            from = from.max(super::auth::find_in_header(b, sep, hits));
            continue;
        }
        let (start, end) = value_after(b, sep);
        from = from.max(end);
        let value = &b[start..end];
        let detector = match kind {
            KeyKind::Password if value.len() >= 3 && !is_placeholder(value) => {
                Detector::KeywordSecret
            }
            KeyKind::Secret { aws: true }
                if is_aws_secret(value) && hits.wants(Detector::AwsKey) =>
            {
                Detector::AwsKey
            }
            KeyKind::Secret { .. } if is_token(value) && looks_random(value) => {
                Detector::KeywordSecret
            }
            _ => continue,
        };
        hits.push(detector, start, end);
    }
}
