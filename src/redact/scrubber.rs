//! Scrubbing text and JSON lines written by something else: an old log, a log of another
//! program, a line pasted into a ticket. The layer scrubs what it writes as it writes it; this
//! applies the same rules afterwards.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::io::{self, BufRead, Write};

use super::detect::{keyword, DetectorSet};
use super::policy::apply_action;
use super::{Action, FieldRules, Pseudonymizer};
use crate::trail::json;
use crate::Stream;

/// Scrubs free text and JSON lines with a [`DetectorSet`] and [`FieldRules`].
///
/// - [`scrub_text`](Scrubber::scrub_text) runs the detectors over text.
/// - [`scrub_json_line`](Scrubber::scrub_json_line) parses one JSON document and rewrites it:
///   a member whose key the field rules name (`"password"`, `"api_key"`, `"Set-Cookie"`) has its
///   value replaced as the rule says, every other string value (at any depth) goes through the
///   detectors with its key as context, and the result is written by the crate's own JSON
///   writer, so it is one line with every control character, DEL, C1 control and U+2028/U+2029
///   escaped, whatever the input held.
/// - [`scrub_lines`](Scrubber::scrub_lines) does either to each line of a stream (JSON when a
///   line is a JSON object or array, text otherwise), and also redacts the body of a PEM private
///   key that spans several text lines.
///
/// | Setting | Default |
/// |---|---|
/// | detectors | [`DetectorSet::for_stream`] of the chosen stream |
/// | field rules | [`FieldRules::default`] (the default deny list) |
/// | hash key | none: `Hash` actions mask |
///
/// ```
/// use tracing_audit::redact::Scrubber;
/// use tracing_audit::Stream;
///
/// let scrubber = Scrubber::for_stream(Stream::Debug);
/// assert_eq!(
///     scrubber.scrub_text("GET https://bob:hunter2@db.internal/x"),
///     "GET https://bob:[REDACTED:url_password]@db.internal/x"
/// );
/// let line = scrubber
///     .scrub_json_line(r#"{"user":"bob","password":"hunter2","note":"line\u2028break"}"#)
///     .unwrap();
/// assert_eq!(line, r#"{"user":"bob","password":"[REDACTED]","note":"line\u2028break"}"#);
/// ```
#[derive(Clone, Debug)]
pub struct Scrubber {
    detectors: DetectorSet,
    fields: FieldRules,
    hasher: Option<Pseudonymizer>,
}

/// What went wrong in a [`Scrubber`] call.
#[derive(Debug)]
pub struct ScrubError {
    kind: ScrubErrorKind,
    source: Option<Box<dyn Error + Send + Sync>>,
}

/// The kind of a [`ScrubError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScrubErrorKind {
    /// The line given to [`Scrubber::scrub_json_line`] is not one JSON document.
    NotJson,
    /// Reading the input failed.
    Read,
    /// Writing the output failed.
    Write,
}

impl ScrubError {
    /// What went wrong.
    pub fn kind(&self) -> ScrubErrorKind {
        self.kind
    }

    fn new(kind: ScrubErrorKind, source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        ScrubError {
            kind,
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for ScrubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            ScrubErrorKind::NotJson => "the line is not a JSON document",
            ScrubErrorKind::Read => "cannot read the input",
            ScrubErrorKind::Write => "cannot write the output",
        })
    }
}

impl Error for ScrubError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// JSON nesting deeper than this is scrubbed as text (serde_json refuses it anyway).
const MAX_DEPTH: usize = 128;

impl Scrubber {
    /// A scrubber with `detectors`, the default field rules and no hash key.
    #[must_use]
    pub fn new(detectors: DetectorSet) -> Self {
        Scrubber {
            detectors,
            fields: FieldRules::default(),
            hasher: None,
        }
    }

    /// A scrubber with the layer's defaults for `stream`.
    #[must_use]
    pub fn for_stream(stream: Stream) -> Self {
        Scrubber::new(DetectorSet::for_stream(stream))
    }

