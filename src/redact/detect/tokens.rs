//! Tokens recognisable by their own shape: JWTs and the prefixed tokens of AWS, GitHub and Slack.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use memchr::memmem;

use super::engine::Hits;
use super::Detector;

/// JWT parts are unpadded base64url; tolerating padding and trailing bits costs nothing and
/// catches hand-made tokens too.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Bytes that continue a word, so a token glued to them is part of something longer.
pub(super) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of the run of bytes satisfying `pred` that starts at `from`.
pub(super) fn run_end(b: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    let mut end = from;
    while end < b.len() && pred(b[end]) {
        end += 1;
    }
    end
}

fn is_base64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Bytes of a JWT as written: base64url, and the standard alphabet's `+`, `/` and `=` padding
/// that hand-made tokens carry.
fn is_jwt_byte(b: u8) -> bool {
    is_base64url_byte(b) || matches!(b, b'+' | b'/' | b'=')
}

/// Finds JWTs: `header.payload.signature`, with header and payload decoding to JSON objects and
/// the header naming its `alg`. A JSON object's base64 starts with `ey` (`{"`, `{ `) or `ew`
/// (`{` and a line break); segments may be padded or in the standard alphabet.
pub(super) fn find_jwts(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(offset) = memchr::memchr(b'e', &b[from..]) {
        let start = from + offset;
        from = start + 1;
        if !matches!(b.get(start + 1), Some(b'y' | b'w')) {
            continue;
        }
        if start > 0 && (is_jwt_byte(b[start - 1]) || b[start - 1] == b'.') {
            // Inside a longer run that does not begin here, or one already examined.
            continue;
        }
        let end = run_end(b, start, |c| is_jwt_byte(c) || c == b'.');
        from = end.max(from);
        if end - start < 16 {
            continue;
        }
        if is_jwt(&b[start..end]) {
            hits.push(Detector::Jwt, start, end);
        } else if b[end - 1] == b'.' && is_jwt(&b[start..end - 1]) {
            // A token ending a sentence.
            hits.push(Detector::Jwt, start, end - 1);
        }
    }
}

/// A JWS (`header.payload.signature`) or a JWE in compact form (`header.key.iv.ciphertext.tag`,
/// RFC 7516), whose header names its `enc` and whose other parts are opaque.
fn is_jwt(token: &[u8]) -> bool {
    let mut parts = [&token[..0]; 6];
    let mut count = 0;
    for part in token.split(|&c| c == b'.') {
        if count == parts.len() {
            return false;
        }
        parts[count] = part;
        count += 1;
    }
    match count {
        3 => is_jws(parts[0], parts[1]),
        5 => is_jwe(parts[0], &parts[1..5]),
        _ => false,
    }
}

fn is_jwe(header: &[u8], rest: &[&[u8]]) -> bool {
    // The encrypted key is empty for direct encryption (`"alg":"dir"`); IV, ciphertext and tag
    // are not.
    header.len() <= 4096
        && rest[1..].iter().all(|p| !p.is_empty())
        && rest.iter().all(|p| p.iter().all(|&c| is_base64url_byte(c)))
        && json_object_has(header, "enc")
}

/// Whether `part` is base64url of a JSON object holding the member `name`.
fn json_object_has(part: &[u8], name: &str) -> bool {
    let Ok(json) = BASE64URL.decode(part) else {
        return false;
    };
    matches!(
        serde_json::from_slice::<serde_json::Value>(&json),
        Ok(serde_json::Value::Object(map)) if map.contains_key(name)
    )
}

fn is_jws(header: &[u8], payload: &[u8]) -> bool {
    let is_object = |part: &[u8], required: Option<&str>| -> bool {
        // Standard base64 and padding, as some libraries and hand-made tokens write them.
        let normalized: Vec<u8> = part
            .iter()
            .filter(|&&c| c != b'=')
            .map(|&c| match c {
                b'+' => b'-',
                b'/' => b'_',
                c => c,
            })
            .collect();
        let Ok(json) = BASE64URL.decode(&normalized) else {
            return false;
        };
        match serde_json::from_slice::<serde_json::Value>(&json) {
            Ok(serde_json::Value::Object(map)) => required.is_none_or(|k| map.contains_key(k)),
            _ => false,
        }
    };
    header.len() <= 4096 && is_object(header, Some("alg")) && is_object(payload, None)
}

