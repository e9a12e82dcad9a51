//! RELP, rsyslog's Reliable Event Logging Protocol, client side.
//!
//! A frame is `TXNR SP COMMAND SP DATALEN [SP DATA] LF`. The client opens the session with
//! `open` and its offers (`relp_version`, `relp_software`, `commands=syslog`), sends one `syslog`
//! command per message with increasing transaction numbers (1 to 999,999,999, then 1 again),
//! and the server answers every command with `rsp` (`200 OK`, or an error) in the order the
//! commands were sent. Transaction number 0 carries hints; the only one a server sends is
//! `serverclose`, right before it drops the session. Commands not yet answered when the
//! connection breaks count as not received: they are sent again on the next session (so the
//! receiver may store some twice; the audit `seq` tells them apart).

use super::error::{ShipError, ShipErrorKind};
use super::transport::{Conn, Waits, SLICE};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const MAX_TXNR: u64 = 999_999_999;
/// The longest header a server sends: 9 digits, a 32-letter command, 9 digits, 3 spaces.
const MAX_HEADER: usize = 9 + 1 + 32 + 1 + 9 + 1;
/// Responses carry a status line and offers; anything larger is not a RELP server.
const MAX_RESPONSE_DATA: usize = 64 * 1024;

/// Appends one frame to `out`.
pub(crate) fn write_frame(out: &mut Vec<u8>, txnr: u64, command: &str, data: &[u8]) {
    out.extend_from_slice(itoa::Buffer::new().format(txnr).as_bytes());
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// One frame from the server.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) txnr: u64,
    pub(crate) command: String,
    pub(crate) data: Vec<u8>,
}

impl Frame {
    /// The status code of an `rsp` (`200` is success); `None` when the data has none.
    pub(crate) fn status(&self) -> Option<u16> {
        let code = self.data.get(..3)?;
        if !code.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(code).ok()?.parse().ok()
    }

    /// The human-readable part of an `rsp` (its first line, after the code).
    pub(crate) fn text(&self) -> String {
        let line = self.data.split(|&b| b == b'\n').next().unwrap_or_default();
        String::from_utf8_lossy(line).into_owned()
    }
}

/// Splits the bytes received so far into frames.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame>, ShipError> {
        let bad = |why: &str| {
            ShipError::new(
                ShipErrorKind::Protocol,
                format!("the receiver sent a malformed RELP frame: {why}"),
            )
        };
        // Header: TXNR SP COMMAND SP DATALEN, then SP DATA LF or (DATALEN 0) LF.
        let mut parts = Vec::with_capacity(3);
        let mut start = 0;
        let mut end_of_len = None;
        for (i, &b) in self.buf.iter().enumerate().take(MAX_HEADER + 1) {
            if b == b' ' || b == b'\n' {
                parts.push(&self.buf[start..i]);
                start = i + 1;
                if parts.len() == 3 {
                    end_of_len = Some((i, b));
                    break;
                }
                if b == b'\n' {
                    return Err(bad("header ends early"));
                }
            }
        }
        let Some((at, sep)) = end_of_len else {
            if self.buf.len() > MAX_HEADER {
                return Err(bad("header too long"));
            }
            return Ok(None);
        };
        let number = |p: &[u8]| -> Option<u64> {
            if p.is_empty() || p.len() > 9 || !p.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(p).ok()?.parse().ok()
        };
        let txnr = number(parts[0]).ok_or_else(|| bad("transaction number"))?;
        let command = std::str::from_utf8(parts[1])
            .ok()
            .filter(|c| {
                !c.is_empty() && c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphabetic())
            })
            .ok_or_else(|| bad("command"))?
            .to_owned();
        let len = number(parts[2]).ok_or_else(|| bad("data length"))? as usize;
        if len > MAX_RESPONSE_DATA {
            return Err(bad("data length over 64 KiB"));
        }
        let data_start = at + 1;
        let (data, total) = if len == 0 {
            if sep != b'\n' {
                // Tolerate `0 ` followed by LF.
                match self.buf.get(data_start) {
                    None => return Ok(None),
                    Some(b'\n') => (Vec::new(), data_start + 1),
                    Some(_) => return Err(bad("no LF after an empty frame")),
                }
            } else {
                (Vec::new(), data_start)
            }
        } else {
            if sep != b' ' {
                return Err(bad("no data after a non-zero length"));
            }
            if self.buf.len() < data_start + len + 1 {
                return Ok(None);
            }
            if self.buf[data_start + len] != b'\n' {
                return Err(bad("frame does not end with LF"));
            }
            (
                self.buf[data_start..data_start + len].to_vec(),
                data_start + len + 1,
            )
        };
        self.buf.drain(..total);
        Ok(Some(Frame {
            txnr,
            command,
            data,
        }))
    }
}

