//! A decoded copy of a text, for the detectors, with a map back to the original bytes.
//!
//! Secrets arrive escaped (`\u0041KIA…` in a JSON string, `https:\/\/u:p@host`), percent-encoded
//! (`password%3Dhunter2`), in full-width forms (`ｐａｓｓｗｏｒｄ`, `４１１１…`), with
//! non-breaking spaces between card blocks, or with Cyrillic and Greek letters that look like
//! Latin ones in their keyword. The detectors scan the decoded copy; each match is mapped back
//! to the original bytes it came from, and those are replaced, so the output keeps its form.

/// The decoded text, and for every byte of it, the original range it came from.
#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) text: String,
    /// `spans[i]` is the original range (start, end) of the character decoded byte `i` is part of.
    spans: Vec<(u32, u32)>,
}

impl Decoded {
    /// The original range covering decoded bytes `start..end`.
    pub(super) fn original(&self, start: usize, end: usize) -> (usize, usize) {
        let last = self.spans.len().saturating_sub(1);
        let from = self.spans.get(start.min(last)).map_or(0, |s| s.0);
        let to = self
            .spans
            .get(end.saturating_sub(1).min(last))
            .map_or(0, |s| s.1);
        (from as usize, (to as usize).max(from as usize))
    }

    fn push(&mut self, c: char, from: usize, to: usize) {
        let mut buf = [0u8; 4];
        let s = c.encode_utf8(&mut buf);
        self.text.push_str(s);
        for _ in 0..s.len() {
            self.spans.push((from as u32, to as u32));
        }
    }
}

/// Texts longer than this are scanned only as they are: the offsets of the map are 32-bit, and
/// a record field is capped far below it anyway.
const MAX_DECODED: usize = 1 << 30;

/// Whether the byte at `i` of `b` starts something [`decode`] would change. A necessary
/// condition used by the prefilter.
pub(super) fn starts_encoding(b: &[u8], i: usize) -> bool {
    let at = |k: usize| b.get(k).copied().unwrap_or(0);
    match b[i] {
        b'\\' => matches!(at(i + 1), b'u' | b'/' | b'U' | b'\\' | b'n' | b't' | b'r'),
        b'%' => at(i + 1).is_ascii_hexdigit() && at(i + 2).is_ascii_hexdigit(),
        c => c >= 0x80,
    }
}

/// Decodes `text`, or returns `None` when nothing in it changes.
pub(super) fn decode(text: &str) -> Option<Decoded> {
    if text.len() > MAX_DECODED {
        return None;
    }
    let b = text.as_bytes();
    let mut out = Decoded {
        text: String::with_capacity(text.len()),
        spans: Vec::with_capacity(text.len()),
    };
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            // Escaped once or more (a `Debug` rendering of a JSON string escapes the escape).
            let run = b[i..].iter().take(8).take_while(|&&c| c == b'\\').count();
            let last = i + run - 1;
            if let Some((ch, len)) = unicode_escape(b, last) {
                out.push(ch, i, last + len);
                i = last + len;
                changed = true;
                continue;
            }
            // `\/`, and the line breaks and tabs of a `?`-logged multi-line string: `\n` is a
            // boundary, and read as the letter `n` it would glue the token after it to a word.
            let plain = match b.get(last + 1) {
                Some(b'/') => Some('/'),
                Some(b'n') => Some('\n'),
                Some(b't') => Some('\t'),
                Some(b'r') => Some('\r'),
                _ => None,
            };
            if let Some(ch) = plain {
                out.push(ch, i, last + 2);
                i = last + 2;
                changed = true;
                continue;
            }
            // A run that escapes nothing decoded here is copied whole.
            for k in i..=last {
                out.push('\\', k, k + 1);
            }
            i = last + 1;
            continue;
        }
        if c == b'%' {
            if let Some((s, len)) = percent_run(b, i) {
                for ch in s.chars() {
                    out.push(ch, i, i + len);
                }
                i += len;
                changed = true;
                continue;
            }
        }
        if c < 0x80 {
            out.push(c as char, i, i + 1);
            i += 1;
            continue;
        }
        // Non-ASCII: `text` is UTF-8, so a character starts here.
        let Some(ch) = text[i..].chars().next() else {
            break;
        };
        let len = ch.len_utf8();
        match fold(ch) {
            Fold::Keep => out.push(ch, i, i + len),
            Fold::To(ascii) => {
                out.push(ascii, i, i + len);
                changed = true;
            }
            Fold::Remove => changed = true,
        }
        i += len;
    }
    changed.then_some(out)
}

