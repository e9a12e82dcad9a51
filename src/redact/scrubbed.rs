//! Redaction for the output of other layers: a `MakeWriter` that scrubs what it is given.
//!
//! A `Layer` cannot change what its siblings see, so a console `fmt::layer()` next to the
//! [`AuditLayer`](crate::layer::AuditLayer) prints every secret the audit and debug streams remove.
//! [`scrubbed`] wraps that layer's writer instead: it receives the formatted text and applies
//! the crate's redaction to it before passing it on.
//!
//! # What it catches, compared with the layer's own redaction
//!
//! The layer redacts *values*, knowing each field's name and type before it is formatted. The
//! writer sees only finished text, so:
//!
//! - **Free text: the same.** The [`DetectorSet`] runs over the whole formatted event (message,
//!   `Display` and `Debug` renderings, error source chains, span fields): JWTs, bearer and basic
//!   credentials, cloud and chat tokens, private keys (a whole PEM block: an event is scrubbed
//!   as one text, not line by line), URL passwords, `password=…` style secrets, card numbers,
//!   e-mail and IP addresses.
//! - **Field names: only where the format shows them.** [`FieldRules`] are applied to
//!   `name=value` (fmt's default and compact formats, span fields in `span{…}`), `"name":value`
//!   (its JSON format) and `name: "value"` (`Debug` of structs, the pretty format). A value a
//!   rule masks is masked whatever it looks like, so `password="hunter2"` is caught although no
//!   detector would call `hunter2` a credential. A format that prints values without their
//!   names (a custom `FormatEvent`, `%`-formatted structs) loses this; detectors still run.
//! - **Actions:** `Drop` masks instead (removing text from a formatted line could merge two
//!   fields); `Hash` needs [`Scrubbed::hash_key`], and masks without it.
//! - **Per value, where the format allows:** [`scrubbed_fields`] is a `FormatFields` that
//!   redacts each field value by its real name and content before it is formatted, as the
//!   layer does; use it with `fmt_fields(..)` and keep the writer wrapper for the rest of the
//!   line.
//! - **Terminal colours:** text with ANSI escape sequences is scrubbed without them. An event
//!   with nothing to redact keeps its colours; one that had something redacted is written
//!   without colours, since the escapes could split a secret from its name.
//! - **Not caught:** a secret split across two write calls of a layer that writes one event in
//!   pieces (every tracing-subscriber formatter writes an event in one call), values the
//!   formatter truncates or escapes beyond recognition, and whatever the layer's own
//!   `max_value_len` would have cut.
//!
//! ```
//! use tracing_audit::redact::scrubbed;
//! use tracing_subscriber::prelude::*;
//!
//! let console = tracing_subscriber::fmt::layer().with_writer(scrubbed(std::io::stderr));
//! let _subscriber = tracing_subscriber::registry().with(console);
//! ```

use super::detect::DetectorSet;
use super::{write_partial, Action, FieldRules, Pseudonymizer, MASK};
use crate::Stream;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use tracing_core::field::{Field, Visit};
use tracing_core::Metadata;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};

/// Wraps `make_writer` so everything written through it is redacted first, with the debug
/// stream's default detectors and the default field-name rules.
///
/// See the [module documentation](self) for what it can and cannot catch.
///
/// ```
/// use tracing_audit::redact::scrubbed;
/// use std::io::Write;
/// use tracing_subscriber::fmt::MakeWriter;
///
/// let console = scrubbed(std::sync::Mutex::new(Vec::new()));
/// // What fmt::layer() would write for `info!(password = "hunter2", "GET https://bob:pw@db/")`:
/// console
///     .make_writer()
///     .write_all(b"INFO app: GET https://bob:pw@db/ password=\"hunter2\"\n")
///     .unwrap();
/// let out = console.into_inner().into_inner().unwrap();
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "INFO app: GET https://bob:[REDACTED:url_password]@db/ password=\"[REDACTED]\"\n"
/// );
/// ```
pub fn scrubbed<M>(make_writer: M) -> Scrubbed<M> {
    Scrubbed {
        inner: make_writer,
        rules: Arc::new(Rules::default()),
    }
}

/// A `MakeWriter` whose writers redact; built by [`scrubbed`].
///
/// | setting | default |
/// |---|---|
/// | [`detectors`](Scrubbed::detectors) | `DetectorSet::for_stream(Stream::Debug)` |
/// | [`field_rules`](Scrubbed::field_rules) | `FieldRules::default()` (the deny list) |
/// | [`hash_key`](Scrubbed::hash_key) | none: `Hash` actions mask |
#[derive(Clone)]
#[must_use]
pub struct Scrubbed<M> {
    inner: M,
    rules: Arc<Rules>,
}

