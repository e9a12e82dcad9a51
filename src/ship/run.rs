//! The shipping loop: read, send within the window, advance the cursor on acknowledgement,
//! reconnect with backoff and send again what was not acknowledged.

use super::cursor::CursorFile;
use super::error::{ShipError, ShipErrorKind};
use super::message::Header;
use super::relp::Session;
use super::source::{Skipped, Source};
use super::tls::Tls;
use super::transport::{Conn, Protocol, Waits};
use super::{Shared, Shipper, HEALTHY_ACKS};
use crate::trail::cursor::Position;
use rustls::ClientConfig;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where shipping begins.
pub(crate) struct Start {
    /// The position to resume after (checked against the trail); `None`: the first file.
    pub(crate) from: Option<Position>,
    /// The `ship_start` marker sent first on every session until a record after it is
    /// acknowledged (a deliberate start, [`Shipper::start_at_seq`]).
    pub(crate) marker: Option<Vec<u8>>,
}

/// Everything checked and loaded, ready to run.
pub(crate) struct Ready {
    pub(crate) start: Start,
    pub(crate) prefix: String,
    pub(crate) header: Header,
    pub(crate) tls: Option<(Tls, Arc<ClientConfig>)>,
    pub(crate) cursor: Arc<CursorFile>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: Shipper,
}

/// Bytes in flight at most, whatever the window: a stalled receiver must not make the shipper
/// buffer without bound, nor fill the socket buffers both ways.
const MAX_IN_FLIGHT_BYTES: u64 = 4 << 20;
/// Records sent per round without acknowledgements (syslog over TCP/TLS).
const SYSLOG_BATCH: usize = 512;
/// How often the lag counters are recomputed from the directory.
const LAG_EVERY: Duration = Duration::from_millis(500);

struct Flight {
    /// `None` for the start marker: its acknowledgement moves no cursor.
    end: Option<Position>,
    bytes: u64,
    /// False for a refused (oversize) record: nothing awaits an acknowledgement for it.
    sent: bool,
}

enum Link {
    Relp(Session),
    Syslog(SyslogConn),
}

struct SyslogConn {
    conn: Conn,
    out: Vec<u8>,
    queued: usize,
    flushed: usize,
}

impl Link {
    fn connect(r: &Ready) -> Result<Link, ShipError> {
        let c = &r.config;
        let shared = &r.shared;
        let abandon = || shared.abandon_connecting();
        let waits = Waits {
            connect: c.connect_timeout,
            handshake: c.tls_handshake_timeout,
            abandon: &abandon,
        };
        let conn = Conn::open(&c.to, r.tls.as_ref().map(|(t, cfg)| (t, cfg)), &waits)?;
        Ok(match c.to.protocol() {
            Protocol::Relp => Link::Relp(Session::open(conn, c.open_timeout, &abandon)?),
            Protocol::SyslogTcp | Protocol::SyslogTls => Link::Syslog(SyslogConn {
                conn,
                out: Vec::new(),
                queued: 0,
                flushed: 0,
            }),
        })
    }

    fn room(&self, window: usize) -> bool {
        match self {
            Link::Relp(s) => s.outstanding() < window,
            Link::Syslog(s) => s.queued < SYSLOG_BATCH,
        }
    }

    fn send(&mut self, header: &Header, line: &[u8]) {
        match self {
            Link::Relp(s) => s.syslog(|out| header.write(line, out)),
            Link::Syslog(s) => {
                header.write_octet_counted(line, &mut s.out);
                s.queued += 1;
            }
        }
    }

    fn flush(&mut self) -> Result<(), ShipError> {
        match self {
            Link::Relp(s) => s.flush(),
            Link::Syslog(s) => {
                if s.out.is_empty() {
                    return Ok(());
                }
                // A receiver that went away is noticed before more is written into the void:
                // from the socket, without waiting (a timed read would sleep a scheduler tick,
                // 4 ms, per batch).
                if s.conn
                    .peer_closed()
                    .map_err(|e| ShipError::net("the connection to the receiver failed", e))?
                {
                    return Err(ShipError::new(
                        ShipErrorKind::Connect,
                        "the receiver closed the connection",
                    ));
                }
                let r = s.conn.write_all(&s.out).and_then(|()| s.conn.flush());
                s.out.clear();
                r.map_err(|e| ShipError::net("cannot send to the receiver", e))?;
                s.flushed += s.queued;
                s.queued = 0;
                Ok(())
            }
        }
    }