/// `\uXXXX` (with a following low surrogate when XXXX is a high one) or `\UXXXXXXXX`, decoded,
/// and the length of the escape. Control characters are not decoded: they carry no secret.
fn unicode_escape(b: &[u8], i: usize) -> Option<(char, usize)> {
    let hex = |from: usize, n: usize| -> Option<u32> {
        let digits = b.get(from..from + n)?;
        let s = std::str::from_utf8(digits).ok()?;
        u32::from_str_radix(s, 16)
            .ok()
            .filter(|_| digits.iter().all(u8::is_ascii_hexdigit))
    };
    let (code, len) = match b.get(i + 1) {
        Some(b'u') => {
            let high = hex(i + 2, 4)?;
            if (0xd800..0xdc00).contains(&high) {
                if b.get(i + 6) != Some(&b'\\') || b.get(i + 7) != Some(&b'u') {
                    return None;
                }
                let low = hex(i + 8, 4)?;
                if !(0xdc00..0xe000).contains(&low) {
                    return None;
                }
                (0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00), 12)
            } else {
                (high, 6)
            }
        }
        Some(b'U') => (hex(i + 2, 8)?, 10),
        _ => return None,
    };
    let ch = char::from_u32(code)?;
    (!ch.is_control()).then_some((ch, len))
}

/// A run of `%XX` escapes starting at `i` that decodes to printable UTF-8, and its length.
fn percent_run(b: &[u8], i: usize) -> Option<(String, usize)> {
    let mut bytes = Vec::new();
    let mut j = i;
    while b.get(j) == Some(&b'%')
        && b.get(j + 1).is_some_and(u8::is_ascii_hexdigit)
        && b.get(j + 2).is_some_and(u8::is_ascii_hexdigit)
        && bytes.len() < 64
    {
        let hi = (b[j + 1] as char).to_digit(16)?;
        let lo = (b[j + 2] as char).to_digit(16)?;
        bytes.push((hi * 16 + lo) as u8);
        j += 3;
    }
    let s = String::from_utf8(bytes).ok()?;
    (!s.is_empty() && !s.chars().any(char::is_control)).then_some((s, j - i))
}

enum Fold {
    Keep,
    To(char),
    Remove,
}

/// Full-width ASCII, unusual spaces, invisible characters and the Cyrillic and Greek letters
/// that look like Latin ones.
fn fold(c: char) -> Fold {
    let code = c as u32;
    if (0xff01..=0xff5e).contains(&code) {
        return char::from_u32(code - 0xfee0).map_or(Fold::Keep, Fold::To);
    }
    match c {
        '\u{a0}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => Fold::To(' '),
        '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{ad}' => Fold::Remove,
        '\u{2010}'..='\u{2012}' | '\u{2212}' => Fold::To('-'),
        _ => match homoglyph(c) {
            Some(latin) => Fold::To(latin),
            None => Fold::Keep,
        },
    }
}

fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic.
        'а' => 'a',
        'в' => 'b',
        'е' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' => 'i',
        'ј' => 'j',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'һ' => 'h',
        'ӏ' => 'l',
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'Х' => 'X',
        'Ѕ' => 'S',
        'І' => 'I',
        'Ј' => 'J',
        'Ү' => 'Y',
        // Greek.
        'α' => 'a',
        'ο' => 'o',
        'ρ' => 'p',
        'ν' => 'v',
        'τ' => 't',
        'ι' => 'i',
        'κ' => 'k',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> String {
        decode(s).map_or_else(|| s.to_owned(), |d| d.text)
    }

    #[test]
    fn decodes_escapes_and_folds_look_alikes() {
        assert_eq!(dec(r"AK\u0049A"), "AKIA");
        assert_eq!(dec(r"https:\/\/h"), "https://h");
        assert_eq!(dec(r"AK\\u0049A"), "AKIA");
        assert_eq!(dec("password%3Dx%20y"), "password=x y");
        assert_eq!(dec("ｐａｓｓ"), "pass");
        assert_eq!(dec("раssword"), "password");
        assert_eq!(dec("4111\u{a0}1111"), "4111 1111");
        assert_eq!(dec(r"\ud83d\ude00"), "😀");
        assert!(decode("plain ascii").is_none());
        assert!(decode("100% sure %zz").is_none());
    }

    #[test]
    fn maps_back_to_original_bytes() {
        let s = r"id AK\u0049AXYZ end";
        let d = decode(s).unwrap();
        let start = d.text.find("AKIA").unwrap();
        let (a, b) = d.original(start, start + 7);
        assert_eq!(&s[a..b], r"AK\u0049AXYZ");
    }
}