#[derive(Clone)]
struct Rules {
    detectors: DetectorSet,
    fields: FieldRules,
    hasher: Option<Pseudonymizer>,
}

impl Default for Rules {
    /// The debug stream's default detectors and the default field-name rules.
    fn default() -> Self {
        Rules {
            detectors: DetectorSet::for_stream(Stream::Debug),
            fields: FieldRules::default(),
            hasher: None,
        }
    }
}

impl<M> fmt::Debug for Scrubbed<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubbed")
            .field("detectors", &self.rules.detectors)
            .field("fields", &self.rules.fields)
            .field("hash_key", &self.rules.hasher.is_some())
            .finish_non_exhaustive()
    }
}

impl<M> Scrubbed<M> {
    /// The wrapped `MakeWriter`.
    pub fn get_ref(&self) -> &M {
        &self.inner
    }

    /// Unwraps the wrapped `MakeWriter`.
    pub fn into_inner(self) -> M {
        self.inner
    }

    /// The detectors run over the text (use the same set as the layer's debug stream to print
    /// nothing it would remove).
    pub fn detectors(mut self, detectors: DetectorSet) -> Self {
        Arc::make_mut(&mut self.rules).detectors = detectors;
        self
    }

    /// The field-name rules applied where the format shows field names.
    pub fn field_rules(mut self, rules: FieldRules) -> Self {
        Arc::make_mut(&mut self.rules).fields = rules;
        self
    }

    /// The key of the keyed pseudonyms `Hash` writes (use the layer's, so console and files
    /// show the same pseudonym for the same value).
    pub fn hash_key(mut self, key: &[u8]) -> Self {
        Arc::make_mut(&mut self.rules).hasher = Some(Pseudonymizer::new(key));
        self
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Scrubbed<M> {
    type Writer = ScrubbedWriter<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedWriter::new(self.inner.make_writer(), &self.rules)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        ScrubbedWriter::new(self.inner.make_writer_for(meta), &self.rules)
    }
}

/// The writer of [`Scrubbed`]: holds text until a line ends, then writes it redacted.
pub struct ScrubbedWriter<'a, W: Write> {
    inner: W,
    rules: &'a Rules,
    pending: Vec<u8>,
}

impl<W: Write> fmt::Debug for ScrubbedWriter<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrubbedWriter")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Text without a line end beyond this is scrubbed and passed on anyway, so a writer that never
/// writes a newline cannot grow without bound.
const MAX_PENDING: usize = 1 << 20;

impl<'a, W: Write> ScrubbedWriter<'a, W> {
    fn new(inner: W, rules: &'a Rules) -> Self {
        ScrubbedWriter {
            inner,
            rules,
            pending: Vec::new(),
        }
    }

    /// Scrubs and writes `pending[..end]`.
    fn emit(&mut self, end: usize) -> io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..end).collect();
        let text = String::from_utf8_lossy(&chunk);
        let out = scrub(self.rules, &text);
        self.inner.write_all(out.as_bytes())
    }
}

impl<W: Write> Write for ScrubbedWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        // Everything up to the last line end at once: one event's lines are scrubbed together.
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.emit(last + 1)?;
        } else if self.pending.len() > MAX_PENDING {
            self.emit(self.pending.len())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.emit(self.pending.len())?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for ScrubbedWriter<'_, W> {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.emit(self.pending.len());
        }
    }
}

/// A `FormatFields` for `fmt::layer()` that redacts each field *value* as it is formatted:
/// field-name rules by the field's real name, detectors over its text, before any formatting
/// merges it with its neighbours. Fields print as tracing-subscriber's default ones do
/// (`message name=value ...`, strings quoted), except that an error prints with its whole
/// source chain (`top: cause: root cause`) and a dropped field does not print at all.
///
/// Where the event format lets fields be formatted by it (`fmt::layer().fmt_fields(..)` with the
/// default and compact formats; the pretty and JSON formats format event fields themselves and
/// pass only span fields, or nothing, through it), this catches more than [`scrubbed`] alone:
/// names are never hidden by the format, and `Drop` can drop. Combine both to also scrub what
/// the event format adds around the fields.
///
/// ```
/// use tracing_audit::redact::scrubbed::scrubbed_fields;
/// use tracing_subscriber::prelude::*;
///
/// let console = tracing_subscriber::fmt::layer().fmt_fields(scrubbed_fields());
/// let _subscriber = tracing_subscriber::registry().with(console);
/// ```
pub fn scrubbed_fields() -> ScrubbedFields {
    ScrubbedFields {
        rules: Arc::new(Rules::default()),
    }
}