    /// Messages acknowledged since the last call, oldest first; waits up to `wait` for one.
    fn acknowledged(&mut self, wait: Duration) -> Result<usize, ShipError> {
        match self {
            Link::Relp(s) => s.acknowledged(wait),
            Link::Syslog(s) => {
                let n = std::mem::take(&mut s.flushed);
                if n == 0 {
                    check_open(&mut s.conn, wait)?;
                }
                Ok(n)
            }
        }
    }

    fn outstanding(&self) -> usize {
        match self {
            Link::Relp(s) => s.outstanding(),
            Link::Syslog(s) => s.queued,
        }
    }

    fn close(self, timeout: Duration) {
        match self {
            Link::Relp(s) => s.close(timeout),
            Link::Syslog(mut s) => s.conn.shutdown(),
        }
    }
}

/// A syslog receiver never sends anything: a read that returns means it closed the connection.
fn check_open(conn: &mut Conn, wait: Duration) -> Result<(), ShipError> {
    conn.set_read_timeout(wait)
        .map_err(|e| ShipError::net("cannot set the read timeout", e))?;
    let mut buf = [0u8; 512];
    match conn.read(&mut buf) {
        Ok(0) => Err(ShipError::new(
            ShipErrorKind::Connect,
            "the receiver closed the connection",
        )),
        Ok(_) => Ok(()),
        Err(e) if super::transport::nothing_yet(&e) => Ok(()),
        Err(e) => Err(ShipError::net("the connection to the receiver failed", e)),
    }
}

/// Runs until stopped (or, with `until_idle`, until everything written is acknowledged).
pub(crate) fn run(r: Ready, until_idle: bool) {
    let shared = Arc::clone(&r.shared);
    Loop::new(r).run(until_idle);
    shared.connected.store(false, Ordering::Relaxed);
    shared.finished.store(true, Ordering::Release);
}

struct Loop {
    r: Ready,
    source: Source,
    acked: Option<Position>,
    in_flight: VecDeque<Flight>,
    in_flight_bytes: u64,
    link: Option<Link>,
    /// When the current session opened, and how many records it had acknowledged: a session
    /// resets the backoff only once it proved healthy.
    session: Option<(Instant, u64)>,
    backoff: Duration,
    next_attempt: Instant,
    /// The deliberate start's marker, until a record after it is acknowledged; whether this
    /// session sent it.
    marker: Option<Vec<u8>>,
    marker_sent: bool,
    /// Records still to be counted as resent after a reconnection.
    resend: u64,
    dirty: bool,
    last_save: Instant,
    last_progress: Instant,
    last_lag: Option<Instant>,
}

impl Loop {
    fn new(r: Ready) -> Self {
        let mut source = Source::new(&r.config.dir, &r.prefix);
        let acked = r.start.from.clone();
        source.seek(acked.as_ref());
        let now = Instant::now();
        Loop {
            session: None,
            marker: r.start.marker.clone(),
            marker_sent: false,
            backoff: r.config.backoff.0,
            r,
            source,
            acked,
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            link: None,
            next_attempt: now,
            resend: 0,
            dirty: false,
            last_save: now,
            last_progress: now,
            last_lag: None,
        }
    }

    fn shared(&self) -> &Shared {
        &self.r.shared
    }

    fn run(mut self, until_idle: bool) {
        loop {
            let shared = self.shared();
            let stopping = shared.stopping();
            if shared.drain_over() {
                break;
            }
            let sending = !(stopping && shared.stop_sending.load(Ordering::Acquire));
            if !sending && (self.link.is_none() || self.in_flight.is_empty()) {
                // Nothing in flight to wait for (what a dropped session had in flight is
                // resent by the next run, from the cursor).
                break;
            }
            self.update_lag(false);
            if self.link.is_none() && !self.connect() {
                continue;
            }
            let idle = match self.round(sending) {
                Ok(idle) => idle,
                Err(e) => {
                    self.disconnect(&e);
                    continue;
                }
            };
            self.save(idle);
            if idle && (until_idle || stopping) {
                break;
            }
        }
        self.save(true);
        self.update_lag(true);
        if let Some(link) = self.link.take() {
            let left = self
                .shared()
                .drain_deadline()
                .map_or(Duration::from_secs(2), |d| {
                    d.saturating_duration_since(Instant::now())
                });
            link.close(
                self.r
                    .config
                    .connect_timeout
                    .min(left)
                    .min(Duration::from_secs(2)),
            );
        }
    }

