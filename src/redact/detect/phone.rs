//! Phone numbers in the one format that cannot be mistaken for something else: international
//! (E.164) numbers written with their `+` and country code (`+44 20 7946 0958`,
//! `+1 (202) 555-0143`, `+4915123456789`).
//!
//! Numbers without `+` are left alone: `555-123-4567` is as likely an order number, a range or a
//! date as a phone number.

use super::engine::Hits;
use super::tokens::is_word_byte;
use super::Detector;

/// E.164 allows at most 15 digits; fewer than 8 with a country code is no subscriber number.
const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;

/// Finds `+<country code><number>` with single spaces, dashes, dots or one pair of parentheses
/// between digit groups.
pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    for plus in memchr::memchr_iter(b'+', b) {
        if plus > 0 && (is_word_byte(b[plus - 1]) || b[plus - 1] == b'+') {
            continue;
        }
        if !b.get(plus + 1).is_some_and(|c| (b'1'..=b'9').contains(c)) {
            continue;
        }
        if let Some(end) = number_end(b, plus + 1) {
            hits.push(Detector::Phone, plus, end);
        }
    }
}

/// The end of a phone number whose digits start at `from`, if it has the length of one and
/// stands alone.
fn number_end(b: &[u8], from: usize) -> Option<usize> {
    let mut digits = 0;
    let mut i = from;
    let mut end = from;
    let mut open_paren = false;
    let mut parens = 0;
    while i < b.len() && digits <= MAX_DIGITS {
        match b[i] {
            c if c.is_ascii_digit() => {
                digits += 1;
                i += 1;
                end = i;
            }
            b' ' | b'-' | b'.'
                if b.get(i + 1)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'(') =>
            {
                i += 1;
            }
            b'(' if !open_paren && parens == 0 && b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                open_paren = true;
                parens += 1;
                i += 1;
            }
            b')' if open_paren => {
                open_paren = false;
                i += 1;
                if b.get(i) == Some(&b' ') || b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => break,
        }
    }
    let glued = b.get(end).is_some_and(|&c| is_word_byte(c))
        || (b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit));
    ((MIN_DIGITS..=MAX_DIGITS).contains(&digits) && !open_paren && !glued).then_some(end)
}