/// The `FormatFields` of [`scrubbed_fields`]; configured like [`Scrubbed`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ScrubbedFields {
    rules: Arc<Rules>,
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rules")
            .field("detectors", &self.detectors)
            .field("fields", &self.fields)
            .field("hash_key", &self.hasher.is_some())
            .finish()
    }
}

impl ScrubbedFields {
    /// See [`Scrubbed::detectors`].
    pub fn detectors(mut self, detectors: DetectorSet) -> Self {
        Arc::make_mut(&mut self.rules).detectors = detectors;
        self
    }

    /// See [`Scrubbed::field_rules`].
    pub fn field_rules(mut self, rules: FieldRules) -> Self {
        Arc::make_mut(&mut self.rules).fields = rules;
        self
    }

    /// See [`Scrubbed::hash_key`].
    pub fn hash_key(mut self, key: &[u8]) -> Self {
        Arc::make_mut(&mut self.rules).hasher = Some(Pseudonymizer::new(key));
        self
    }
}

impl<'w> FormatFields<'w> for ScrubbedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = FieldsVisitor {
            writer,
            rules: &self.rules,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldsVisitor<'a, 'w> {
    writer: Writer<'w>,
    rules: &'a Rules,
    first: bool,
    result: fmt::Result,
}

impl FieldsVisitor<'_, '_> {
    /// Writes one field: `text` is its value as text, `quote` whether it prints quoted.
    fn field(&mut self, field: &Field, text: &str, quote: bool) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        let message = name == "message";
        let action = if message {
            Action::Keep
        } else {
            self.rules.fields.action_for(name)
        };
        let mut replaced = String::new();
        let value: Cow<'_, str> = match action {
            Action::Keep => self.rules.detectors.scrub(text, self.rules.hasher.as_ref()),
            Action::Drop => return,
            Action::Partial => {
                write_partial(text, &mut replaced);
                Cow::Borrowed(replaced.as_str())
            }
            Action::Hash => match &self.rules.hasher {
                Some(h) => {
                    h.write_pseudonym(text.as_bytes(), &mut replaced);
                    Cow::Borrowed(replaced.as_str())
                }
                None => Cow::Borrowed(MASK),
            },
            _ => Cow::Borrowed(MASK),
        };
        let sep = if self.first { "" } else { " " };
        self.first = false;
        self.result = if message {
            write!(self.writer, "{sep}{value}")
        } else if quote {
            write!(self.writer, "{sep}{name}={value:?}")
        } else {
            write!(self.writer, "{sep}{name}={value}")
        };
    }
}

impl Visit for FieldsVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value, true);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        use std::fmt::Write as _;
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(s) = source {
            let _ = write!(text, ": {s}");
            source = s.source();
        }
        self.field(field, &text, false);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        self.field(field, &text, false);
    }
}

/// The redacted form of one chunk of formatted output.
fn scrub<'t>(rules: &Rules, text: &'t str) -> Cow<'t, str> {
    if text.contains('\x1b') {
        let plain = strip_ansi(text);
        return match scrub_plain(rules, &plain) {
            // Nothing to redact: keep the colours.
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(s) => Cow::Owned(s),
        };
    }
    scrub_plain(rules, text)
}

fn scrub_plain<'t>(rules: &Rules, text: &'t str) -> Cow<'t, str> {
    let named = scrub_named_fields(rules, text);
    match rules.detectors.scrub(&named, rules.hasher.as_ref()) {
        Cow::Borrowed(_) => named,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Removes ANSI escape sequences (CSI `ESC [ … final`, and two-byte `ESC x`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        // `ESC [` starts a sequence that runs to its final byte; `ESC x` is two characters.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// Applies the field-name rules to `name=value`, `"name":value` and `name: "value"`.
fn scrub_named_fields<'t>(rules: &Rules, text: &'t str) -> Cow<'t, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    // Bytes of `text` before this are already in `out`.
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let Some(name) = field_name_at(b, i) else {
            i += 1;
            continue;
        };
        let (name_range, value_start) = name;
        let name_str = &text[name_range.clone()];
        let action = rules.fields.action_for(name_str);
        let value = value_at(b, value_start);
        if action == Action::Keep || value.is_empty() {
            // Past a kept quoted value (a `name=` inside it is text, left to the detectors);
            // into anything else, which may be an object holding more fields.
            i = if b.get(value_start) == Some(&b'"') {
                value.end.max(i + 1)
            } else {
                value_start.max(i + 1)
            };
            continue;
        }
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        o.push_str(&text[copied..value.start]);
        let raw = &text[value.clone()];
        let (quoted, inner) = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) => (true, inner),
            None => (false, raw),
        };
        if quoted {
            o.push('"');
        }
        match action {
            Action::Partial => write_partial(inner, o),
            Action::Hash => match &rules.hasher {
                Some(h) => h.write_pseudonym(inner.as_bytes(), o),
                None => o.push_str(MASK),
            },
            _ => o.push_str(MASK),
        }
        if quoted {
            o.push('"');
        }
        copied = value.end;
        i = value.end;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-'
}