    /// Tries to connect when the backoff allows; false when not connected.
    fn connect(&mut self) -> bool {
        let now = Instant::now();
        if now < self.next_attempt {
            let mut pause = (self.next_attempt - now).min(self.r.config.poll_interval);
            if self.shared().stopping() {
                pause = pause.min(super::transport::SLICE);
            }
            std::thread::sleep(pause);
            return false;
        }
        match Link::connect(&self.r) {
            Ok(link) => {
                self.link = Some(link);
                self.session = Some((Instant::now(), 0));
                self.marker_sent = false;
                self.shared().connected.store(true, Ordering::Relaxed);
                self.shared().sessions.fetch_add(1, Ordering::Relaxed);
                self.last_progress = Instant::now();
                true
            }
            Err(e) if e.kind() == ShipErrorKind::Stopped => false,
            Err(e) => {
                self.shared().failed(&e);
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(self.r.config.backoff.1);
                false
            }
        }
    }

    /// Resets the backoff once the session has lived long enough or carried enough records.
    fn note_acknowledged(&mut self, n: u64) {
        let Some((opened, acked)) = self.session.as_mut() else {
            return;
        };
        *acked += n;
        if *acked >= HEALTHY_ACKS || opened.elapsed() >= self.r.config.healthy_after {
            self.backoff = self.r.config.backoff.0;
            self.session = None;
        }
    }

