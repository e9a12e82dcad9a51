//! A cheap look at a string's bytes deciding which detectors are worth running.
//!
//! A first, branch-free pass asks whether any byte can start a trigger at all and counts digits;
//! most strings a record holds end there. Otherwise a second pass skips the bytes that start
//! nothing in a tight loop, and the few that can start a match look at their neighbours to rule
//! themselves out. A false trigger only costs the run of one detector, a missed trigger would
//! leak, so every check here is a necessary condition of its detector's match.

/// `eyJ`: the start of a base64url JSON object, every JWT header.
pub(super) const JWT: u32 = 1 << 0;
/// `AKIA`/`ASIA`.
pub(super) const AWS_ID: u32 = 1 << 1;
/// `gh?_` and `github_pat_`.
pub(super) const GITHUB: u32 = 1 << 2;
/// `xox?-`.
pub(super) const SLACK: u32 = 1 << 3;
/// `-----BEGIN`.
pub(super) const PEM: u32 = 1 << 4;
/// `://`.
pub(super) const URL: u32 = 1 << 5;
/// `@` between a local-part byte and a domain byte, or a bracketed `at` (`[at]`, `(at)`).
pub(super) const EMAIL: u32 = 1 << 6;
/// A run of digit groups joined by spaces or dashes holding 13 digits (the fewest a card number
/// has) or 9 digits in 3 groups (an SSN).
pub(super) const NUMBERS: u32 = 1 << 7;
/// A digit, a dot and a digit.
pub(super) const IPV4: u32 = 1 << 8;
/// A colon between hex digits or colons.
pub(super) const IPV6: u32 = 1 << 9;
/// `=` or `:` that may follow a secret-sounding key.
pub(super) const SEPARATOR: u32 = 1 << 10;
/// The words `bearer` or `basic`.
pub(super) const AUTH_SCHEME: u32 = 1 << 11;
/// A run of at least [`providers::MIN_TOKEN`](super::providers::MIN_TOKEN) token bytes: the
/// shortest a prefixed provider token is.
pub(super) const PROVIDER: u32 = 1 << 12;
/// Two letters and two digits starting a word: an IBAN's country and check digits.
pub(super) const IBAN: u32 = 1 << 13;
/// `+` and a digit, not glued to a word: an international phone number.
pub(super) const PHONE: u32 = 1 << 15;
/// A short flag after a blank (`-p`, `-a`, `-w`, `-u`, `-P`, `-U`) or the word `password`
/// after a blank: a password on a command line or in a `.netrc` line.
pub(super) const CMDLINE: u32 = 1 << 16;
/// The shortest `.netrc` line with a password: `default login a password abc`.
const NETRC_MIN: usize = 30;
/// Five digits or more: a national id, a passport number or a date of birth may be there (the
/// detector then looks for its key, or for a check character).
pub(super) const NATIONAL: u32 = 1 << 17;
/// An escape, a percent-encoded byte or a non-ASCII character: the text is also scanned decoded.
/// Not a detector's trigger; the engine decides on it.
pub(super) const ENCODED: u32 = 1 << 14;

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
/// `(`, `>`: a `Debug` newtype (`Secret("…")`) or an XML element (`<password>…`) may follow.
const C_OPEN: u8 = 12;
/// `\`, `%` and the bytes of non-ASCII characters.
const C_ENCODED: u8 = 13;
const C_PLUS: u8 = 14;
/// `/`: joins card blocks (`4111/1111/…`); starts no trigger, so a path with few digits still
/// ends at the first pass.
const C_SLASH: u8 = 15;

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
    t[b'(' as usize] = C_OPEN;
    t[b'>' as usize] = C_OPEN;
    t[b'[' as usize] = C_OPEN;
    t[b'{' as usize] = C_OPEN;
    t[b'<' as usize] = C_OPEN;
    t[b'\\' as usize] = C_ENCODED;
    t[b'%' as usize] = C_ENCODED;
    t[b'+' as usize] = C_PLUS;
    t[b'/' as usize] = C_SLASH;
    let mut h = 0x80;
    while h < 256 {
        t[h] = C_ENCODED;
        h += 1;
    }
    t
};

/// The bytes a provider token or a JWT is made of: 1 for hex digits and `-` (all a UUID or a
/// digest holds), 2 for the others (other letters, `_`, `.`), 0 for the bytes that end a token.
static TOKEN_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_hexdigit() || c == b'-' {
            1
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
            2
        } else {
            0
        };
        i += 1;
    }
    t
};

/// 1 for the bytes that may start a trigger (every class but digits and joiners, and the dash
/// of a `--flag`).
static STARTS_TRIGGER: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (CLASS[i] > C_JOIN && CLASS[i] != C_SLASH) as u8;
        i += 1;
    }
    t[b'-' as usize] = 1;
    t
};