/// Finds AWS access key ids: `AKIA` (long-term) or `ASIA` (temporary) and 16 upper-case
/// letters or digits, standing alone.
pub(super) fn find_aws_key_ids(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    for start in memchr::memchr_iter(b'A', b) {
        let end = start + 20;
        if end > b.len() {
            break;
        }
        let prefix = &b[start..start + 4];
        if prefix != b"AKIA" && prefix != b"ASIA" {
            continue;
        }
        if start > 0 && is_word_byte(b[start - 1]) {
            continue;
        }
        if !b[start + 4..end]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            continue;
        }
        if b.get(end).is_some_and(|&c| is_word_byte(c)) {
            continue;
        }
        hits.push(Detector::AwsKey, start, end);
        paired_aws_secret(b, end, hits);
    }
}

/// The secret access key right after its key id, as the console's credentials CSV
/// (`AKIA…,wJalr…`) and `~/.aws/credentials` dumps put them: 40 bytes of base64 after a comma,
/// a tab, a colon or a space. The id next to it is what says what the 40 bytes are.
fn paired_aws_secret(b: &[u8], id_end: usize, hits: &mut Hits) {
    let mut i = id_end;
    if !matches!(b.get(i), Some(b',' | b'\t' | b':' | b' ' | b';')) {
        return;
    }
    i += 1;
    while matches!(b.get(i), Some(b' ' | b'"')) && i < id_end + 4 {
        i += 1;
    }
    // One byte past a secret's 40 is enough to know it is longer, so runs stay linear.
    let limit = (i + 41).min(b.len());
    let end = run_end(&b[..limit], i, |c| {
        c.is_ascii_alphanumeric() || c == b'/' || c == b'+'
    });
    let generated = b[i..end].iter().any(u8::is_ascii_digit)
        || (b[i..end].iter().any(u8::is_ascii_lowercase)
            && b[i..end].iter().any(u8::is_ascii_uppercase));
    if end - i == 40 && generated && !b.get(end).is_some_and(|&c| is_word_byte(c)) {
        hits.push(Detector::AwsKey, i, end);
    }
}

const GITHUB_PREFIXES: [&[u8]; 5] = [b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"];

/// Finds GitHub tokens: classic ones (`ghp_` and friends, 36 or more letters and digits) and
/// fine-grained ones (`github_pat_`, 22 or more letters, digits and underscores).
pub(super) fn find_github_tokens(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(offset) = memchr::memchr(b'g', &b[from..]) {
        let start = from + offset;
        from = start + 1;
        if start > 0 && is_word_byte(b[start - 1]) {
            continue;
        }
        let rest = &b[start..];
        let (body_start, body_end, min) = if rest.starts_with(b"github_pat_") {
            let body = start + 11;
            (body, run_end(b, body, is_word_byte), 22)
        } else if rest.len() >= 4 && GITHUB_PREFIXES.contains(&&rest[..4]) {
            let body = start + 4;
            (body, run_end(b, body, |c| c.is_ascii_alphanumeric()), 36)
        } else {
            continue;
        };
        from = body_end;
        let len = body_end - body_start;
        if len < min || len > 255 || b.get(body_end).is_some_and(|&c| is_word_byte(c)) {
            continue;
        }
        hits.push(Detector::GitHubToken, start, body_end);
    }
}

/// Finds Slack tokens: `xoxb-`, `xoxa-`, `xoxp-`, `xoxr-` or `xoxs-` and at least ten letters,
/// digits or dashes.
pub(super) fn find_slack_tokens(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let finder = memmem::Finder::new(b"xox");
    let mut from = 0;
    while let Some(offset) = finder.find(&b[from..]) {
        let start = from + offset;
        from = start + 3;
        if start > 0 && is_word_byte(b[start - 1]) {
            continue;
        }
        if !matches!(b.get(start + 3), Some(b'b' | b'a' | b'p' | b'r' | b's'))
            || b.get(start + 4) != Some(&b'-')
        {
            continue;
        }
        let body = start + 5;
        let end = run_end(b, body, |c| c.is_ascii_alphanumeric() || c == b'-');
        from = end;
        if end - body >= 10 {
            hits.push(Detector::SlackToken, start, end);
        }
    }
}