    /// Drops the session; what it left unacknowledged is read and sent again on the next one.
    fn disconnect(&mut self, e: &ShipError) {
        self.shared().failed(e);
        self.shared().connected.store(false, Ordering::Relaxed);
        if let Some(link) = self.link.take() {
            // Nothing more is expected from it; just release the socket.
            link.close(Duration::ZERO);
        }
        self.session = None;
        self.resend = self.in_flight.iter().filter(|f| f.sent).count() as u64;
        self.in_flight.clear();
        self.in_flight_bytes = 0;
        self.source.seek(self.acked.as_ref());
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.r.config.backoff.1);
    }

    /// Sends the records that fit in the window (the marker first when one is due); true when
    /// everything written so far has been read.
    fn send_batch(&mut self) -> bool {
        let window = self.r.config.window;
        self.send_marker();
        loop {
            let Some(link) = self.link.as_ref() else {
                return false;
            };
            if !link.room(window) || self.in_flight_bytes >= MAX_IN_FLIGHT_BYTES {
                break;
            }
            let rec = match self.source.next_record() {
                Ok(Some(rec)) => rec,
                Ok(None) => return true,
                Err(e) => {
                    let e = ShipError::with_source(
                        ShipErrorKind::Io,
                        format!("cannot read the {} files", self.r.prefix),
                        e,
                    );
                    self.shared().failed(&e);
                    return true;
                }
            };
            self.report_skipped();
            let size = self.r.header.message_len(&rec.line);
            if size > self.r.config.max_message_size {
                let e = ShipError::new(
                    ShipErrorKind::Oversize,
                    format!(
                        "record seq {} in {} is {size} bytes as a message, over the receiver's limit of {}: not sent (never truncated)",
                        rec.end.seq.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                        rec.end.file,
                        self.r.config.max_message_size
                    ),
                );
                self.shared()
                    .refused_oversize
                    .fetch_add(1, Ordering::Relaxed);
                self.shared().failed(&e);
                self.in_flight.push_back(Flight {
                    end: Some(rec.end),
                    bytes: 0,
                    sent: false,
                });
                continue;
            }
            if let Some(link) = self.link.as_mut() {
                link.send(&self.r.header, &rec.line);
            }
            self.shared().shipped.fetch_add(1, Ordering::Relaxed);
            if self.resend > 0 {
                self.resend -= 1;
                self.shared().resent.fetch_add(1, Ordering::Relaxed);
            }
            let bytes = rec.line.len() as u64 + 1;
            self.in_flight_bytes += bytes;
            self.in_flight.push_back(Flight {
                end: Some(rec.end),
                bytes,
                sent: true,
            });
        }
        false
    }

    /// Sends what fits (unless stopping without sending), waits for acknowledgements; true
    /// when everything written so far is acknowledged.
    fn round(&mut self, sending: bool) -> Result<bool, ShipError> {
        let window = self.r.config.window;
        let at_end = sending && self.send_batch();
        self.report_skipped();
        let Some(link) = self.link.as_mut() else {
            return Ok(false);
        };
        link.flush()?;
        // With room left and more to read, only collect what has already arrived.
        let full = !link.room(window) || self.in_flight_bytes >= MAX_IN_FLIGHT_BYTES;
        let mut wait = if at_end || full || !sending {
            self.r.config.poll_interval
        } else {
            Duration::ZERO
        };
        if let Some(d) = self.r.shared.drain_deadline() {
            // Stopping: no wait outlasts the drain time.
            wait = wait.min(d.saturating_duration_since(Instant::now()));
        }
        let mut acked = if wait.is_zero() && link.outstanding() > 0 {
            0
        } else {
            link.acknowledged(wait)?
        };
        let now = Instant::now();
        if acked > 0 {
            self.last_progress = now;
        } else if link.outstanding() > 0
            && now.duration_since(self.last_progress) > self.r.config.ack_timeout
        {
            return Err(ShipError::new(
                ShipErrorKind::TimedOut,
                format!(
                    "ack deadline ({:?}) expired: no acknowledgement from {}",
                    self.r.config.ack_timeout, self.r.config.to
                ),
            ));
        }
        self.note_acknowledged(acked as u64);
        while let Some(front) = self.in_flight.front() {
            if front.sent {
                if acked == 0 {
                    break;
                }
                acked -= 1;
                self.shared().acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            let Some(f) = self.in_flight.pop_front() else {
                break;
            };
            self.in_flight_bytes -= f.bytes;
            if let Some(end) = f.end {
                // A record after the marker is acknowledged: the start is on record.
                self.marker = None;
                self.acked = Some(end);
                self.dirty = true;
            }
        }
        Ok(at_end && self.in_flight.is_empty())
    }

    /// Sends the deliberate start's marker first on a session, until a record after it is
    /// acknowledged (a session that broke before that sends it again).
    fn send_marker(&mut self) {
        let (Some(marker), false) = (&self.marker, self.marker_sent) else {
            return;
        };
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.send(&self.r.header, marker);
        self.marker_sent = true;
        let bytes = marker.len() as u64 + 1;
        self.in_flight_bytes += bytes;
        self.in_flight.push_back(Flight {
            end: None,
            bytes,
            sent: true,
        });
    }

    fn report_skipped(&mut self) {
        for s in std::mem::take(&mut self.source.skipped) {
            self.shared().skipped.fetch_add(1, Ordering::Relaxed);
            let what = match s {
                Skipped::MissingFile(f) => {
                    format!("{f} was deleted before it was shipped; its records are missing")
                }
                Skipped::TornTail { file, bytes } => {
                    format!("{file} ends with {bytes} bytes without a newline; not shipped")
                }
            };
            self.shared()
                .failed(&ShipError::new(ShipErrorKind::Io, what));
        }
    }

    /// Saves the cursor when `force` (everything written is acknowledged, or the loop ends) or
    /// once per cursor interval: a budget in time, not one fsync per batch.
    fn save(&mut self, force: bool) {
        if !self.dirty {
            return;
        }
        let due = force || self.last_save.elapsed() >= self.r.config.cursor_interval;
        if !due {
            return;
        }
        let Some(pos) = self.acked.clone() else {
            return;
        };
        match self.r.cursor.store(&self.r.prefix, &pos) {
            Ok(()) => {
                self.dirty = false;
                self.last_save = Instant::now();
            }
            Err(e) => self.shared().failed(&e),
        }
    }

    /// Recomputes the lag counters from the directory (at most every [`LAG_EVERY`]).
    fn update_lag(&mut self, force: bool) {
        if !force && self.last_lag.is_some_and(|t| t.elapsed() < LAG_EVERY) {
            return;
        }
        self.last_lag = Some(Instant::now());
        let Ok(files) = self.source.files() else {
            return;
        };
        let mut bytes = 0u64;
        for f in &files {
            match &self.acked {
                Some(p) if f.written_as() == p.file => {
                    if !f.is_compressed() {
                        bytes += f.len_on_disk().saturating_sub(p.offset);
                    }
                }
                Some(p) if !super::source::after(f.written_as(), &p.file) => {}
                _ => bytes += f.len_on_disk(),
            }
        }
        self.shared().lag_bytes.store(bytes, Ordering::Relaxed);
        let in_flight = self.in_flight.len() as u64;
        let records = match (files.iter().rev().find(|f| !f.is_compressed()), &self.acked) {
            (Some(last), acked) => match last_seq(last.path()) {
                Some(written) => {
                    written.saturating_sub(acked.as_ref().and_then(|p| p.seq).unwrap_or(0))
                }
                None => in_flight,
            },
            (None, _) => in_flight,
        };
        let records = if bytes == 0 { 0 } else { records };
        self.shared().lag_records.store(records, Ordering::Relaxed);
    }
}

/// The `seq` of the last complete record of a file, from its tail.
fn last_seq(path: &std::path::Path) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = crate::trail::open::open_in_trail(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(64 * 1024);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    let end = memchr::memrchr(b'\n', &tail)?;
    let body = &tail[..end];
    let begin = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
    crate::chain::parse_seq(&body[begin..])
}