    /// Replaces the field rules applied to the keys of JSON documents.
    #[must_use]
    pub fn field_rules(mut self, fields: FieldRules) -> Self {
        self.fields = fields;
        self
    }

    /// Sets the pseudonymizer used by `Hash` actions (without one they mask).
    #[must_use]
    pub fn hasher(mut self, hasher: Pseudonymizer) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// Redacts free text. Returns the input borrowed when nothing matched.
    ///
    /// ```
    /// use tracing_audit::redact::Scrubber;
    /// use tracing_audit::Stream;
    ///
    /// let s = Scrubber::for_stream(Stream::Audit);
    /// assert_eq!(s.scrub_text("password: Some(\"hunter2\")"), "password: Some(\"[REDACTED:keyword_secret]\")");
    /// ```
    pub fn scrub_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.detectors.scrub(text, self.hasher.as_ref())
    }

    /// Redacts one JSON document and writes it back as one line (see [`Scrubber`]).
    ///
    /// # Errors
    ///
    /// [`ScrubErrorKind::NotJson`] when `line` is not exactly one JSON document.
    ///
    /// ```
    /// use tracing_audit::redact::Scrubber;
    /// use tracing_audit::Stream;
    ///
    /// let s = Scrubber::for_stream(Stream::Debug);
    /// let out = s.scrub_json_line(r#"{"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "n": 5}"#)?;
    /// assert_eq!(out, r#"{"aws_secret_access_key":"[REDACTED]","n":5}"#);
    /// assert!(s.scrub_json_line("not json").is_err());
    /// # Ok::<(), tracing_audit::redact::ScrubError>(())
    /// ```
    pub fn scrub_json_line(&self, line: &str) -> Result<String, ScrubError> {
        serde_json::from_str::<serde_json::Value>(line)
            .map_err(|e| ScrubError::new(ScrubErrorKind::NotJson, e))?;
        let mut out = Vec::with_capacity(line.len() + 16);
        let mut parser = Parser {
            b: line.as_bytes(),
            text: line,
            i: 0,
            jwk: line.contains("\"kty\""),
        };
        if !self.value(&mut parser, &mut out, None, 0) {
            return Err(ScrubError {
                kind: ScrubErrorKind::NotJson,
                source: None,
            });
        }
        // The writer only ever writes valid UTF-8 (escapes are ASCII, copies are whole strings).
        String::from_utf8(out).map_err(|e| ScrubError::new(ScrubErrorKind::NotJson, e))
    }

    /// Scrubs every line of `input` into `output`: JSON objects and arrays as with
    /// [`scrub_json_line`](Scrubber::scrub_json_line), other lines as text, and the lines of a PEM
    /// private key whose `BEGIN` line came earlier are masked up to its `END` line. Line endings
    /// are kept; bytes that are not UTF-8 are replaced with U+FFFD. A closed output (a broken
    /// pipe) ends the scrub without an error.
    ///
    /// # Errors
    ///
    /// [`ScrubErrorKind::Read`] or [`ScrubErrorKind::Write`] with the I/O error as the source.
    ///
    /// ```
    /// use tracing_audit::redact::Scrubber;
    /// use tracing_audit::Stream;
    ///
    /// let input = "key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
    /// let mut out = Vec::new();
    /// Scrubber::for_stream(Stream::Debug).scrub_lines(input.as_bytes(), &mut out)?;
    /// let out = String::from_utf8(out).unwrap();
    /// assert!(!out.contains("MIIEvQ"));
    /// assert!(out.contains("-----END PRIVATE KEY-----"));
    /// # Ok::<(), tracing_audit::redact::ScrubError>(())
    /// ```
    pub fn scrub_lines(
        &self,
        mut input: impl BufRead,
        output: impl Write,
    ) -> Result<(), ScrubError> {
        let mut output = io::BufWriter::new(output);
        let mut raw = Vec::new();
        let mut in_key = false;
        loop {
            raw.clear();
            let n = input
                .read_until(b'\n', &mut raw)
                .map_err(|e| ScrubError::new(ScrubErrorKind::Read, e))?;
            if n == 0 {
                break;
            }
            let mut body: &[u8] = &raw;
            let mut ending: &[u8] = b"";
            if let Some(rest) = body.strip_suffix(b"\n") {
                body = rest;
                ending = b"\n";
                if let Some(rest) = body.strip_suffix(b"\r") {
                    body = rest;
                    ending = b"\r\n";
                }
            }
            let line = String::from_utf8_lossy(body);
            let scrubbed = self.scrub_one_line(&line, &mut in_key);
            let written = output
                .write_all(scrubbed.as_bytes())
                .and_then(|()| output.write_all(ending));
            match written {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(ScrubError::new(ScrubErrorKind::Write, e)),
            }
        }
        match output.flush() {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                Err(ScrubError::new(ScrubErrorKind::Write, e))
            }
            _ => Ok(()),
        }
    }

    /// One line of [`scrub_lines`](Scrubber::scrub_lines); `in_key` says a private key's body
    /// continues from earlier lines.
    fn scrub_one_line<'a>(&self, line: &'a str, in_key: &mut bool) -> Cow<'a, str> {
        const END: &str = "-----END ";
        if *in_key {
            return match line.find(END) {
                Some(end) => {
                    *in_key = false;
                    let mut out = String::with_capacity(line.len());
                    if end > 0 {
                        out.push_str("[REDACTED:private_key]");
                    }
                    out.push_str(&self.scrub_text(&line[end..]));
                    Cow::Owned(out)
                }
                None if line.trim().is_empty() => Cow::Borrowed(line),
                None => Cow::Borrowed("[REDACTED:private_key]"),
            };
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            if let Ok(json) = self.scrub_json_line(line) {
                return Cow::Owned(json);
            }
        }
        *in_key = opens_private_key(line);
        self.scrub_text(line)
    }

    /// Writes one JSON value, scrubbed; `key` is the member name it belongs to. Returns `false`
    /// on malformed input (which `scrub_json_line` has already ruled out).
    fn value(
        &self,
        p: &mut Parser<'_>,
        out: &mut Vec<u8>,
        key: Option<&str>,
        depth: usize,
    ) -> bool {
        p.ws();
        if depth > MAX_DEPTH {
            return false;
        }
        match p.peek() {
            Some(b'{') => {
                p.i += 1;
                out.push(b'{');
                let mut first = true;
                loop {
                    p.ws();
                    match p.peek() {
                        Some(b'}') => {
                            p.i += 1;
                            break;
                        }
                        Some(b',') => {
                            p.i += 1;
                            continue;
                        }
                        Some(b'"') => {}
                        _ => return false,
                    }
                    let Some(name) = p.string() else {
                        return false;
                    };
                    p.ws();
                    if p.peek() != Some(b':') {
                        return false;
                    }
                    p.i += 1;
                    let mut action = self.fields.action_for(&name);
                    if action == Action::Keep
                        && p.jwk
                        && keyword::is_jwk_private_member(name.as_bytes())
                    {
                        action = Action::Mask;
                    }
                    let mark = out.len();
                    if !first {
                        out.push(b',');
                    }
                    json::write_key(out, &name);
                    let kept = if action == Action::Keep {
                        self.value(p, out, Some(&name), depth + 1).then_some(true)
                    } else {
                        self.ruled_value(p, out, action)
                    };
                    match kept {
                        None => return false,
                        // Dropped by its rule.
                        Some(false) => out.truncate(mark),
                        Some(true) => first = false,
                    }
                }
                out.push(b'}');
                true
            }
            Some(b'[') => {
                p.i += 1;
                out.push(b'[');
                let mut first = true;
                loop {
                    p.ws();
                    match p.peek() {
                        Some(b']') => {
                            p.i += 1;
                            break;
                        }
                        Some(b',') => {
                            p.i += 1;
                            continue;
                        }
                        None => return false,
                        _ => {}
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    if !self.value(p, out, key, depth + 1) {
                        return false;
                    }
                }
                out.push(b']');
                true
            }
            Some(b'"') => {
                let Some(s) = p.string() else {
                    return false;
                };
                let scrubbed = match key {
                    Some(k) => self.detectors.scrub_field(k, &s, self.hasher.as_ref()),
                    None => self.detectors.scrub(&s, self.hasher.as_ref()),
                };
                json::write_str(out, &scrubbed);
                true
            }
            Some(_) => {
                // Numbers, `true`, `false`, `null`: copied as written, except a number that is a
                // card number (`"pan": 4111111111111111`), written as the string of its mask.
                let start = p.i;
                p.skip_scalar();
                let scalar = &p.text[start..p.i];
                if (13..=19).contains(&scalar.len()) && scalar.bytes().all(|c| c.is_ascii_digit()) {
                    let scrubbed = match key {
                        Some(k) => self.detectors.scrub_field(k, scalar, self.hasher.as_ref()),
                        None => self.detectors.scrub(scalar, self.hasher.as_ref()),
                    };
                    if let Cow::Owned(masked) = scrubbed {
                        json::write_str(out, &masked);
                        return true;
                    }
                }
                out.extend_from_slice(scalar.as_bytes());
                p.i > start
            }
            None => false,
        }
    }

    /// Writes the value of a member whose key a field rule matched. `Some(false)` when the rule
    /// drops it, `None` on malformed input.
    fn ruled_value(&self, p: &mut Parser<'_>, out: &mut Vec<u8>, action: Action) -> Option<bool> {
        p.ws();
        let start = p.i;
        let raw: Cow<'_, str> = match p.peek()? {
            b'"' => Cow::Owned(p.string()?),
            b'{' | b'[' => {
                let mut sink = Vec::new();
                if !self.value(p, &mut sink, None, 1) {
                    return None;
                }
                Cow::Borrowed(&p.text[start..p.i])
            }
            _ => {
                p.skip_scalar();
                let scalar = &p.text[start..p.i];
                if matches!(scalar, "null" | "true" | "false") {
                    // Saying whether a secret is set reveals nothing of it.
                    out.extend_from_slice(scalar.as_bytes());
                    return Some(true);
                }
                Cow::Borrowed(scalar)
            }
        };
        let mut scratch = String::new();
        match apply_action(action, &raw, self.hasher.as_ref(), &mut scratch) {
            Some(v) => {
                json::write_str(out, &v);
                Some(true)
            }
            None => Some(false),
        }
    }
}

/// Whether `line` opens a PEM private key block that it does not close.
fn opens_private_key(line: &str) -> bool {
    let Some(begin) = line.rfind("-----BEGIN ") else {
        return false;
    };
    let rest = &line[begin..];
    let Some(label_end) = rest[11..].find("-----").map(|e| e + 11) else {
        return false;
    };
    rest[..label_end].contains("PRIVATE KEY") && !rest[label_end..].contains("-----END ")
}

/// A cursor over a JSON text already known to be valid.
struct Parser<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
    /// The document holds a JSON Web Key (`"kty"`): its one-letter private members are secrets.
    jwk: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self
            .b
            .get(self.i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    /// The string starting at the cursor, decoded.
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        self.i += 1;
        while self.i < self.b.len() && self.b[self.i] != b'"' {
            self.i += if self.b[self.i] == b'\\' { 2 } else { 1 };
        }
        self.i = (self.i + 1).min(self.b.len());
        serde_json::from_str(self.text.get(start..self.i)?).ok()
    }

    fn skip_scalar(&mut self) {
        while self
            .b
            .get(self.i)
            .is_some_and(|&c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }
}
