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
        if candidate.parse::<Ipv4Addr>().is_ok() {
            hits.push(Detector::IpAddress, start, start + candidate.len());
        }
    }
}

fn is_v6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
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
        if !run.bytes().any(|c| c.is_ascii_hexdigit())
            || run.bytes().filter(|&c| c == b':').count() < 2
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
