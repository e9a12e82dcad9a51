//! IPv4 and IPv6 addresses.
//!
//! Candidates are cut out by character class and handed to std's parsers, which know the
//! grammar (octet ranges, `::` compression, embedded IPv4) better than a pattern would.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::engine::Hits;
use super::tokens::is_word_byte;
use super::Detector;

/// `255.255.255.255` plus a sentence-ending dot.
const MAX_V4: usize = 16;
/// `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255` plus a trailing dot or colon.
const MAX_V6: usize = 46;

/// Whether the candidate ending at `end` continues as a version suffix (`1.2.3.4-beta`,
/// `1.2.3.4+build`) or a longer word.
fn continues_as_word(b: &[u8], end: usize) -> bool {
    match b.get(end) {
        None => false,
        Some(&c) if is_word_byte(c) => true,
        Some(b'-' | b'+') => b.get(end + 1).is_some_and(|&c| c.is_ascii_alphanumeric()),
        Some(_) => false,
    }
}

/// Finds dotted-quad IPv4 addresses that are not part of a longer dotted number
/// (`1.2.3.4.5`), a word (`v1.2.3.4`) or a version (`1.2.3.4-beta`).
pub(super) fn find_v4(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(next) = b[i..].iter().position(u8::is_ascii_digit) {
        let start = i + next;
        let mut end = start;
        let mut dots = 0;
        while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'.') {
            dots += usize::from(b[end] == b'.');
            end += 1;
        }
        i = end;
        // Three dots, or four with a sentence-ending one.
        if !(3..=4).contains(&dots) {
            continue;
        }
        if start > 0 {
            let before = b[start - 1];
            let glued_dash = before == b'-' && start > 1 && b[start - 2].is_ascii_alphanumeric();
            if is_word_byte(before) || before == b'.' || glued_dash {
                continue;
            }
        }
        if continues_as_word(b, end) || end - start > MAX_V4 {
            continue;
        }
        let mut candidate = &text[start..end];
        if candidate.ends_with('.') {
            candidate = &candidate[..candidate.len() - 1];
        }
        if is_cidr(b, start + candidate.len())
            || follows_version_word(b, start)
            || is_product_version(b, start)
        {
            continue;
        }
        if candidate.parse::<Ipv4Addr>().is_ok() {
            hits.push(Detector::IpAddress, start, start + candidate.len());
        }
    }
}

/// `Chrome/120.0.0.0`, `Version/17.4.1.0`: a product token of a `User-Agent` (RFC 9110
/// `product/version`), a word of letters glued to a `/` before the number. A host in a path
/// (`/hosts/10.1.2.3`) has a `/` before its word too, so the word must not follow one.
fn is_product_version(b: &[u8], start: usize) -> bool {
    if start < 2 || b[start - 1] != b'/' {
        return false;
    }
    let end = start - 1;
    let mut word = end;
    while word > 0 && end - word < 32 && (b[word - 1].is_ascii_alphabetic() || b[word - 1] == b'-')
    {
        word -= 1;
    }
    word < end
        && b[word].is_ascii_uppercase()
        && (word == 0
            || matches!(
                b[word - 1],
                b' ' | b'(' | b'"' | b'\'' | b'=' | b':' | b'\t'
            ))
}

