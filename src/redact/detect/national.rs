//! National identity numbers, passport numbers and dates of birth.
//!
//! Formats with a check character are found on their own: a Spanish DNI (`12345678Z`, the
//! letter is the number mod 23) or NIE (`X1234567L`), a French NIR (15 digits, the last two are
//! 97 minus the first 13 mod 97). Formats without one, or whose check a random number passes too
//! often (a Dutch BSN's 11-test, a Canadian SIN's Luhn: one in eleven, one in ten), count only
//! after a key that names them (`bsn=`, `SIN:`, `ssn`, `NINO`, `passport no.`, `date of birth`),
//! read as words (`customer_ssn`, `passportNumber`, `Date of Birth`), or as the value of a field
//! so named.

use super::engine::{Context, Hits};
use super::Detector;

/// What a key says its value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    UsSsn,
    UkNino,
    NlBsn,
    CaSin,
    Passport,
    BirthDate,
    /// A phone number in a national format (`020 7946 0958`, `(202) 555-0143`): without a
    /// `+` and a country code only a key says it is one.
    Phone,
}

/// Keys as words, lower case, and what they name.
const KEYS: &[(&[&[u8]], Kind)] = &[
    (&[b"ssn"], Kind::UsSsn),
    (&[b"social", b"security", b"number"], Kind::UsSsn),
    (&[b"social", b"security", b"no"], Kind::UsSsn),
    (&[b"nino"], Kind::UkNino),
    (&[b"national", b"insurance", b"number"], Kind::UkNino),
    (&[b"national", b"insurance", b"no"], Kind::UkNino),
    (&[b"ni", b"number"], Kind::UkNino),
    (&[b"bsn"], Kind::NlBsn),
    (&[b"burgerservicenummer"], Kind::NlBsn),
    (&[b"sofinummer"], Kind::NlBsn),
    (&[b"sin"], Kind::CaSin),
    (&[b"social", b"insurance", b"number"], Kind::CaSin),
    (&[b"passport"], Kind::Passport),
    (&[b"passport", b"number"], Kind::Passport),
    (&[b"passport", b"no"], Kind::Passport),
    (&[b"passport", b"nr"], Kind::Passport),
    (&[b"passport", b"id"], Kind::Passport),
    (&[b"reisepass"], Kind::Passport),
    (&[b"dob"], Kind::BirthDate),
    (&[b"date", b"of", b"birth"], Kind::BirthDate),
    (&[b"birth", b"date"], Kind::BirthDate),
    (&[b"birthdate"], Kind::BirthDate),
    (&[b"birthday"], Kind::BirthDate),
    (&[b"geburtsdatum"], Kind::BirthDate),
    (&[b"fecha", b"de", b"nacimiento"], Kind::BirthDate),
    (&[b"date", b"de", b"naissance"], Kind::BirthDate),
    (&[b"phone"], Kind::Phone),
    (&[b"phone", b"number"], Kind::Phone),
    (&[b"phone", b"no"], Kind::Phone),
    (&[b"telephone"], Kind::Phone),
    (&[b"tel"], Kind::Phone),
    (&[b"mobile"], Kind::Phone),
    (&[b"mobile", b"number"], Kind::Phone),
    (&[b"cell"], Kind::Phone),
    (&[b"cellphone"], Kind::Phone),
    (&[b"msisdn"], Kind::Phone),
    (&[b"fax"], Kind::Phone),
    (&[b"telefon"], Kind::Phone),
    (&[b"telefono"], Kind::Phone),
    (&[b"telefoon"], Kind::Phone),
    (&[b"handy"], Kind::Phone),
];

/// The longest value read after a key (`QQ 12 34 56 C`, `1980-02-29`).
const MAX_VALUE: usize = 24;

pub(super) fn find(text: &str, context: Context<'_>, hits: &mut Hits) {
    let b = text.as_bytes();
    if let Some(kind) = context.field.and_then(|f| key_kind(f.as_bytes(), f.len())) {
        let (start, end) = if kind == Kind::Phone {
            phone_at(b, 0)
        } else {
            value_at(b, 0)
        };
        if end == b.len() {
            check(kind, b, start, end, hits);
        }
    }
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let end = super::tokens::run_end(b, i, |c| c.is_ascii_alphanumeric());
        checked_without_key(b, i, end, hits);
        if b[end - 1].is_ascii_alphabetic() {
            if let Some(kind) = key_kind(b, end) {
                let (start, value_end) = if kind == Kind::Phone {
                    phone_at(b, end)
                } else {
                    value_at(b, end)
                };
                if value_end > start {
                    check(kind, b, start, value_end, hits);
                }
            }
        }
        i = end;
    }
}

