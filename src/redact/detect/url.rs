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

/// Finds the password of `scheme://user:password@host` URLs (everything between the first `:`
/// of the user info and the last `@` of the authority, or, when the password holds a `/`, `?`
/// or `#`, the `@` that ends it further on) and the secret paths of webhook URLs.
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
        let at = memchr::memrchr(b'@', &b[authority..end]).map(|at| authority + at);
        let host = at.map_or(authority, |at| at + 1);
        let host_end = host + memchr::memchr(b':', &b[host..end]).unwrap_or(end - host);
        super::providers::webhook(b, host, host_end.max(host), hits);
        match at {
            Some(at) => {
                if let Some(sep) = memchr::memchr(b':', &b[authority..at]) {
                    // `postgres://app:***@db`, `://u:${DB_PASSWORD}@h`: already masked, or a
                    // reference to the password rather than the password.
                    if !super::keyword::is_placeholder(&b[authority + sep + 1..at]) {
                        hits.push(Detector::UrlPassword, authority + sep + 1, at);
                    }
                }
            }
            None => {
                if let Some(at) = password_with_delimiters(b, authority, end) {
                    let sep = authority + memchr::memchr(b':', &b[authority..end]).unwrap_or(0);
                    hits.push(Detector::UrlPassword, sep + 1, at);
                    from = from.max(at);
                }
            }
        }
    }
}

/// A password holding `/`, `?` or `#`: the authority `user:pa` ends early at one of them, and
/// the `@` ending the password follows before the URL does. Returns that `@`.
fn password_with_delimiters(b: &[u8], authority: usize, end: usize) -> Option<usize> {
    let sep = authority + memchr::memchr(b':', &b[authority..end])?;
    let user = &b[authority..sep];
    if user.is_empty()
        || !user
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'%' | b'+'))
    {
        return None;
    }
    // `host:8080/path`: a port, not a password.
    let head = &b[sep + 1..end];
    if head.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !matches!(b.get(end), Some(b'/' | b'?' | b'#')) {
        return None;
    }
    let mut i = end;
    while i < b.len() && i - sep <= 128 {
        match b[i] {
            b'@' => {
                return b
                    .get(i + 1)
                    .is_some_and(u8::is_ascii_alphanumeric)
                    .then_some(i)
            }
            c if c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>') => return None,
            _ => i += 1,
        }
    }
    None
}
