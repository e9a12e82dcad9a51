//! HTTP authentication credentials: the value of an `Authorization` header, and `Bearer …` /
//! `Basic …` credentials quoted without their header.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use super::engine::{pseudonym_len, Hits};
use super::keyword::{is_blank, is_lowercase_token, is_placeholder, looks_random};
use super::tokens::{is_word_byte, run_end};
use super::Detector;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Header credentials shorter than this are placeholders (`none`, `-`), not secrets.
const MIN_HEADER_CREDENTIAL: usize = 4;
/// A standalone `Bearer` must be followed by something token-like; English words after
/// "bearer" are shorter or not random.
const MIN_STANDALONE_BEARER: usize = 16;

/// RFC 6750's `b68token` bytes, plus `=` padding.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

fn is_scheme(word: &[u8]) -> bool {
    word.len() <= 32
        && word.first().is_some_and(u8::is_ascii_alphabetic)
        && word.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
}

fn is_known_scheme(word: &[u8]) -> bool {
    const SCHEMES: &[&[u8]] = &[
        b"bearer",
        b"basic",
        b"token",
        b"digest",
        b"negotiate",
        b"ntlm",
    ];
    SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(word))
}

/// Records the credential of the `Authorization` header value after the separator at `sep`
/// (`Bearer <token>`, `Basic <base64>`, `<scheme> <credential>`, or a bare credential) and
/// returns where it ends.
pub(super) fn find_in_header(b: &[u8], sep: usize, hits: &mut Hits) -> usize {
    let mut i = sep + 1;
    while i < b.len() && is_blank(b[i]) {
        i += 1;
    }
    if b.get(i) == Some(&b'\\') {
        i += 1;
    }
    if matches!(b.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    let word_end = run_end(b, i, is_token_byte);
    let word = &b[i..word_end];
    let mut next = word_end;
    while next < b.len() && is_blank(b[next]) {
        next += 1;
    }
    let mut bare = false;
    let (start, end) = if next > word_end && is_scheme(word) {
        // `<scheme> <credential>`; the credential may already be a mask, which is not a token.
        (next, run_end(b, next, is_token_byte))
    } else if is_known_scheme(word) {
        // A scheme without a credential says nothing secret.
        (word_end, word_end)
    } else {
        bare = true;
        (i, word_end)
    };
    if let Some(len) = pseudonym_len(&b[start..]) {
        // Hashed by an earlier scrub; its `:` would cut it into a token-like head.
        return start + len;
    }
    let credential = &b[start..end];
    // Without a scheme, the value must look like a credential: `authorization: granted` is a
    // decision, `authorization: dXNlcjpwYXNz` is one.
    if end - start >= MIN_HEADER_CREDENTIAL
        && !is_placeholder(credential)
        && (!bare || looks_like_bare_credential(credential))
    {
        hits.push(Detector::AuthHeader, start, end);
    }
    end
}

/// A credential standing without its scheme: 8+ bytes mixing letters with digits or cases,
/// or carrying base64 padding, or a long random lower-case token.
fn looks_like_bare_credential(value: &[u8]) -> bool {
    let digit = value.iter().any(u8::is_ascii_digit);
    let upper = value.iter().any(u8::is_ascii_uppercase);
    let lower = value.iter().any(u8::is_ascii_lowercase);
    value.len() >= 8
        && ((digit && (upper || lower))
            || (upper && lower)
            || value.ends_with(b"=")
            || is_lowercase_token(value))
}

/// Finds `Bearer <token>` and `Basic <base64 of user:password>` anywhere in text.
pub(super) fn find_standalone(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    for i in memchr::memchr2_iter(b'b', b'B', b) {
        if i > 0 && is_word_byte(b[i - 1]) {
            continue;
        }
        let word = |w: &[u8]| b.len() >= i + w.len() && b[i..i + w.len()].eq_ignore_ascii_case(w);
        let (scheme_len, bearer) = if word(b"bearer") {
            (6, true)
        } else if word(b"basic") {
            (5, false)
        } else {
            continue;
        };
        let mut start = i + scheme_len;
        if !b.get(start).is_some_and(|&c| is_blank(c)) {
            continue;
        }
        while start < b.len() && is_blank(b[start]) {
            start += 1;
        }
        let end = run_end(b, start, is_token_byte);
        let token = &b[start..end];
        let credential = if bearer {
            token.len() >= MIN_STANDALONE_BEARER
                && (looks_random(token) || is_lowercase_token(token))
        } else {
            // `Basic` is an ordinary word; only a decodable `user:password` is a credential.
            BASE64
                .decode(token)
                .is_ok_and(|plain| plain.len() >= 3 && plain.contains(&b':'))
        };
        if credential {
            hits.push(Detector::AuthHeader, start, end);
        }
    }
}
