//! Passwords in the user info of URLs.

use memchr::memmem;

use super::engine::Hits;
use super::Detector;

/// Longer schemes exist only in theory; the bound keeps the backward scan constant.
const MAX_SCHEME: usize = 32;

fn is_scheme_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// Bytes that end a URL's authority (RFC 3986 delimiters, and what ends a URL in prose).
fn ends_authority(b: u8) -> bool {
    matches!(
        b,
        b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\' | b'{' | b'}' | b'|'
    ) || b.is_ascii_whitespace()
        || b.is_ascii_control()
}

/// The authorities of the URLs in a text, in order, each found once.
#[derive(Debug)]
pub(super) struct Authorities<'a> {
    b: &'a [u8],
    finder: memmem::Finder<'static>,
    from: usize,
    current: std::ops::Range<usize>,
}

impl<'a> Authorities<'a> {
    pub(super) fn new(b: &'a [u8]) -> Self {
        Authorities {
            b,
            finder: memmem::Finder::new(b"://"),
            from: 0,
            current: 0..0,
        }
    }

    /// Where the URL authority (`scheme://` up to the path) containing `pos` starts, if `pos`
    /// lies in one. Positions must be asked in increasing order, which lets every authority be
    /// scanned only once.
    pub(super) fn start_of(&mut self, pos: usize) -> Option<usize> {
        while self.current.end <= pos {
            let Some(offset) = self.finder.find(&self.b[self.from..]) else {
                self.current = self.b.len()..self.b.len();
                return None;
            };
            let start = self.from + offset + 3;
            let end = authority_end(self.b, start);
            self.current = start..end.max(start + 1);
            self.from = end.max(start);
        }
        self.current.contains(&pos).then_some(self.current.start)
    }
}

fn authority_end(b: &[u8], from: usize) -> usize {
    let mut end = from;
    while end < b.len() && !ends_authority(b[end]) {
        end += 1;
    }
    end
}

/// Finds the password of `scheme://user:password@host` URLs: everything between the first `:`
/// of the user info and the last `@` of the authority.
pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let finder = memmem::Finder::new(b"://");
    let mut from = 0;
    while let Some(offset) = finder.find(&b[from..]) {
        let colon = from + offset;
        let authority = colon + 3;
        from = authority;
        let mut scheme = colon;
        while scheme > 0 && colon - scheme < MAX_SCHEME && is_scheme_byte(b[scheme - 1]) {
            scheme -= 1;
        }
        if scheme == colon || !b[scheme].is_ascii_alphabetic() {
            continue;
        }
        let end = authority_end(b, authority);
        from = end.max(from);
        let Some(at) = memchr::memrchr(b'@', &b[authority..end]).map(|at| authority + at) else {
            continue;
        };
        let Some(sep) = memchr::memchr(b':', &b[authority..at]) else {
            continue;
        };
        hits.push(Detector::UrlPassword, authority + sep + 1, at);
    }
}
