//! Numbers that identify a person or an account: payment card numbers and US social security
//! numbers.
//!
//! Both are found in "digit runs": groups of digits joined by spaces, dashes, dots or
//! underscores (`4111 1111 1111 1111`, `4111.1111.1111.1111`, `078-05-1120`), standing apart from
//! letters and decimal points. A card number must have an issuer's prefix and one of that
//! issuer's lengths and pass the Luhn check; written without blocks, it must not stand where an
//! identifier does (`order_id=…`, a field named `trace_id`): roughly one random 16-digit id in a
//! hundred passes both checks.

use super::engine::{Context, Hits};
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
pub(super) fn find(text: &str, context: Context<'_>, hits: &mut Hits) {
    let b = text.as_bytes();
    let id_field = context
        .field
        .is_some_and(|f| super::keyword::names_identifier(f.as_bytes()));
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
            // One joiner, or two spaces.
            let width = if b.get(i) == Some(&b' ') && b.get(i + 1) == Some(&b' ') {
                2
            } else {
                1
            };
            let continues = matches!(b.get(i), Some(b' ' | b'-' | b'.' | b'_' | b'/'))
                && b.get(i + width).is_some_and(u8::is_ascii_digit);
            let sep_after = if continues { b[i] } else { 0 };
            // The run's first group carries the run's left edge; the last its right edge.
            let right_open = continues || !glued_after(b, i);
            if right_open && run_digits >= MIN_CARD {
                check_windows(b, window.as_slice(), left_open, id_field, hits);
            }
            if right_open && window.len >= 3 {
                check_ssn(b, window.as_slice(), sep_after, left_open, hits);
            }
            if !continues {
                break;
            }
            sep_before = sep_after;
            i += width;
        }
    }
}

/// Checks every card-length window of groups that ends at the newest group.
///
/// The Luhn sum is extended group by group towards the front, so all windows ending here cost
/// as much as one.
fn check_windows(b: &[u8], window: &[Group], left_open: bool, id_field: bool, hits: &mut Hits) {
    let Some(last) = window.last() else {
        return;
    };
    let mut digits = 0;
    let mut luhn_sum = 0u32;
    for (n, g) in window.iter().rev().enumerate() {
        // Cards are written whole or in blocks of 3 to 6 digits (4-4-4-4, 4-6-5, 4-4-4-4-3),
        // joined by one kind of separator; runs of shorter blocks are phone numbers, dates and
        // lists, and mixed separators are versions and addresses.
        if n > 0
            && !(is_card_block(g)
                && is_card_block(last)
                && window_sep(window, n) == last.sep_before)
        {
            break;
        }
        for &d in b[g.start..g.end].iter().rev() {
            luhn_sum += luhn_value(d, digits);
            digits += 1;
        }
        if digits > MAX_CARD {
            break;
        }
        // A window starting inside a run starts after a space (`items 12 4111 1111 …`); after a
        // dot it is a decimal or a version.
        let starts_clean = match g.sep_before {
            0 => left_open,
            sep => sep == b' ',
        };
        if digits < MIN_CARD || !starts_clean || luhn_sum % 10 != 0 {
            continue;
        }
        let grouped = n > 0;
        if !grouped && (id_field || after_identifier_key(b, g.start)) {
            continue;
        }
        if issuer_accepts(b, g.start, last.end, digits) {
            hits.push(Detector::CardNumber, g.start, last.end);
        }
    }
}

/// The separator joining the groups of the window made of the newest `n + 1` groups (the
/// separator after its first group).
fn window_sep(window: &[Group], n: usize) -> u8 {
    let len = window.len();
    window[len - n].sep_before
}

/// Whether the issuer ranges and lengths of the major card networks admit the `len` digits
/// between `start` and `end` (separators skipped).
fn issuer_accepts(b: &[u8], start: usize, end: usize, len: usize) -> bool {
    let mut prefix = 0u32;
    let mut taken = 0;
    for &c in &b[start..end] {
        if taken == 6 {
            break;
        }
        if c.is_ascii_digit() {
            prefix = prefix * 10 + u32::from(c - b'0');
            taken += 1;
        }
    }
    if taken < 6 {
        return false;
    }
    let p = |digits: u32| prefix / 10u32.pow(6 - digits);
    let in_range = |digits: u32, lo: u32, hi: u32| (lo..=hi).contains(&p(digits));
    let len_in = |lo: usize, hi: usize| (lo..=hi).contains(&len);
    // Visa.
    (p(1) == 4 && matches!(len, 13 | 16 | 19))
        // Mastercard, its 2-series, and Mir.
        || ((in_range(2, 51, 55) || in_range(4, 2221, 2720)) && len == 16)
        || (in_range(4, 2200, 2204) && len_in(16, 19))
        // American Express.
        || (matches!(p(2), 34 | 37) && len == 15)
        // Diners Club.
        || ((in_range(3, 300, 305) || p(4) == 3095 || matches!(p(2), 36 | 38 | 39)) && len_in(14, 19))
        // JCB.
        || (in_range(4, 3528, 3589) && len_in(16, 19))
        // Discover, UnionPay, RuPay.
        || ((p(4) == 6011 || in_range(3, 644, 649) || p(2) == 65 || p(2) == 62 || p(2) == 60 || p(2) == 81)
            && len_in(16, 19))
        // Maestro.
        || ((p(2) == 50 || in_range(2, 56, 69)) && len_in(13, 19))
}

/// Whether the number at `start` is the value of a key naming an identifier (`order_id=`,
/// `"trace": "`, `span_id: `, assigned with `=` or `:`) or follows `#`.
fn after_identifier_key(b: &[u8], start: usize) -> bool {
    let mut end = start;
    let mut skipped = 0;
    let mut assigned = false;
    while end > 0
        && skipped < 8
        && matches!(b[end - 1], b' ' | b'"' | b'\'' | b':' | b'=' | b'#' | b'\\')
    {
        if b[end - 1] == b'#' {
            // `#4111…` numbers something; `# 4111…` is a comment or a heading.
            return end == start;
        }
        assigned |= matches!(b[end - 1], b':' | b'=');
        end -= 1;
        skipped += 1;
    }
    // Only a key the number is assigned to says what it is; a word before it in prose
    // (`KEY-----  4111…`, `card key 4111…`) does not.
    if !assigned {
        return false;
    }
    let mut key_start = end;
    while key_start > 0
        && end - key_start < 64
        && (b[key_start - 1].is_ascii_alphanumeric()
            || matches!(b[key_start - 1], b'_' | b'-' | b'.'))
    {
        key_start -= 1;
    }
    end > key_start && super::keyword::names_identifier(&b[key_start..end])
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