/// The last two letters of every key, as bits of a 26×26 table: most words end in a pair no
/// key ends in, and are ruled out with one lookup.
static KEY_ENDINGS: [u32; 26] = {
    let mut table = [0u32; 26];
    let mut k = 0;
    while k < KEYS.len() {
        let words = KEYS[k].0;
        let last = words[words.len() - 1];
        let (x, y) = (last[last.len() - 2], last[last.len() - 1]);
        table[(x - b'a') as usize] |= 1 << (y - b'a');
        k += 1;
    }
    table
};

/// The kind of the key whose last word ends at `end`, if a key ends there.
fn key_kind(b: &[u8], end: usize) -> Option<Kind> {
    if end < 2 || !b[end - 2].is_ascii_alphabetic() || !b[end - 1].is_ascii_alphabetic() {
        return None;
    }
    let (x, y) = (
        b[end - 2].to_ascii_lowercase(),
        b[end - 1].to_ascii_lowercase(),
    );
    if KEY_ENDINGS[usize::from(x - b'a')] & (1 << (y - b'a')) == 0 {
        return None;
    }
    KEYS.iter()
        .find(|(words, _)| ends_with_words(b, end, words))
        .map(|&(_, kind)| kind)
}

/// Whether `words` end at `end`, joined by nothing, a space, `_`, `-` or `.`, and start a word.
fn ends_with_words(b: &[u8], end: usize, words: &[&[u8]]) -> bool {
    let mut pos = end;
    for (n, word) in words.iter().rev().enumerate() {
        if n > 0 && pos > 0 && matches!(b[pos - 1], b' ' | b'_' | b'-' | b'.') {
            pos -= 1;
        }
        if pos < word.len() || !b[pos - word.len()..pos].eq_ignore_ascii_case(word) {
            return false;
        }
        pos -= word.len();
    }
    // A word boundary: the text's start, a non-letter, or a camelCase capital.
    pos == 0
        || !b[pos - 1].is_ascii_alphanumeric()
        || (b[pos].is_ascii_uppercase() && b[pos - 1].is_ascii_lowercase())
}

/// The value after a key ending at `from`: separators, quotes and `Debug` wrappers skipped,
/// then letters and digits with single inner spaces, dashes, dots or slashes.
fn value_at(b: &[u8], from: usize) -> (usize, usize) {
    let mut i = from;
    let limit = (from + 16).min(b.len());
    while i < limit {
        match b[i] {
            b' ' | b'\t' | b':' | b'=' | b'>' | b'"' | b'\'' | b'\\' | b'#' | b'(' => i += 1,
            // `no.`, `Some(` and `String(` before the value.
            b'.' if i > 0 && b[i - 1].is_ascii_alphabetic() => i += 1,
            _ if b[i..].starts_with(b"Some(") => i += 5,
            _ if b[i..].starts_with(b"String(") => i += 7,
            _ => break,
        }
    }
    let start = i;
    let mut end = i;
    while end < b.len() && end - start < MAX_VALUE {
        let c = b[end];
        let joins = matches!(c, b' ' | b'-' | b'.' | b'/')
            && b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
            && (c != b' ' || continues_after_space(b, end + 1));
        if !(c.is_ascii_alphanumeric() || joins) {
            break;
        }
        end += 1;
    }
    (start, end)
}

/// A phone number after a key ending at `from`: digits with single spaces, dashes, dots and
/// one pair of parentheses around an area code, an optional leading `+`.
fn phone_at(b: &[u8], from: usize) -> (usize, usize) {
    let mut i = from;
    let limit = (from + 12).min(b.len());
    while i < limit
        && matches!(
            b[i],
            b' ' | b'\t' | b':' | b'=' | b'"' | b'\'' | b'\\' | b'#'
        )
    {
        i += 1;
    }
    if b[i..].starts_with(b"Some(") {
        i += 5;
        while matches!(b.get(i), Some(b'"' | b'\\')) {
            i += 1;
        }
    }
    let start = i;
    let mut end = i;
    let mut last_digit = i;
    while end < b.len() && end - start < 24 {
        let c = b[end];
        let ok = c.is_ascii_digit()
            || (matches!(c, b' ' | b'-' | b'.' | b'(' | b')')
                && !(c == b' ' && b.get(end + 1) == Some(&b' ')))
            || (c == b'+' && end == start);
        if !ok {
            break;
        }
        end += 1;
        if c.is_ascii_digit() {
            last_digit = end;
        }
    }
    if b.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return (start, start);
    }
    // `(202)` keeps its closing parenthesis; a trailing separator is not part of the number.
    let end = if b.get(last_digit) == Some(&b')') && b[start..last_digit].contains(&b'(') {
        last_digit + 1
    } else {
        last_digit
    };
    (start, end.max(start))
}