fn is_hex_or_colon(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':'
}

/// Whether `b` holds a run of token bytes as long as the shortest provider token, with a byte
/// that is neither a hex digit nor `-`: every provider prefix and JWT has one, while UUIDs and
/// digests, the long runs of ordinary records, have none. Most strings of a record are shorter
/// than a token and are not looked at.
fn has_long_token(b: &[u8]) -> bool {
    const MIN: usize = super::providers::MIN_TOKEN;
    let ends_token = |c: &u8| TOKEN_BYTE[*c as usize] == 0;
    // Look at windows of MIN bytes: the last byte ending a token in a window moves the next
    // window past it, so text with spaces is crossed looking at a few bytes per window.
    let mut start = 0;
    while start + MIN <= b.len() {
        match b[start..start + MIN].iter().rposition(ends_token) {
            Some(end) => start += end + 1,
            None => {
                let end = b[start + MIN..]
                    .iter()
                    .position(ends_token)
                    .map_or(b.len(), |e| start + MIN + e);
                if b[start..end].iter().any(|&c| TOKEN_BYTE[c as usize] == 2) {
                    return true;
                }
                start = end + 1;
            }
        }
    }
    false
}

/// The triggers present in `b`, as a set of the constants above.
pub(super) fn scan(b: &[u8]) -> u32 {
    // Most strings (names, verbs, ids, paths with a number) hold no byte that starts a trigger,
    // too few digits for a card or SSN and no word long enough for a provider token; one
    // branch-free pass proves that.
    let mut any = 0u8;
    let mut digits = 0u32;
    for &byte in b {
        any |= STARTS_TRIGGER[byte as usize];
        digits += u32::from(byte.wrapping_sub(b'0') < 10);
    }
    let mut found = if has_long_token(b) { PROVIDER } else { 0 };
    if digits >= 5 {
        found |= NATIONAL;
    }
    if any == 0 && digits < 9 {
        // A `.netrc` line may hold nothing else that starts a trigger
        // (`default login joe password hunter2q`); only lines that long are searched for it.
        if b.len() >= NETRC_MIN && memchr::memmem::find(b, b" password ").is_some() {
            found |= CMDLINE;
        }
        return found;
    }
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
            C_DIGIT => {
                if !runs.in_group
                    && i >= 2
                    && b[i - 1].is_ascii_alphabetic()
                    && b[i - 2].is_ascii_alphabetic()
                    && (i == 2 || !b[i - 3].is_ascii_alphanumeric())
                    && b.get(i + 1).is_some_and(u8::is_ascii_digit)
                {
                    found |= IBAN;
                }
                runs.digit(b, i);
            }
            C_JOIN => {
                runs.separator();
                if b[i] == b'-' {
                    if b.get(i + 1) == Some(&b'-')
                        && b.get(i + 2).is_some_and(u8::is_ascii_alphabetic)
                    {
                        found |= SEPARATOR;
                    } else if super::cmdline::may_start_flag(b, i) {
                        found |= CMDLINE;
                    }
                } else if b.get(i + 1) == Some(&b'p') && super::cmdline::may_start_netrc(b, i + 1) {
                    found |= CMDLINE;
                }
            }
            class => {
                let joins_digits = matches!(b[i], b'.' | b'_' | b'/')
                    && i > 0
                    && b[i - 1].is_ascii_digit()
                    && b.get(i + 1).is_some_and(u8::is_ascii_digit);
                if joins_digits {
                    runs.separator();
                } else {
                    runs.end_run();
                }
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
/// Dots and underscores join card blocks too (`4111.1111.1111.1111`) but also end them in
/// versions and decimals, so digits on both sides of one are counted as one run here (a
/// necessary condition), and the card detector decides.
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
fn trigger_at(b: &[u8], i: usize, class: u8) -> u32 {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let when = |cond: bool, trigger: u32| if cond { trigger } else { 0 };
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
        C_OPEN => {
            when(
                i > 0
                    && b[i - 1].is_ascii_alphanumeric()
                    && (b[i] == b'>'
                        || (b[i] == b'(' && matches!(at(i + 1), b'"' | b'\\' | b'\n' | b'\r'))),
                SEPARATOR,
            ) | when(super::email::starts_obfuscated_at(b, i), EMAIL)
        }
        C_ENCODED => when(super::normalize::starts_encoding(b, i), ENCODED),
        C_PLUS => when(
            (i == 0 || !b[i - 1].is_ascii_alphanumeric()) && matches!(at(i + 1), b'1'..=b'9'),
            PHONE,
        ),
        _ => 0,
    }
}
