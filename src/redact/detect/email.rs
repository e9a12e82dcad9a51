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

/// The length of the obfuscated `@` or `.` word at `i` (`[at]`, `(at)`, `{at}`, `<at>`, and the
/// same with `dot`), if one starts there.
fn obfuscated(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    let close = match b.get(i)? {
        b'[' => b']',
        b'(' => b')',
        b'{' => b'}',
        b'<' => b'>',
        _ => return None,
    };
    let inner = b.get(i + 1..i + 1 + word.len())?;
    (inner.eq_ignore_ascii_case(word) && b.get(i + 1 + word.len()) == Some(&close))
        .then_some(word.len() + 2)
}

/// Whether an obfuscated `@` (`[at]`, `(at)`, …) starts at `i`. A necessary condition used by
/// the prefilter.
pub(super) fn starts_obfuscated_at(b: &[u8], i: usize) -> bool {
    obfuscated(b, i, b"at").is_some()
}

/// Finds addresses written to fool harvesters, `alice [at] example [dot] com`,
/// `alice(at)example(dot)com`: a local part, a bracketed `at`, and labels joined by `.` or a
/// bracketed `dot`, ending in an alphabetic top-level label.
pub(super) fn find_obfuscated(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut from = 0;
    for open in memchr::memchr3_iter(b'[', b'(', b'{', b).chain(memchr::memchr_iter(b'<', b)) {
        if open < from {
            continue;
        }
        let Some(len) = obfuscated(b, open, b"at") else {
            continue;
        };
        let mut local_end = open;
        if local_end > 0 && b[local_end - 1] == b' ' {
            local_end -= 1;
        }
        let mut start = local_end;
        while start > 0 && local_end - start < MAX_LOCAL && is_local_byte(b[start - 1]) {
            start -= 1;
        }
        if start == local_end || (start > 0 && is_local_byte(b[start - 1])) {
            continue;
        }
        if let Some(end) = obfuscated_domain(b, open + len) {
            hits.push(Detector::Email, start, end);
            from = end;
        }
    }
}

/// The end of a domain after an obfuscated `@`: two labels or more, joined by `.` or a
/// bracketed `dot` with optional spaces around it.
fn obfuscated_domain(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let limit = (i + MAX_DOMAIN).min(b.len());
    let mut labels = 0;
    let mut end;
    loop {
        let label_start = i;
        while i < limit && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
        if i == label_start {
            return None;
        }
        labels += 1;
        end = i;
        let tld = &b[label_start..i];
        // The next separator: `.`, or ` [dot] ` with optional spaces.
        let mut j = i;
        if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric) {
            i = j + 1;
            continue;
        }
        if b.get(j) == Some(&b' ') {
            j += 1;
        }
        match obfuscated(b, j, b"dot") {
            Some(len) => {
                j += len;
                if b.get(j) == Some(&b' ') {
                    j += 1;
                }
                i = j;
            }
            None => {
                let ok = labels >= 2 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic);
                return ok.then_some(end);
            }
        }
    }
}