/// After a space inside a value, only digits, or a single letter ending it (`QQ 12 34 56 C`),
/// continue it: a word (`123456789 verified`) does not.
fn continues_after_space(b: &[u8], i: usize) -> bool {
    b[i].is_ascii_digit()
        || (b[i].is_ascii_alphabetic() && !b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric))
}

/// Validates the value `b[start..end]` as `kind` and records it.
fn check(kind: Kind, b: &[u8], start: usize, end: usize, hits: &mut Hits) {
    let value = &b[start..end];
    let mut buf = [0u8; MAX_VALUE];
    let mut n = 0;
    for &c in value {
        if c.is_ascii_alphanumeric() {
            buf[n] = c.to_ascii_uppercase();
            n += 1;
        }
    }
    let v = &buf[..n];
    let (detector, label) = match kind {
        Kind::UsSsn if is_ssn(v) => (Detector::UsSsn, "us_ssn"),
        Kind::UkNino if is_nino(v) => (Detector::NationalId, "uk_nino"),
        Kind::NlBsn if is_bsn(v) => (Detector::NationalId, "nl_bsn"),
        Kind::CaSin if is_sin(v) => (Detector::NationalId, "ca_sin"),
        Kind::Passport if is_passport(v) => (Detector::NationalId, "passport_number"),
        Kind::BirthDate if is_date(value) => (Detector::NationalId, "date_of_birth"),
        Kind::Phone if (7..=15).contains(&n) && digits(v) => (Detector::Phone, "phone"),
        _ => return,
    };
    hits.push_labelled(detector, label, start, end);
}

fn digits(v: &[u8]) -> bool {
    v.iter().all(u8::is_ascii_digit)
}

/// Nine digits that could have been issued (not area 000, 666 or 9xx, group 00, serial 0000).
fn is_ssn(v: &[u8]) -> bool {
    v.len() == 9
        && digits(v)
        && &v[..3] != b"000"
        && &v[..3] != b"666"
        && v[0] != b'9'
        && &v[3..5] != b"00"
        && &v[5..] != b"0000"
        // Published as examples (a wallet insert, an advertisement), used by many people.
        && v != b"078051120"
        && v != b"219099999"
}

