//! Which characters never reach a reader raw, and how a string from a trail is shown to a human.
//!
//! Anyone who can write a file in the trail directory chooses the bytes of a debug line, of a
//! forged line, and of a file name. Shown raw, those bytes can move a terminal's cursor, erase
//! a line, set the window title, draw a fake `OK` (ESC and C1 sequences, CR), or make text read
//! in another order than it is stored (bidi overrides such as U+202E) or hide part of it
//! (zero-width and other format characters). One predicate, [`is_hidden`], says which
//! characters those are; the JSON writer escapes exactly them (plus what JSON itself requires),
//! and every human view shows them through [`Visible`]. Keeping one definition is what makes
//! "the CLI escapes what the writer escapes" true by construction.

use std::fmt::{self, Write};
use std::path::Path;

/// Whether `c` must never be shown raw: C0 and C1 controls, DEL, the line and paragraph
/// separators U+2028/U+2029, and every character that is invisible or changes how the text
/// around it is ordered or drawn: Unicode category Cf (bidi controls U+061C, U+200E/F,
/// U+202A..U+202E, U+2066..U+2069; zero-width characters; U+FEFF; tags) and the other
/// default-ignorable code points (variation selectors, Hangul fillers, U+034F, ...).
pub fn is_hidden(c: char) -> bool {
    let u = u32::from(c);
    if u < 0x20 || (0x7f..=0x9f).contains(&u) {
        return true;
    }
    if u < 0xad {
        return false;
    }
    matches!(
        u,
        0xad
            | 0x34f
            | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x890..=0x891
            | 0x8e2
            | 0x115f..=0x1160
            | 0x17b4..=0x17b5
            | 0x180b..=0x180f
            | 0x200b..=0x200f
            | 0x2028..=0x202e
            | 0x2060..=0x206f
            | 0x3164
            | 0xfe00..=0xfe0f
            | 0xfeff
            | 0xffa0
            | 0xfff0..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x1343f
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0xe0000..=0xe0fff
    )
}

/// Whether a UTF-8 sequence starting with byte `b` may encode a [hidden](is_hidden) character.
/// Lets a scanner skip every other non-ASCII character without decoding it.
pub(crate) const fn may_start_hidden(b: u8) -> bool {
    matches!(
        b,
        0xc2 | 0xcd | 0xd8 | 0xdb | 0xdc | 0xe0 | 0xe1 | 0xe2 | 0xe3 | 0xef | 0xf0 | 0xf3
    )
}

/// A string from a trail or a file name, shown so that every [hidden](is_hidden) character is
/// visible as an escape (`\u{1b}`, `\u{202e}`) and every byte that is not UTF-8 as `\xNN`.
/// Everything else is shown as it is. Honours width and alignment (`{:<20}`).
///
/// ```
/// use tracing_audit::trail::Visible;
///
/// let name = "audit.torn.partial\u{1b}[2K\rOK: 8 records";
/// assert_eq!(
///     Visible::str(name).to_string(),
///     "audit.torn.partial\\u{1b}[2K\\u{d}OK: 8 records"
/// );
/// assert_eq!(Visible::str("ab\u{202e}cd").to_string(), "ab\\u{202e}cd");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Visible<'a>(&'a [u8]);

impl<'a> Visible<'a> {
    /// Text.
    pub fn str(s: &'a str) -> Self {
        Visible(s.as_bytes())
    }

    /// Bytes that should be text (a line, a file name); invalid UTF-8 is shown as `\xNN`.
    pub fn bytes(b: &'a [u8]) -> Self {
        Visible(b)
    }

    /// A path: its bytes as the system stores them, so a name that is not UTF-8 is shown
    /// escaped rather than replaced.
    pub fn path(p: &'a Path) -> Self {
        Visible(p.as_os_str().as_encoded_bytes())
    }

    fn write(&self, f: &mut impl Write) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            let valid = chunk.valid();
            let mut plain = 0;
            for (i, c) in valid.char_indices() {
                if is_hidden(c) {
                    f.write_str(&valid[plain..i])?;
                    write!(f, "\\u{{{:x}}}", u32::from(c))?;
                    plain = i + c.len_utf8();
                }
            }
            f.write_str(&valid[plain..])?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Visible<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() {
            return self.write(f);
        }
        let mut s = String::with_capacity(self.0.len());
        self.write(&mut s)?;
        f.pad(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_and_bidi_controls_become_visible_escapes() {
        let s = "a\u{1b}]0;t\u{7}\u{1b}[2K\r\u{9b}\u{7f}\u{202e}\u{2028}\u{200b}\u{feff}\u{e0041}b";
        let v = Visible::str(s).to_string();
        assert_eq!(
            v,
            "a\\u{1b}]0;t\\u{7}\\u{1b}[2K\\u{d}\\u{9b}\\u{7f}\\u{202e}\\u{2028}\\u{200b}\\u{feff}\\u{e0041}b"
        );
        assert!(v.chars().all(|c| !is_hidden(c)));
    }

    #[test]
    fn ordinary_text_is_shown_as_it_is() {
        for s in [
            "héllo ✓ 日本 Привет",
            "a\u{a0}b",
            "עברית",
            "\u{2030}\u{20ac}",
        ] {
            assert_eq!(Visible::str(s).to_string(), s);
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_as_hex() {
        let v = Visible::bytes(b"a\xff\x1bb\xc3").to_string();
        assert_eq!(v, "a\\xff\\u{1b}b\\xc3");
    }

    #[test]
    fn width_pads_the_escaped_form() {
        assert_eq!(format!("[{:<6}]", Visible::str("a\u{1b}")), "[a\\u{1b}]");
        assert_eq!(format!("[{:<4}]", Visible::str("ab")), "[ab  ]");
    }

    #[test]
    fn every_hidden_character_starts_with_a_flagged_byte() {
        let mut buf = [0; 4];
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            if is_hidden(c) && !c.is_ascii() {
                let lead = c.encode_utf8(&mut buf).as_bytes()[0];
                assert!(may_start_hidden(lead), "{c:?}");
            }
        }
    }

    #[test]
    fn all_controls_and_the_named_format_characters_are_hidden() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            if c.is_control() {
                assert!(is_hidden(c), "{c:?}");
            }
        }
        for c in [
            '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}',
            '\u{2028}', '\u{2029}', '\u{200b}', '\u{200d}', '\u{2060}', '\u{feff}', '\u{ad}',
        ] {
            assert!(is_hidden(c), "{c:?}");
        }
    }
}