/// `10.0.0.0/8`, `2001:db8::/32`: a network block, not one host's address.
fn is_cidr(b: &[u8], end: usize) -> bool {
    if b.get(end) != Some(&b'/') {
        return false;
    }
    let digits = b[end + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    (1..=3).contains(&digits)
        && !b
            .get(end + 1 + digits)
            .is_some_and(|&c| is_word_byte(c) || c == b'/' || c == b'.')
}

/// Words that make the dotted number after them a version (`version 1.0.0.1`, `v: 10.2.0.1`).
fn follows_version_word(b: &[u8], start: usize) -> bool {
    follows_version_word_within(b, start, 2)
}

fn follows_version_word_within(b: &[u8], start: usize, hops: u8) -> bool {
    const WORDS: &[&[u8]] = &[
        b"version",
        b"versions",
        b"release",
        b"firmware",
        b"revision",
        b"upgraded",
        b"upgrade",
        b"downgrade",
        b"downgraded",
    ];
    let mut end = start;
    let mut skipped = 0;
    while end > 0 && skipped < 4 && matches!(b[end - 1], b' ' | b':' | b'=' | b'"' | b'\'' | b'\t')
    {
        end -= 1;
        skipped += 1;
    }
    // `from 1.2.3.4 to 1.2.3.5` after a version word: the word is further back.
    let mut word_start = end;
    while word_start > 0 && end - word_start < 16 && b[word_start - 1].is_ascii_alphabetic() {
        word_start -= 1;
    }
    let word = &b[word_start..end];
    if hops > 0 && (word.eq_ignore_ascii_case(b"from") || word.eq_ignore_ascii_case(b"to")) {
        return follows_version_word_within(b, word_start, hops - 1);
    }
    // A key ending in `version` (`app_version=`, `"fwVersion":`).
    let key_end = end;
    let mut key_start = key_end;
    while key_start > 0 && key_end - key_start < 32 && is_word_byte(b[key_start - 1]) {
        key_start -= 1;
    }
    let key = &b[key_start..key_end];
    let key_is_version = key.len() >= 7 && key[key.len() - 7..].eq_ignore_ascii_case(b"version");
    key_is_version || WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
}

fn is_v6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Whether the run `start..end` is part of a `::`-separated path: a `::` joins it to an
/// identifier (`core::fmt::…`, `Vec::<u8>::new`, `e::ab12`).
fn is_rust_path(b: &[u8], start: usize, end: usize) -> bool {
    let joins_word_after = end >= 2
        && &b[end - 2..end] == b"::"
        && b.get(end)
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_' || c == b'<');
    let joins_word_before = b[start..].starts_with(b"::")
        && start > 0
        && (is_word_byte(b[start - 1]) || b[start - 1] == b'>');
    let run = &b[start..end];
    let segments_are_names = run
        .split(|&c| c == b':')
        .filter(|s| !s.is_empty())
        .any(|s| s.first().is_some_and(u8::is_ascii_alphabetic) && s.len() > 4)
        && run.windows(2).filter(|w| w == b"::").count() > 1;
    joins_word_after || joins_word_before || segments_are_names
}

/// Finds IPv6 addresses, including compressed (`fe80::1`) and IPv4-embedding
/// (`::ffff:10.0.0.1`) forms.
pub(super) fn find_v6(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(next) = b[from..].iter().position(|&c| c == b':') {
        let colon = from + next;
        let mut start = colon;
        while start > 0 && colon - start <= MAX_V6 && is_v6_byte(b[start - 1]) {
            start -= 1;
        }
        let mut end = colon;
        while end < b.len() && is_v6_byte(b[end]) {
            end += 1;
        }
        // Every colon of this run is decided here; the rest of the run is never rescanned.
        from = end.max(colon + 1);
        if end - start > MAX_V6 {
            continue;
        }
        if (start > 0 && is_word_byte(b[start - 1])) || continues_as_word(b, end) {
            continue;
        }
        let run = &text[start..end];
        // Addresses in use hold a digit (`fe80::1`, `::1`); an all-letter run is a `::` path
        // of hex-looking names (`add::face`, `Bad::Cafe`).
        if !run.bytes().any(|c| c.is_ascii_digit())
            || run.bytes().filter(|&c| c == b':').count() < 2
            || is_cidr(b, end)
            || is_rust_path(b, start, end)
        {
            continue;
        }
        let candidate = if run.parse::<Ipv6Addr>().is_ok() {
            Some(run)
        } else {
            run.strip_suffix(['.', ':'])
                .filter(|r| r.parse::<Ipv6Addr>().is_ok())
        };
        if let Some(candidate) = candidate {
            hits.push(Detector::IpAddress, start, start + candidate.len());
        }
    }
}
