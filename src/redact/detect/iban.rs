//! International bank account numbers (ISO 13616): a country code, two check digits and the
//! country's basic bank account number, written whole or in blocks of four.
//!
//! Two letters and some digits are everywhere in logs (`DE22` is also a product code); a
//! candidate counts only when it has exactly its country's length and passes the mod-97 check,
//! which a random string passes about once in a hundred.

use super::engine::Hits;
use super::tokens::is_word_byte;
use super::Detector;

/// IBAN lengths by country (the SWIFT IBAN registry).
const LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

fn country_length(code: &[u8]) -> Option<usize> {
    LENGTHS
        .iter()
        .find(|(c, _)| c.as_slice() == code)
        .map(|&(_, len)| len)
}

/// Finds IBANs, whole (`DE89370400440532013000`) or in blocks of four separated by single
/// spaces or dashes (`DE89 3704 0044 0532 0130 00`, `de89-3704-…`), in either case.
pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 4 <= b.len() {
        // Lower case too (`de89 3704 …` typed into a form): the country's length and the
        // checksum decide, not the case.
        let starts = b[i].is_ascii_alphabetic()
            && b[i + 1].is_ascii_alphabetic()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && (i == 0 || !is_word_byte(b[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let code = [b[i].to_ascii_uppercase(), b[i + 1].to_ascii_uppercase()];
        let Some(len) = country_length(&code) else {
            i += 1;
            continue;
        };
        match candidate(b, i, len) {
            Some((end, chars)) if mod97(&chars[..len]) == 1 => {
                hits.push(Detector::Iban, i, end);
                i = end;
            }
            _ => i += 1,
        }
    }
}

/// The `len` characters of an IBAN starting at `start`, upper-cased, and where they end;
/// `None` when the text does not hold exactly that many standing alone. Written in blocks, every
/// block but the last has four characters and one separator follows each, and dashed blocks do
/// not run on past the IBAN's length: a UUID's groups (`ee856c6e-8d14-…`) are never an IBAN,
/// whatever the checksum of their first characters says.
fn candidate(b: &[u8], start: usize, len: usize) -> Option<(usize, [u8; 34])> {
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut i = start;
    // The separator of a blocked IBAN, decided after its first block: `Some(0)` for none.
    let mut sep: Option<u8> = None;
    while i < b.len() && n < len {
        let c = b[i];
        if c.is_ascii_alphanumeric() {
            let after_sep = i > start && matches!(b[i - 1], b' ' | b'-');
            if n > 0 && n % 4 == 0 && sep.is_some_and(|s| s != 0) && !after_sep {
                // A blocked IBAN missing a separator between two blocks.
                return None;
            }
            if n == 4 && sep.is_none() {
                sep = Some(0);
            }
            chars[n] = c.to_ascii_uppercase();
            n += 1;
            i += 1;
        } else if matches!(c, b' ' | b'-')
            && n % 4 == 0
            && n > 0
            && sep.is_none_or(|s| s == c)
            && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            sep = Some(c);
            i += 1;
        } else {
            break;
        }
    }
    let glued = b.get(i).is_some_and(|&c| is_word_byte(c));
    // Dashed groups running on past the IBAN's length are one longer token; after a space,
    // prose goes on (`… 0130 00 after 401`).
    let continued = sep == Some(b'-')
        && b.get(i) == Some(&b'-')
        && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric);
    (n == len && !glued && !continued).then_some((i, chars))
}

/// The ISO 7064 mod-97 remainder of an IBAN: the first four characters moved to the end,
/// letters as 10..35.
fn mod97(iban: &[u8]) -> u32 {
    let mut rem = 0u32;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ibans_pass_mod97() {
        for iban in [
            "DE89370400440532013000",
            "GB29NWBK60161331926819",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "NO9386011117947",
        ] {
            assert_eq!(mod97(iban.as_bytes()), 1, "{iban}");
            assert_eq!(country_length(&iban.as_bytes()[..2]), Some(iban.len()));
        }
        assert_ne!(mod97(b"DE89370400440532013001"), 1);
    }

    #[test]
    fn blocks_are_fours_with_one_separator_and_a_uuid_is_never_one() {
        let found = |t: &str| {
            let b = t.as_bytes();
            let len = country_length(&b[..2].to_ascii_uppercase()).unwrap();
            candidate(b, 0, len).is_some()
        };
        assert!(found("DE89370400440532013000"));
        assert!(found("DE89 3704 0044 0532 0130 00"));
        assert!(found("de89-3704-0044-0532-0130-00"));
        assert!(!found("DE89 3704-0044 0532 0130 00"), "mixed separators");
        assert!(!found("DE89 37040044 0532 0130 00"), "a block of eight");
        // The case the property test found: a UUID whose first 20 characters pass mod-97.
        assert!(!found("ee856c6e-8d14-46d1-98e1-aa0a00a0aaa0"));
        assert!(
            !found("ee85-6c6e-8d14-46d1-98e1-aa0a"),
            "more blocks than the IBAN has"
        );
    }
}
