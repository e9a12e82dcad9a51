//! A cheap look at a string's bytes deciding which detectors are worth running.
//!
//! A first, branch-free pass asks whether any byte can start a trigger at all and counts digits;
//! most strings a record holds end there. Otherwise a second pass skips the bytes that start
//! nothing in a tight loop, and the few that can start a match look at their neighbours to rule
//! themselves out. A false trigger only costs the run of one detector, a missed trigger would
//! leak, so every check here is a necessary condition of its detector's match.

/// `eyJ`: the start of a base64url JSON object, every JWT header.
pub(super) const JWT: u16 = 1 << 0;
/// `AKIA`/`ASIA`.
pub(super) const AWS_ID: u16 = 1 << 1;
/// `gh?_` and `github_pat_`.
pub(super) const GITHUB: u16 = 1 << 2;
/// `xox?-`.
pub(super) const SLACK: u16 = 1 << 3;
/// `-----BEGIN`.
pub(super) const PEM: u16 = 1 << 4;
/// `://`.
pub(super) const URL: u16 = 1 << 5;
/// `@` between a local-part byte and a domain byte.
pub(super) const EMAIL: u16 = 1 << 6;
/// A run of digit groups joined by spaces or dashes holding 13 digits (the fewest a card number
/// has) or 9 digits in 3 groups (an SSN).
pub(super) const NUMBERS: u16 = 1 << 7;
/// A digit, a dot and a digit.
pub(super) const IPV4: u16 = 1 << 8;
/// A colon between hex digits or colons.
pub(super) const IPV6: u16 = 1 << 9;
/// `=` or `:` that may follow a secret-sounding key.
pub(super) const SEPARATOR: u16 = 1 << 10;
/// The words `bearer` or `basic`.
pub(super) const AUTH_SCHEME: u16 = 1 << 11;

const C_DIGIT: u8 = 1;
/// Spaces and dashes: they only join digit groups (`4111 1111`, `078-05-1120`).
const C_JOIN: u8 = 2;
const C_AT: u8 = 3;
const C_COLON: u8 = 4;
const C_EQUALS: u8 = 5;
const C_J: u8 = 6;
const C_UNDERSCORE: u8 = 7;
const C_UPPER_A: u8 = 8;
const C_B: u8 = 9;
const C_DOT: u8 = 10;
const C_X: u8 = 11;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = C_DIGIT;
        d += 1;
    }
    t[b' ' as usize] = C_JOIN;
    t[b'-' as usize] = C_JOIN;
    t[b'@' as usize] = C_AT;
    t[b':' as usize] = C_COLON;
    t[b'=' as usize] = C_EQUALS;
    t[b'J' as usize] = C_J;
    t[b'_' as usize] = C_UNDERSCORE;
    t[b'A' as usize] = C_UPPER_A;
    t[b'B' as usize] = C_B;
    t[b'b' as usize] = C_B;
    t[b'.' as usize] = C_DOT;
    t[b'x' as usize] = C_X;
    t
};

/// 1 for the bytes that may start a trigger (every class but digits and joiners).
static STARTS_TRIGGER: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (CLASS[i] > C_JOIN) as u8;
        i += 1;
    }
    t
};

fn is_hex_or_colon(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':'
}

/// The triggers present in `b`, as a set of the constants above.
pub(super) fn scan(b: &[u8]) -> u16 {
    // Most strings (names, verbs, ids, paths with a number) hold no byte that starts a trigger
    // and too few digits for a card or SSN; one branch-free pass proves that.
    let mut any = 0u8;
    let mut digits = 0u32;
    for &byte in b {
        any |= STARTS_TRIGGER[byte as usize];
        digits += u32::from(byte.wrapping_sub(b'0') < 10);
    }
    if any == 0 && digits < 9 {
        return 0;
    }
    let mut found = 0u16;
    let mut runs = DigitRuns::default();
    let mut i = 0;
    while i < b.len() {
        match CLASS[b[i] as usize] {
            // Letters and most punctuation: the common case, skipped in a tight loop.
            0 => {
                runs.end_run();
                i += 1;
                while i < b.len() && CLASS[b[i] as usize] == 0 {
                    i += 1;
                }
                continue;
            }
            C_DIGIT => runs.digit(b, i),
            C_JOIN => runs.separator(),
            class => {
                runs.end_run();
                found |= trigger_at(b, i, class);
            }
        }
        i += 1;
    }
    if runs.finish() {
        found |= NUMBERS;
    }
    found
}