/// An open RELP session: commands sent, responses matched in order.
#[derive(Debug)]
pub(crate) struct Session {
    conn: Conn,
    reader: FrameReader,
    next_txnr: u64,
    /// Transaction numbers sent and not yet answered, oldest first.
    outstanding: VecDeque<u64>,
    out: Vec<u8>,
    /// What the server answered to `open`.
    pub(crate) server_offers: String,
}

impl Session {
    /// Sends `open` and waits up to `timeout` for the server's offers, in slices of at most
    /// [`SLICE`], giving up early when `abandon` says the shipper is stopping.
    pub(crate) fn open(
        conn: Conn,
        timeout: Duration,
        abandon: &(dyn Fn() -> bool + Sync),
    ) -> Result<Session, ShipError> {
        let mut s = Session {
            conn,
            reader: FrameReader::default(),
            next_txnr: 1,
            outstanding: VecDeque::new(),
            out: Vec::new(),
            server_offers: String::new(),
        };
        let offers = format!(
            "relp_version=0\nrelp_software=tracing-audit,{},https://crates.io/crates/tracing-audit\ncommands=syslog",
            env!("CARGO_PKG_VERSION")
        );
        let txnr = s.command("open", offers.as_bytes());
        s.flush()?;
        let deadline = Instant::now() + timeout;
        let rsp = loop {
            if let Some(f) = s.reader.next_frame()? {
                break f;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ShipError::new(
                    ShipErrorKind::TimedOut,
                    format!(
                        "RELP open deadline ({timeout:?}) expired: the receiver accepted the connection but did not answer open"
                    ),
                ));
            }
            if abandon() {
                return Err(Waits::stopped("the answer to RELP open"));
            }
            s.fill(left.min(SLICE))?;
        };
        s.outstanding.clear();
        if rsp.txnr != txnr || rsp.command != "rsp" {
            return Err(ShipError::new(
                ShipErrorKind::Protocol,
                format!(
                    "expected the answer to open, got {} {}",
                    rsp.txnr, rsp.command
                ),
            ));
        }
        if rsp.status() != Some(200) {
            return Err(ShipError::new(
                ShipErrorKind::Protocol,
                format!("the receiver refused the RELP session: {}", rsp.text()),
            ));
        }
        let offers = String::from_utf8_lossy(&rsp.data).into_owned();
        let has = |name: &str| offers.lines().any(|l| l.split('=').next() == Some(name));
        let syslog = offers.lines().any(|l| {
            l.strip_prefix("commands=")
                .is_some_and(|v| v.split(',').any(|c| c == "syslog"))
        });
        if !has("relp_version") || !syslog {
            return Err(ShipError::new(
                ShipErrorKind::Protocol,
                format!(
                    "the receiver's RELP offers lack relp_version or commands=syslog: {offers:?}"
                ),
            ));
        }
        s.server_offers = offers;
        Ok(s)
    }

    /// Queues a command; returns its transaction number.
    fn command(&mut self, command: &str, data: &[u8]) -> u64 {
        let txnr = self.next_txnr;
        self.next_txnr = if txnr >= MAX_TXNR { 1 } else { txnr + 1 };
        write_frame(&mut self.out, txnr, command, data);
        self.outstanding.push_back(txnr);
        txnr
    }

    /// Queues one `syslog` command whose data `write` appends.
    pub(crate) fn syslog(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        // The length goes before the data: format into a scratch area at the end first.
        let mark = self.out.len();
        write(&mut self.out);
        let msg = self.out.split_off(mark);
        self.command("syslog", &msg);
    }

    /// Commands sent and not yet answered.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Writes what is queued.
    pub(crate) fn flush(&mut self) -> Result<(), ShipError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self
            .conn
            .write_all(&self.out)
            .and_then(|()| self.conn.flush());
        self.out.clear();
        r.map_err(|e| ShipError::net("cannot send to the receiver", e))
    }

    /// Reads what arrives within `wait`.
    fn fill(&mut self, wait: Duration) -> Result<usize, ShipError> {
        self.conn
            .set_read_timeout(wait)
            .map_err(|e| ShipError::net("cannot set the read timeout", e))?;
        let mut buf = [0u8; 16 * 1024];
        match self.conn.read(&mut buf) {
            Ok(0) => Err(ShipError::new(
                ShipErrorKind::Connect,
                "the receiver closed the connection",
            )),
            Ok(n) => {
                self.reader.push(&buf[..n]);
                Ok(n)
            }
            Err(e) if super::transport::nothing_yet(&e) => Ok(0),
            Err(e) => Err(ShipError::net("cannot read from the receiver", e)),
        }
    }

    /// Waits up to `wait` for answers; returns how many of the oldest commands were
    /// acknowledged with `200`. An error answer, a `serverclose` hint or a broken connection is
    /// an error: everything still outstanding must then be sent again on a new session.
    pub(crate) fn acknowledged(&mut self, wait: Duration) -> Result<usize, ShipError> {
        let mut acked = 0;
        let mut waited = false;
        loop {
            while let Some(f) = self.reader.next_frame()? {
                if f.txnr == 0 {
                    if f.command == "serverclose" {
                        self.outstanding.clear();
                        return Err(ShipError::new(
                            ShipErrorKind::Connect,
                            "the receiver closed the RELP session (serverclose)",
                        ));
                    }
                    continue; // an unknown hint: hints need no answer
                }
                if f.command != "rsp" || self.outstanding.front() != Some(&f.txnr) {
                    return Err(ShipError::new(
                        ShipErrorKind::Protocol,
                        format!(
                            "unexpected RELP frame {} {} (waiting for the answer to {:?})",
                            f.txnr,
                            f.command,
                            self.outstanding.front()
                        ),
                    ));
                }
                if f.status() != Some(200) {
                    return Err(ShipError::new(
                        ShipErrorKind::Protocol,
                        format!("the receiver refused message {}: {}", f.txnr, f.text()),
                    ));
                }
                self.outstanding.pop_front();
                acked += 1;
            }
            if acked > 0 || waited || self.outstanding.is_empty() && wait.is_zero() {
                return Ok(acked);
            }
            // One read of up to `wait`, then whatever else is already there.
            self.fill(wait)?;
            waited = true;
            if self.outstanding.is_empty() {
                // Idle: the read only watched for a serverclose or a closed connection.
                while let Some(f) = self.reader.next_frame()? {
                    if f.txnr == 0 && f.command == "serverclose" {
                        return Err(ShipError::new(
                            ShipErrorKind::Connect,
                            "the receiver closed the RELP session (serverclose)",
                        ));
                    }
                }
                return Ok(0);
            }
        }
    }

    /// Sends `close` and waits briefly for its answer; everything must be acknowledged first.
    pub(crate) fn close(mut self, timeout: Duration) {
        let txnr = self.command("close", b"");
        if self.flush().is_ok() {
            let deadline = Instant::now() + timeout;
            'wait: while Instant::now() < deadline {
                loop {
                    match self.reader.next_frame() {
                        Ok(Some(f)) if f.txnr == txnr => break 'wait,
                        Ok(Some(_)) => continue,
                        Ok(None) => break,
                        Err(_) => break 'wait,
                    }
                }
                if self
                    .fill(deadline.saturating_duration_since(Instant::now()))
                    .is_err()
                {
                    break;
                }
            }
        }
        self.conn.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_written_as_the_spec_says() {
        let mut out = Vec::new();
        write_frame(&mut out, 1, "open", b"relp_version=0");
        write_frame(&mut out, 2, "close", b"");
        assert_eq!(out, b"1 open 14 relp_version=0\n2 close 0\n");
    }

    #[test]
    fn answers_split_anywhere_are_reassembled() {
        // What rsyslog 8.2302 (librelp 1.11) answers to open, a syslog and a close.
        let wire = b"1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n2 rsp 6 200 OK\n3 rsp 0\n0 serverclose 0\n";
        for cut in 0..wire.len() {
            let mut r = FrameReader::default();
            r.push(&wire[..cut]);
            let mut frames = Vec::new();
            while let Some(f) = r.next_frame().unwrap() {
                frames.push(f);
            }
            r.push(&wire[cut..]);
            while let Some(f) = r.next_frame().unwrap() {
                frames.push(f);
            }
            let got: Vec<_> = frames
                .iter()
                .map(|f| (f.txnr, f.command.as_str(), f.status()))
                .collect();
            assert_eq!(
                got,
                [
                    (1, "rsp", Some(200)),
                    (2, "rsp", Some(200)),
                    (3, "rsp", None),
                    (0, "serverclose", None)
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn garbage_is_a_protocol_error_not_a_panic() {
        for wire in [
            &b"x rsp 0\n"[..],
            b"1 r5p 0\n",
            b"1 rsp 3 200X",
            b"1 rsp 99999999 ",
            b"1 rsp\n",
            b"1234567890123456789012345678901234567890123456789012345678901234567890",
        ] {
            let mut r = FrameReader::default();
            r.push(wire);
            assert_eq!(
                r.next_frame().unwrap_err().kind(),
                ShipErrorKind::Protocol,
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }
}
