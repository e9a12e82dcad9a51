//! One record as one RFC 5424 syslog message, and its RFC 6587 octet-counted frame.
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - JSON`: no structured data, no BOM (the
//! message must stay byte-identical to the file line for the central copy to verify), the
//! record's own timestamp (cut to the microseconds RFC 5424 allows).

use std::io::Write;

/// The header fields shared by every message of one stream.
#[derive(Clone, Debug)]
pub(crate) struct Header {
    /// `<PRI>1 ` up to, but not including, the timestamp.
    pri_version: String,
    /// ` HOSTNAME APP-NAME PROCID MSGID - `
    rest: String,
}

impl Header {
    pub(crate) fn new(
        facility: u8,
        severity: u8,
        hostname: &str,
        app: &str,
        procid: &str,
        msgid: &str,
    ) -> Self {
        let pri = u16::from(facility.min(23)) * 8 + u16::from(severity.min(7));
        Header {
            pri_version: format!("<{pri}>1 "),
            rest: format!(
                " {} {} {} {} - ",
                field(hostname, 255),
                field(app, 48),
                field(procid, 128),
                field(msgid, 32)
            ),
        }
    }

    /// The length of the message `line` becomes.
    pub(crate) fn message_len(&self, line: &[u8]) -> usize {
        self.pri_version.len() + timestamp(line).len() + self.rest.len() + line.len()
    }

    /// Appends the message for `line` (a record without its newline) to `out`.
    pub(crate) fn write(&self, line: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(self.pri_version.as_bytes());
        out.extend_from_slice(timestamp(line).as_bytes());
        out.extend_from_slice(self.rest.as_bytes());
        out.extend_from_slice(line);
    }

    /// Appends `MSG-LEN SP SYSLOG-MSG` (RFC 6587 octet counting, also RFC 5425 over TLS).
    pub(crate) fn write_octet_counted(&self, line: &[u8], out: &mut Vec<u8>) {
        let _ = write!(out, "{} ", self.message_len(line));
        self.write(line, out);
    }
}

/// A header field: printable US-ASCII without spaces, at most `max` bytes, `-` when empty.
fn field(value: &str, max: usize) -> String {
    let clean: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if clean.is_empty() {
        "-".to_owned()
    } else {
        clean
    }
}

/// The record's `"ts"` (near the start of every line this crate writes), with at most six
/// fractional digits; `-` (RFC 5424 NILVALUE) when the line has none.
fn timestamp(line: &[u8]) -> std::borrow::Cow<'static, str> {
    const KEY: &[u8] = b"\"ts\":\"";
    let head = &line[..line.len().min(96)];
    let Some(at) = memchr::memmem::find(head, KEY) else {
        return "-".into();
    };
    let rest = &line[at + KEY.len()..];
    let Some(end) = memchr::memchr(b'"', &rest[..rest.len().min(48)]) else {
        return "-".into();
    };
    let ts = &rest[..end];
    let ok = ts.len() >= 20
        && ts
            .iter()
            .all(|b| b.is_ascii_digit() || b"-:T.Z+".contains(b));
    if !ok {
        return "-".into();
    }
    let Ok(ts) = std::str::from_utf8(ts) else {
        return "-".into();
    };
    let Some((base, frac_zone)) = ts.split_once('.') else {
        return ts.to_owned().into();
    };
    let digits = frac_zone.bytes().take_while(u8::is_ascii_digit).count();
    let zone = &frac_zone[digits..];
    format!("{base}.{}{zone}", &frac_zone[..digits.min(6)]).into()
}

/// This machine's name, as RFC 5424 HOSTNAME.
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "-".to_owned();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_carries_the_line_unchanged_after_a_5424_header() {
        let h = Header::new(13, 6, "web 1", "tracing-audit", "42", "AUDIT");
        let line = br#"{"seq":7,"ts":"2026-12-01T22:10:05.123456789Z","msg":"x"}"#;
        let mut out = Vec::new();
        h.write(line, &mut out);
        let expected = [
            &b"<110>1 2026-12-01T22:10:05.123456Z web1 tracing-audit 42 AUDIT - "[..],
            line,
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(h.message_len(line), out.len());
        let mut framed = Vec::new();
        h.write_octet_counted(line, &mut framed);
        assert_eq!(
            framed,
            [format!("{} ", out.len()).as_bytes(), &out].concat()
        );
    }

    #[test]
    fn a_line_without_timestamp_gets_the_nil_value() {
        let h = Header::new(1, 7, "", "", "", "DEBUG");
        let mut out = Vec::new();
        h.write(b"{\"a\":1}", &mut out);
        assert_eq!(out, b"<15>1 - - - - DEBUG - {\"a\":1}");
    }
}