/// A field name starting at `i` and where its value starts: `name=`, `"name":` or `name: "`.
fn field_name_at(b: &[u8], i: usize) -> Option<(std::ops::Range<usize>, usize)> {
    // A name starts a token: not in the middle of a word.
    if i > 0 && (is_name_byte(b[i - 1]) || b[i - 1] == b'"' && b[i] != b'"') {
        return None;
    }
    if b[i] == b'"' {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && is_name_byte(b[end]) {
            end += 1;
        }
        if end > start && b.get(end) == Some(&b'"') && b.get(end + 1) == Some(&b':') {
            let mut v = end + 2;
            while b.get(v) == Some(&b' ') {
                v += 1;
            }
            return Some((start..end, v));
        }
        return None;
    }
    if !b[i].is_ascii_alphabetic() && b[i] != b'_' {
        return None;
    }
    let mut end = i;
    while end < b.len() && is_name_byte(b[end]) {
        end += 1;
    }
    match (b.get(end), b.get(end + 1), b.get(end + 2)) {
        (Some(b'='), _, _) => Some((i..end, end + 1)),
        (Some(b':'), Some(b' '), Some(b'"')) => Some((i..end, end + 2)),
        _ => None,
    }
}

/// The value starting at `i`: a quoted string with its quotes (escapes honoured), or a bare
/// token up to whitespace, `,`, `}`, `)` or `]`.
fn value_at(b: &[u8], i: usize) -> std::ops::Range<usize> {
    if b.get(i) == Some(&b'"') {
        let mut j = i + 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return i..j + 1,
                b'\n' => break,
                _ => j += 1,
            }
        }
        // Unterminated: up to the end of the line.
        return i..j.min(b.len());
    }
    let mut j = i;
    while j < b.len() && !b[j].is_ascii_whitespace() && !matches!(b[j], b',' | b'}' | b')' | b']') {
        j += 1;
    }
    i..j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::default()
    }

    #[test]
    fn named_fields_are_masked_in_each_format() {
        let r = rules();
        for (input, want) in [
            (
                "login{password=\"hunter2\"}: app: ok user=bob",
                "login{password=\"[REDACTED]\"}: app: ok user=bob",
            ),
            ("x secret=abc y=1", "x secret=[REDACTED] y=1"),
            (
                r#"{"fields":{"password":"hunter2","n":1}}"#,
                r#"{"fields":{"password":"[REDACTED]","n":1}}"#,
            ),
            (
                r#"Login { api_token: "t0k\"en", user: "bob" }"#,
                r#"Login { api_token: "[REDACTED]", user: "bob" }"#,
            ),
            ("nothing here", "nothing here"),
        ] {
            assert_eq!(scrub_named_fields(&r, input), want, "{input}");
        }
    }

    #[test]
    fn colours_are_kept_when_nothing_is_redacted_and_dropped_when_something_is() {
        let r = rules();
        let clean = "\x1b[32mINFO\x1b[0m app: all good\n";
        assert_eq!(scrub(&r, clean), clean);
        let secret = "\x1b[3mpassword\x1b[0m\x1b[2m=\x1b[0m\"hunter2\"\n";
        assert_eq!(scrub(&r, secret), "password=\"[REDACTED]\"\n");
    }

    #[test]
    fn partial_lines_wait_for_their_end() {
        let mut out = Vec::new();
        let r = rules();
        {
            let mut w = ScrubbedWriter::new(&mut out, &r);
            w.write_all(b"token=abc").unwrap();
            w.write_all(b"def rest\nnext").unwrap();
        }
        assert_eq!(out, b"token=[REDACTED] rest\nnext");
    }
}