/// Two prefix letters (not D, F, I, Q, U, V; the second not O; not BG, GB, KN, NK, NT, TN, ZZ),
/// six digits, and a suffix A to D (sometimes left out).
fn is_nino(v: &[u8]) -> bool {
    if !(8..=9).contains(&v.len()) || !digits(&v[2..8]) {
        return false;
    }
    let bad = |c: u8| matches!(c, b'D' | b'F' | b'I' | b'Q' | b'U' | b'V');
    let prefix = &v[..2];
    prefix.iter().all(u8::is_ascii_uppercase)
        && !bad(v[0])
        && !bad(v[1])
        && v[1] != b'O'
        && ![&b"BG"[..], b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"].contains(&prefix)
        && v.get(8).is_none_or(|c| (b'A'..=b'D').contains(c))
}

/// Nine digits (eight with a leading zero dropped) passing the 11-test:
/// 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11).
fn is_bsn(v: &[u8]) -> bool {
    if !(8..=9).contains(&v.len()) || !digits(v) {
        return false;
    }
    let mut padded = [b'0'; 9];
    padded[9 - v.len()..].copy_from_slice(v);
    let mut sum: i32 = 0;
    for (k, &c) in padded.iter().enumerate() {
        let d = i32::from(c - b'0');
        sum += if k == 8 { -d } else { (9 - k as i32) * d };
    }
    sum != 0 && sum % 11 == 0
}

/// Nine digits passing the Luhn check, not starting with 0 or 8 (never issued).
fn is_sin(v: &[u8]) -> bool {
    v.len() == 9 && digits(v) && v[0] != b'0' && v[0] != b'8' && luhn(v)
}

fn luhn(v: &[u8]) -> bool {
    let sum: u32 = v
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &c)| {
            let d = u32::from(c - b'0');
            if k % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Six to nine letters and digits, at least two of them digits (`C01X00T47`, `123456789`,
/// `X1234567`); a word after `passport` (`expired`, `verified`) has none.
fn is_passport(v: &[u8]) -> bool {
    (6..=9).contains(&v.len()) && v.iter().filter(|c| c.is_ascii_digit()).count() >= 2
}

/// A calendar date: `1980-02-29`, `1980/02/29`, `29/02/1980`, `02/29/1980`, `29.02.1980`.
fn is_date(value: &[u8]) -> bool {
    let mut parts = value.split(|&c| matches!(c, b'-' | b'/' | b'.'));
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let num = |p: &[u8]| -> Option<u32> {
        (!p.is_empty() && p.len() <= 4 && digits(p))
            .then(|| p.iter().fold(0, |n, &c| n * 10 + u32::from(c - b'0')))
    };
    let (Some(x), Some(y), Some(z)) = (num(a), num(b), num(c)) else {
        return false;
    };
    let day_month = |d: u32, m: u32| (1..=31).contains(&d) && (1..=12).contains(&m);
    let year = |y: u32, p: &[u8]| p.len() == 4 && (1900..=2100).contains(&y);
    (year(x, a) && day_month(z, y)) || (year(z, c) && (day_month(x, y) || day_month(y, x)))
}

/// Checked formats that need no key: a DNI or NIE (`12345678Z`, `X1234567L`, a dash before the
/// letter allowed) and a NIR (15 digits, or grouped `1 84 12 76 451 089 46`), the run of letters
/// and digits at `start..end` being where one may begin.
fn checked_without_key(b: &[u8], start: usize, end: usize, hits: &mut Hits) {
    if start > 0 && matches!(b[start - 1], b'.' | b'-' | b'_' | b'/' | b'+') {
        return;
    }
    // DNI: eight digits and the letter, glued or after a dash; NIE: X, Y or Z, seven digits and
    // the letter.
    let (digits_end, letter, letter_end) = match end - start {
        9 => (end - 1, b[end - 1], end),
        8 if b.get(end) == Some(&b'-') => (end, b.get(end + 1).copied().unwrap_or(0), end + 2),
        _ => (0, 0, 0),
    };
    if digits_end > 0 && letter.is_ascii_uppercase() {
        let free = !b.get(letter_end).is_some_and(u8::is_ascii_alphanumeric);
        let mut number = [0u8; 8];
        number.copy_from_slice(&b[start..digits_end]);
        let (is_nie, label) = match number[0] {
            b'X' | b'Y' | b'Z' => (true, "es_nie"),
            _ => (false, "es_dni"),
        };
        if is_nie {
            number[0] = b'0' + (number[0] - b'X');
        }
        if free && digits(&number) && dni_letter(&number) == Some(letter) {
            hits.push_labelled(Detector::NationalId, label, start, letter_end);
            return;
        }
    }
    if b[start].is_ascii_digit() {
        nir(b, start, hits);
    }
}

/// The check letter of a DNI number, or of a NIE whose initial X, Y or Z stands for 0, 1, 2.
fn dni_letter(number: &[u8]) -> Option<u8> {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let n = number.iter().try_fold(0u64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })?;
    Some(LETTERS[(n % 23) as usize])
}

/// A French NIR starting at `start`: sex 1 or 2, 15 digits whole or grouped by single spaces,
/// the last two 97 minus the first thirteen mod 97.
fn nir(b: &[u8], start: usize, hits: &mut Hits) {
    if !matches!(b[start], b'1' | b'2') {
        return;
    }
    let mut digits_seen = [0u8; 15];
    let mut n = 0;
    let mut i = start;
    while i < b.len() && n < 15 {
        if b[i].is_ascii_digit() {
            digits_seen[n] = b[i];
            n += 1;
            i += 1;
        } else if b[i] == b' ' && b.get(i + 1).is_some_and(u8::is_ascii_digit) && n > 0 {
            i += 1;
        } else {
            break;
        }
    }
    if n != 15 || b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
        return;
    }
    let month = u32::from(digits_seen[3] - b'0') * 10 + u32::from(digits_seen[4] - b'0');
    if !((1..=12).contains(&month) || (20..=99).contains(&month)) {
        return;
    }
    let body = digits_seen[..13]
        .iter()
        .fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'));
    let key = u64::from(digits_seen[13] - b'0') * 10 + u64::from(digits_seen[14] - b'0');
    if 97 - body % 97 == key {
        hits.push_labelled(Detector::NationalId, "fr_nir", start, i);
    }
}
