//! E-mail addresses.

use super::engine::Hits;
use super::Detector;

/// RFC 5321's limit on the local part.
const MAX_LOCAL: usize = 64;
/// RFC 1035's limit on a domain name.
const MAX_DOMAIN: usize = 253;

/// The local-part bytes addresses use in practice. RFC 5322 allows more (`=`, `/`, `{`), but
/// those join `key=alice@example.com` into one address in logs.
pub(super) fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Domain bytes: letters, digits, `-`, `.`, `_` (found in real host names, though not in the
/// hostname grammar) and the bytes of internationalised labels.
fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') || b >= 0x80
}

/// File extensions that a `name@2x.png` asset reference ends in; no top-level domain is one of
/// them.
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"bmp", b"avif", b"css", b"js",
    b"mjs", b"map", b"json", b"html", b"htm", b"txt", b"pdf", b"woff", b"woff2", b"ttf", b"mp4",
    b"webm", b"wasm", b"rs", b"toml", b"yaml", b"yml", b"lock", b"tgz", b"gz",
];

/// The end of a valid domain starting at `from`: dot-separated labels of letters, digits and
/// inner dashes, ending in an alphabetic top-level label of two letters or more.
fn domain_end(b: &[u8], from: usize) -> Option<usize> {
    let mut end = from;
    while end < b.len() && is_domain_byte(b[end]) {
        end += 1;
        if end - from > MAX_DOMAIN {
            return None;
        }
    }
    // A dot or dash after the domain ends the sentence, not the address.
    while end > from && matches!(b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    // Non-ASCII punctuation after an ASCII top-level label (`example.com’s`, `…com。`) is not
    // part of it.
    let last_dot = b[from..end]
        .iter()
        .rposition(|&c| c == b'.')
        .map_or(from, |d| from + d + 1);
    if b[last_dot..end]
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
    {
        if let Some(cut) = b[last_dot..end].iter().position(|&c| c >= 0x80) {
            end = last_dot + cut;
        }
    }
    let domain = &b[from..end];
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&c| c == b'.') {
        if label.is_empty()
            || label.len() > 63
            || label[0] == b'-'
            || label[label.len() - 1] == b'-'
        {
            return None;
        }
        labels += 1;
        last = label;
    }
    // An internationalised top-level label (`.рф`, `.xn--p1ai`) counts as alphabetic.
    let tld_ok = labels >= 2
        && last.len() >= 2
        && (last.iter().all(u8::is_ascii_alphabetic)
            || last.starts_with(b"xn--")
            || last.iter().all(|&c| c >= 0x80));
    // `logo@2x.png`: a resolution suffix and a file extension, not a host.
    (tld_ok && !FILE_EXTENSIONS.iter().any(|e| last.eq_ignore_ascii_case(e))).then_some(end)
}

/// `end` moved forward to a character boundary (a domain may end inside a non-ASCII label).
fn char_end(text: &str, mut end: usize) -> usize {
    while end < text.len() && !text.is_char_boundary(end) {
        end += 1;
    }
    end
}

/// Finds e-mail addresses `local@domain.tld`.
///
/// In a URL, only a user name that is an address counts (`https://alice@example.com@host`); an
/// `@` ending a password (`https://u:p@host`) is left to the URL detector, which replaces only
/// the password.
pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut from = 0;
    let mut urls = super::url::Authorities::new(b);
    for at in memchr::memchr_iter(b'@', b) {
        if at < from {
            continue;
        }
        let mut start = at;
        while start > 0 && at - start < MAX_LOCAL && is_local_byte(b[start - 1]) {
            start -= 1;
        }
        if start > 0 && is_local_byte(b[start - 1]) {
            continue;
        }
        while start < at && b[start] == b'.' {
            start += 1;
        }
        if start == at {
            continue;
        }
        if urls
            .start_of(at)
            .is_some_and(|authority| authority != start)
        {
            // The end of a URL password (`https://user:pass@host`), not an address.
            continue;
        }
        let Some(end) = domain_end(b, at + 1) else {
            continue;
        };
        // `git@github.com:org/repo.git`: the account every SSH remote uses, not a person.
        let local = &b[start..at];
        let remote = b.get(end) == Some(&b':')
            && b.get(end + 1)
                .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'/' || c == b'~');
        if local == b"git" || remote {
            from = end;
            continue;
        }
        let end = char_end(text, end);
        hits.push(Detector::Email, start, end);
        from = end;
    }
}
