//! Running the triggered detectors and rewriting the text around their matches.

use std::borrow::Cow;

use super::{prefilter, Detector, DetectorSet};
use crate::redact::{write_partial, Action, Pseudonymizer, HASH_PREFIX};

/// The secret part of one match, as byte offsets into the scrubbed text.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hit {
    start: usize,
    end: usize,
    detector: Detector,
    /// The name written in a mask: the detector's, or a provider's (`stripe_key`).
    label: &'static str,
}

/// Collects the matches of one scrub, keeping only those of enabled detectors.
#[derive(Debug)]
pub(super) struct Hits {
    enabled: u32,
    list: Vec<Hit>,
}

impl Hits {
    fn new(enabled: u32) -> Self {
        Hits {
            enabled,
            list: Vec::new(),
        }
    }

    /// Whether `detector` is on, for detectors that can fall back to a more general one.
    pub(super) fn wants(&self, detector: Detector) -> bool {
        self.enabled & detector.bit() != 0
    }

    pub(super) fn push(&mut self, detector: Detector, start: usize, end: usize) {
        self.push_labelled(detector, detector.name(), start, end);
    }

    /// Records a match masked as `[REDACTED:<label>]` rather than with the detector's name.
    pub(super) fn push_labelled(
        &mut self,
        detector: Detector,
        label: &'static str,
        start: usize,
        end: usize,
    ) {
        if end > start && self.wants(detector) {
            self.list.push(Hit {
                start,
                end,
                detector,
                label,
            });
        }
    }
}

/// What the text being scrubbed is, beyond its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Context<'a> {
    /// The name of the field the text is the value of, if known.
    pub(super) field: Option<&'a str>,
}

pub(super) fn scrub<'a>(
    set: &DetectorSet,
    text: &'a str,
    context: Context<'_>,
    hasher: Option<&Pseudonymizer>,
) -> Cow<'a, str> {
    if set.triggers == 0 || text.is_empty() {
        return Cow::Borrowed(text);
    }
    let found = prefilter::scan(text.as_bytes());
    let wanted = found & set.triggers;
    if wanted == 0 && found & prefilter::ENCODED == 0 {
        return Cow::Borrowed(text);
    }
    let mut hits = Hits::new(set.enabled);
    if wanted != 0 {
        run(wanted, text, context, &mut hits);
    }
    if found & prefilter::ENCODED != 0 {
        // Escapes, percent-encoding, full-width forms and look-alike letters can split or
        // disguise a secret: scan a decoded copy too and map its matches back to the original
        // bytes, which are what gets replaced.
        if let Some(decoded) = super::normalize::decode(text) {
            let wanted = prefilter::scan(decoded.text.as_bytes()) & set.triggers;
            if wanted != 0 {
                let mut inner = Hits::new(set.enabled);
                run(wanted, &decoded.text, context, &mut inner);
                for hit in inner.list {
                    let (start, end) = decoded.original(hit.start, hit.end);
                    hits.push_labelled(hit.detector, hit.label, start, end);
                }
            }
        }
    }
    if hits.list.is_empty() {
        return Cow::Borrowed(text);
    }
    rewrite(set, text, hits.list, hasher)
}

/// Runs the detectors whose triggers are in `wanted`.
fn run(wanted: u32, text: &str, context: Context<'_>, hits: &mut Hits) {
    if wanted & prefilter::PEM != 0 {
        super::pem::find(text, hits);
    }
    if wanted & (prefilter::JWT | prefilter::PROVIDER) != 0 {
        super::tokens::find_jwts(text, hits);
    }
    if wanted & prefilter::GITHUB != 0 {
        super::tokens::find_github_tokens(text, hits);
    }
    if wanted & prefilter::SLACK != 0 {
        super::tokens::find_slack_tokens(text, hits);
    }
    if wanted & prefilter::AWS_ID != 0 {
        super::tokens::find_aws_key_ids(text, hits);
    }
    if wanted & prefilter::PROVIDER != 0 {
        super::providers::find(text, hits);
        super::providers::find_shaped(text, hits);
    }
    if wanted & prefilter::SEPARATOR != 0 {
        super::keyword::find(text, hits);
    }
    if wanted & (prefilter::CMDLINE | prefilter::SEPARATOR) != 0 {
        super::cmdline::find(text, hits);
    }
    if wanted & prefilter::AUTH_SCHEME != 0 {
        super::auth::find_standalone(text, hits);
    }
    if wanted & prefilter::URL != 0 {
        super::url::find(text, hits);
    }
    if wanted & prefilter::NUMBERS != 0 {
        super::numbers::find(text, context, hits);
    }
    if wanted & prefilter::NATIONAL != 0 {
        super::national::find(text, context, hits);
    }
    if wanted & prefilter::IBAN != 0 {
        super::iban::find(text, hits);
    }
    if wanted & prefilter::EMAIL != 0 {
        super::email::find(text, hits);
        super::email::find_obfuscated(text, hits);
    }
    if wanted & prefilter::PHONE != 0 {
        super::phone::find(text, hits);
    }
    if wanted & prefilter::IPV4 != 0 {
        super::ip::find_v4(text, hits);
    }
    if wanted & prefilter::IPV6 != 0 {
        super::ip::find_v6(text, hits);
    }
}

