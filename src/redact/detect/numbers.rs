//! Numbers that identify a person or an account: payment card numbers and US social security
//! numbers.
//!
//! Both are found in "digit runs": groups of digits joined by single spaces or dashes
//! (`4111 1111-1111 1111`, `078-05-1120`), standing apart from letters and decimal points.

use super::engine::Hits;
use super::tokens::is_word_byte;
use super::Detector;

const MIN_CARD: usize = 13;
const MAX_CARD: usize = 19;

/// A group of consecutive digits within a run.
#[derive(Clone, Copy, Debug)]
struct Group {
    start: usize,
    end: usize,
    /// The separator before this group (`0` for the first group of a run).
    sep_before: u8,
}

impl Group {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// Whether a run starting at `start` is glued to what comes before it: a word, a decimal point
/// (`3.1415…`) or a sign (`+4930…` is a phone number).
fn glued_before(b: &[u8], start: usize) -> bool {
    if start == 0 {
        return false;
    }
    let c = b[start - 1];
    is_word_byte(c)
        || c == b'+'
        || (matches!(c, b'.' | b',') && start >= 2 && b[start - 2].is_ascii_digit())
}

/// Whether a run ending at `end` is glued to what follows it.
fn glued_after(b: &[u8], end: usize) -> bool {
    match b.get(end) {
        None => false,
        Some(&c) if is_word_byte(c) => true,
        Some(b'.' | b',') => b.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// The newest groups of the current run: a card spans at most 19 of them, an SSN three.
/// A fixed array, since the common case (an id with a few digit runs) must not allocate.
#[derive(Debug)]
struct Window {
    groups: [Group; MAX_CARD],
    len: usize,
}

impl Window {
    fn new() -> Self {
        Window {
            groups: [Group {
                start: 0,
                end: 0,
                sep_before: 0,
            }; MAX_CARD],
            len: 0,
        }
    }

    fn push(&mut self, group: Group) {
        if self.len == MAX_CARD {
            self.groups.copy_within(1.., 0);
            self.len -= 1;
        }
        self.groups[self.len] = group;
        self.len += 1;
    }

    fn as_slice(&self) -> &[Group] {
        &self.groups[..self.len]
    }
}

/// Finds card numbers and SSNs in every digit run of `text`.
pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut window = Window::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        window.len = 0;
        let left_open = !glued_before(b, i);
        let mut sep_before = 0;
        let mut run_digits = 0;
        loop {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            window.push(Group {
                start,
                end: i,
                sep_before,
            });
            run_digits += i - start;
            let continues = matches!(b.get(i), Some(b' ' | b'-'))
                && b.get(i + 1).is_some_and(u8::is_ascii_digit);
            let sep_after = if continues { b[i] } else { 0 };
            // The run's first group carries the run's left edge; the last its right edge.
            let right_open = continues || !glued_after(b, i);
            if right_open && run_digits >= MIN_CARD {
                check_windows(b, window.as_slice(), left_open, hits);
            }
            if right_open && window.len >= 3 {
                check_ssn(b, window.as_slice(), sep_after, left_open, hits);
            }
            if !continues {
                break;
            }
            sep_before = sep_after;
            i += 1;
        }
    }
}

/// Checks every card-length window of groups that ends at the newest group.
///
/// The Luhn sum is extended group by group towards the front, so all windows ending here cost
/// as much as one.
fn check_windows(b: &[u8], window: &[Group], left_open: bool, hits: &mut Hits) {
    let Some(last) = window.last() else {
        return;
    };
    let mut digits = 0;
    let mut luhn_sum = 0u32;
    for (n, g) in window.iter().rev().enumerate() {
        // Cards are written whole or in blocks of 3 to 6 digits (4-4-4-4, 4-6-5, 4-4-4-4-3);
        // runs of shorter blocks are phone numbers, dates and lists.
        if n > 0 && !(is_card_block(g) && is_card_block(last)) {
            break;
        }
        for &d in b[g.start..g.end].iter().rev() {
            luhn_sum += luhn_value(d, digits);
            digits += 1;
        }
        if digits > MAX_CARD {
            break;
        }
        if digits < MIN_CARD || (g.sep_before == 0 && !left_open) {
            continue;
        }
        // Issuer prefixes: 2 (Mastercard 2-series), 3 (Amex, Diners, JCB), 4 (Visa),
        // 5 (Mastercard, Maestro), 6 (Discover, UnionPay, Maestro). Digit runs starting with
        // 0, 1, 7, 8 or 9 are timestamps, ids and phone numbers.
        if (b'2'..=b'6').contains(&b[g.start]) && luhn_sum % 10 == 0 {
            hits.push(Detector::CardNumber, g.start, last.end);
        }
    }
}

fn is_card_block(g: &Group) -> bool {
    (3..=6).contains(&g.len())
}

/// The Luhn contribution of ASCII digit `d` at `position` counted from the right (0-based):
/// every second digit is doubled, and a two-digit result contributes its digit sum.
fn luhn_value(d: u8, position: usize) -> u32 {
    let v = u32::from(d.wrapping_sub(b'0'));
    if position % 2 == 1 {
        let doubled = v * 2;
        if doubled > 9 {
            doubled - 9
        } else {
            doubled
        }
    } else {
        v
    }
}

/// Checks whether the newest three groups form `ddd-dd-dddd` on their own and are a number the
/// Social Security Administration could have issued.
fn check_ssn(b: &[u8], window: &[Group], sep_after: u8, left_open: bool, hits: &mut Hits) {
    let n = window.len();
    if n < 3 || sep_after == b'-' {
        return;
    }
    let (area, group, serial) = (window[n - 3], window[n - 2], window[n - 1]);
    if area.len() != 3
        || group.len() != 2
        || serial.len() != 4
        || group.sep_before != b'-'
        || serial.sep_before != b'-'
        || area.sep_before == b'-'
        || (area.sep_before == 0 && !left_open)
    {
        return;
    }
    let digits = |g: Group| &b[g.start..g.end];
    let (a, g, s) = (digits(area), digits(group), digits(serial));
    let never_issued = a == b"000"
        || a == b"666"
        || a[0] == b'9'
        || g == b"00"
        || s == b"0000"
        // Published as examples (a wallet insert, an advertisement) and used by many people.
        || (a == b"078" && g == b"05" && s == b"1120")
        || (a == b"219" && g == b"09" && s == b"9999");
    if !never_issued {
        hits.push(Detector::UsSsn, area.start, serial.end);
    }
}
