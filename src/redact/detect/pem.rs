//! PEM private key blocks.

use memchr::memmem;

use super::engine::Hits;
use super::Detector;

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";
const PRIVATE_KEY: &[u8] = b"PRIVATE KEY";
/// Longer than any label in use (`ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`).
const MAX_LABEL: usize = 64;

/// The end of the label starting at `from` (the index of the closing dashes), if it is closed
/// within [`MAX_LABEL`] bytes.
fn label_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() && i - from <= MAX_LABEL {
        match b[i] {
            b'A'..=b'Z' | b'0'..=b'9' | b' ' => i += 1,
            b'-' => return b[i..].starts_with(DASHES).then_some(i),
            _ => return None,
        }
    }
    None
}

/// Finds the body of every `-----BEGIN … PRIVATE KEY-----` block: up to its `-----END` line, or
/// to the end of the text when the block was cut off. The BEGIN and END lines stay, so a
/// reader still sees that a key was logged.
pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let begin = memmem::Finder::new(BEGIN);
    let end = memmem::Finder::new(END);
    let mut from = 0;
    while let Some(offset) = begin.find(&b[from..]) {
        let start = from + offset;
        let label_start = start + BEGIN.len();
        from = label_start;
        let Some(label_end) = label_end(b, label_start) else {
            continue;
        };
        if !b[label_start..label_end]
            .windows(PRIVATE_KEY.len())
            .any(|w| w == PRIVATE_KEY)
        {
            continue;
        }
        let body_start = label_end + DASHES.len();
        let body_end = end
            .find(&b[body_start..])
            .map_or(b.len(), |e| body_start + e);
        hits.push(Detector::PrivateKey, body_start, body_end);
        // The END line is not secret; skipping the body is what keeps many BEGINs linear.
        from = body_end.max(from);
    }
}