/// Writes `text` with every matched region replaced.
///
/// Overlapping matches merge into one region, named by the most specific detector among them:
/// replacing only one of two overlapping matches would leave part of the other in the output.
fn rewrite<'a>(
    set: &DetectorSet,
    text: &'a str,
    mut list: Vec<Hit>,
    hasher: Option<&Pseudonymizer>,
) -> Cow<'a, str> {
    list.sort_unstable_by_key(|h| h.start);
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < list.len() {
        let mut start = list[i].start;
        let mut end = list[i].end;
        let mut detector = list[i].detector;
        let mut label = list[i].label;
        i += 1;
        while i < list.len() && list[i].start < end {
            end = end.max(list[i].end);
            if list[i].detector.rank() < detector.rank() {
                detector = list[i].detector;
                label = list[i].label;
            }
            i += 1;
        }
        // Detectors only stop at ASCII bytes, so this widening is a safety net that keeps a
        // slicing mistake from ever panicking in the logging path.
        start = start.min(text.len());
        end = end.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        if start < copied {
            start = copied;
        }
        if start >= end {
            continue;
        }
        let secret = &text[start..end];
        // A partial form's kept tail can look like a secret of its own (`*::AA` holds an IPv6
        // address), so the stars before a match count as part of it.
        let stars = text[copied..start]
            .bytes()
            .rev()
            .take_while(|&c| c == b'*')
            .count();
        if is_redaction_output(secret)
            || (stars > 0 && is_redaction_output(&text[start - stars..end]))
        {
            continue;
        }
        let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 32));
        out.push_str(&text[copied..start]);
        write_replacement(set.action(detector), label, secret, hasher, out);
        copied = end;
    }
    match out {
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(text),
    }
}

fn write_replacement(
    action: Action,
    label: &str,
    secret: &str,
    hasher: Option<&Pseudonymizer>,
    out: &mut String,
) {
    match (action, hasher) {
        (Action::Drop, _) => {}
        (Action::Partial, _) => write_partial(secret, out),
        (Action::Hash, Some(hasher)) => hasher.write_pseudonym(secret.as_bytes(), out),
        // `Keep` never reaches here (its detector does not run); masking is the safe reading of
        // any action this match does not know.
        _ => {
            out.push_str("[REDACTED:");
            out.push_str(label);
            out.push(']');
        }
    }
}

/// The length of the `hmac-sha256:<64 hex>` pseudonym `b` starts with, if it starts with one.
pub(super) fn pseudonym_len(b: &[u8]) -> Option<usize> {
    let hex = b.strip_prefix(HASH_PREFIX.as_bytes())?;
    let len = HASH_PREFIX.len() + 64;
    (hex.len() >= 64
        && hex[..64]
            .iter()
            .all(|&c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
    .then_some(len)
}

/// Whether `s` is what an earlier scrub wrote: re-redacting it would only replace a pseudonym
/// by a pseudonym of a pseudonym, and break joins on it.
fn is_redaction_output(s: &str) -> bool {
    let b = s.as_bytes();
    // `[REDACTED]` or `[REDACTED:<name>]`, nothing more: a mask around other text is not a mask.
    if let Some(rest) = s.strip_prefix("[REDACTED") {
        if rest == "]" {
            return true;
        }
        if let Some(name) = rest.strip_prefix(':').and_then(|r| r.strip_suffix(']')) {
            return !name.is_empty() && name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_');
        }
    }
    if pseudonym_len(b) == Some(b.len()) {
        return true;
    }
    // The partial form: stars, then at most the four characters it kept.
    // Partial writes stars only for values longer than four characters.
    let stars = b.iter().take_while(|&&c| c == b'*').count();
    let kept = &s[stars..];
    let kept_chars = kept.chars().count();
    stars > 0 && stars + kept_chars > 4 && kept_chars <= 4 && !kept.contains('*')
}