/// Tracks runs of digit groups joined by spaces or dashes, the shape of card numbers and SSNs.
#[derive(Default)]
struct DigitRuns {
    /// Digits of the current run, not counting a first group glued to a word (`a716-…`).
    digits: u32,
    groups: u32,
    in_run: bool,
    in_group: bool,
    glued_group: bool,
    /// 13 digits (a card) or 9 digits in 3 groups (an SSN) seen in one run.
    card_or_ssn_possible: bool,
}

impl DigitRuns {
    #[inline]
    fn digit(&mut self, b: &[u8], i: usize) {
        if !self.in_group {
            self.in_run = true;
            self.in_group = true;
            self.glued_group = i > 0 && b[i - 1].is_ascii_alphabetic();
            self.groups += u32::from(!self.glued_group);
        }
        self.digits += u32::from(!self.glued_group);
    }

    #[inline]
    fn separator(&mut self) {
        self.in_group = false;
    }

    #[inline]
    fn end_run(&mut self) {
        // Letters end runs that mostly never began; keep that case to one branch.
        if self.in_run {
            self.card_or_ssn_possible |=
                self.digits >= 13 || (self.digits >= 9 && self.groups >= 3);
            self.digits = 0;
            self.groups = 0;
            self.in_run = false;
            self.in_group = false;
        }
    }

    fn finish(mut self) -> bool {
        self.end_run();
        self.card_or_ssn_possible
    }
}

/// The trigger, if any, that the byte at `i` (of the given class) starts.
#[cold]
#[inline(never)]
fn trigger_at(b: &[u8], i: usize, class: u8) -> u16 {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let when = |cond: bool, trigger: u16| if cond { trigger } else { 0 };
    match class {
        C_AT => when(
            i > 0 && super::email::is_local_byte(b[i - 1]) && at(i + 1).is_ascii_alphanumeric(),
            EMAIL,
        ),
        C_COLON => {
            SEPARATOR
                | when(at(i + 1) == b'/' && at(i + 2) == b'/', URL)
                | when(
                    i > 0 && is_hex_or_colon(b[i - 1]) && is_hex_or_colon(at(i + 1)),
                    IPV6,
                )
        }
        C_EQUALS => SEPARATOR,
        C_J => when(i >= 2 && b[i - 2] == b'e' && b[i - 1] == b'y', JWT),
        C_X => when(
            b[i..].starts_with(b"xox")
                && matches!(at(i + 3), b'b' | b'a' | b'p' | b'r' | b's')
                && at(i + 4) == b'-',
            SLACK,
        ),
        C_UNDERSCORE => when(
            (i >= 3 && b[i - 3] == b'g' && b[i - 2] == b'h')
                || (i >= 6 && &b[i - 6..i] == b"github"),
            GITHUB,
        ),
        C_UPPER_A => when(
            at(i + 2) == b'I' && at(i + 3) == b'A' && matches!(at(i + 1), b'K' | b'S'),
            AWS_ID,
        ),
        C_B => {
            let rest = &b[i + 1..];
            when(
                (rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"earer"))
                    || (rest.len() >= 4 && rest[..4].eq_ignore_ascii_case(b"asic")),
                AUTH_SCHEME,
            ) | when(
                i >= 5 && &b[i - 5..i] == b"-----" && rest.starts_with(b"EGIN"),
                PEM,
            )
        }
        C_DOT => when(
            i > 0 && b[i - 1].is_ascii_digit() && at(i + 1).is_ascii_digit(),
            IPV4,
        ),
        _ => 0,
    }
}
