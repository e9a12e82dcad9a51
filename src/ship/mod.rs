//! Shipping both streams off the host to a central syslog receiver, with the local files as
//! the write-ahead log.
//!
//! A [`Shipper`] reads one stream's files in order (sealed files, compressed ones, then the
//! active one, by the sink's own file names), sends every record as one RFC 5424 message whose
//! MSG is the JSON line byte for byte, and keeps a cursor that advances only when the receiver
//! has acknowledged everything before it. The cursor is replaced atomically, so a restart of
//! either side resumes exactly there: nothing is skipped, and what is sent twice is limited to
//! what was in flight (the audit `seq` identifies it; `tracing-audit verify --received` counts
//! it). A receiver outage only makes files pile up locally; with
//! [`Retention::keep_unshipped`](crate::sink::Retention::keep_unshipped) retention does
//! not delete them.
//!
//! | destination | acknowledged by | the cursor means |
//! |---|---|---|
//! | `relp://host:port` (TLS with [`Shipper::tls`]) | a RELP `200` per message | queued by the receiver (rsyslog: in its queue, on disk only with a disk-assisted queue) |
//! | `syslog+tcp://host:port` | nothing | accepted by the local kernel: records in the socket buffers are lost if the receiver crashes |
//! | `syslog+tls://host:port` (RFC 5425) | nothing | the same, over TLS |
//!
//! RELP is the right choice for the audit stream; plain syslog fits the debug stream and
//! receivers without RELP (syslog-ng).
//!
//! The shipper runs on its own thread ([`Shipper::spawn`]), in the application next to the
//! layer or in the `tracing-audit ship` sidecar, and never on the path of a logging call.
//!
//! ```no_run
//! use std::time::Duration;
//! use tracing_audit::ship::{Shipper, Tls};
//! use tracing_audit::Stream;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let audit = Shipper::new("/var/log/myapp", "relp://central.example:2514".parse()?)
//!     .stream(Stream::Audit)
//!     .tls(Tls::ca_file("/etc/ssl/central-ca.pem"))
//!     .spawn()?;
//! // ... later, in a health check:
//! let h = audit.health();
//! if h.lag_bytes > 1 << 30 || !h.connected {
//!     eprintln!("audit shipping behind: {h:?}");
//! }
//! audit.shutdown(Duration::from_secs(5));
//! # Ok(()) }
//! ```

mod cursor;
mod error;
mod message;
mod relp;
mod run;
mod source;
mod tls;
mod transport;

pub use crate::trail::cursor::Position;
pub use error::{ShipError, ShipErrorKind};
pub use tls::Tls;
pub use transport::{Destination, Protocol};

use crate::Stream;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The name of the cursor file in the trail directory unless [`Shipper::cursor`] says otherwise.
pub const DEFAULT_CURSOR: &str = "ship.cursor";

/// Records acknowledged on one session after which it counts as healthy and resets the backoff,
/// whatever its age (see [`Shipper::healthy_after`]).
pub const HEALTHY_ACKS: u64 = 1000;

/// Ships one stream's files to one receiver. A builder; [`spawn`](Shipper::spawn) starts it.
///
/// | setting | default |
/// |---|---|
/// | [`stream`](Shipper::stream) | [`Stream::Audit`] |
/// | [`prefix`](Shipper::prefix) | the stream's name (`audit`, `debug`) |
/// | [`cursor`](Shipper::cursor) | `<dir>/ship.cursor` ([`DEFAULT_CURSOR`]) |
/// | [`tls`](Shipper::tls) | none (required for `syslog+tls://`) |
/// | [`facility`](Shipper::facility) | audit: 13 (log audit), debug: 1 (user) |
/// | [`severity`](Shipper::severity) | audit: 6 (informational), debug: 7 (debug) |
/// | [`app_name`](Shipper::app_name) | `tracing-audit` |
/// | [`hostname`](Shipper::hostname) | this machine's name |
/// | [`max_message_size`](Shipper::max_message_size) | 64 KiB (set rsyslog's `maxMessageSize` at least this high) |
/// | [`window`](Shipper::window) | 128 messages in flight (RELP) |
/// | [`connect_timeout`](Shipper::connect_timeout) | 5 s (name resolution and TCP connection) |
/// | [`tls_handshake_timeout`](Shipper::tls_handshake_timeout) | 10 s for the whole handshake |
/// | [`open_timeout`](Shipper::open_timeout) | 10 s for the answer to RELP `open` |
/// | [`ack_timeout`](Shipper::ack_timeout) | 30 s without an acknowledgement while messages are in flight |
/// | [`backoff`](Shipper::backoff) | 100 ms doubling to 30 s between connection attempts; reset only by a healthy session |
/// | [`healthy_after`](Shipper::healthy_after) | a session is healthy once it lived 10 s or had 1,000 records acknowledged |
/// | [`start_at_seq`](Shipper::start_at_seq) | none: resume from the cursor, checked against the trail |
/// | [`poll_interval`](Shipper::poll_interval) | 200 ms (how often an idle shipper looks for new records) |
/// | [`cursor_interval`](Shipper::cursor_interval) | 1 s (the cursor is also saved whenever everything written so far is acknowledged, and when the shipper stops) |
#[derive(Clone, Debug)]
#[must_use]
pub struct Shipper {
    dir: PathBuf,
    to: Destination,
    stream: Stream,
    prefix: Option<String>,
    cursor: Option<PathBuf>,
    tls: Option<Tls>,
    facility: Option<u8>,
    severity: Option<u8>,
    app_name: String,
    hostname: Option<String>,
    max_message_size: usize,
    window: usize,
    connect_timeout: Duration,
    tls_handshake_timeout: Duration,
    open_timeout: Duration,
    ack_timeout: Duration,
    backoff: (Duration, Duration),
    healthy_after: Duration,
    start_at_seq: Option<u64>,
    poll_interval: Duration,
    cursor_interval: Duration,
}

impl Shipper {
    /// Ships the files in `dir` to `to`, every other setting at its default.
    pub fn new(dir: impl Into<PathBuf>, to: Destination) -> Self {
        Shipper {
            dir: dir.into(),
            to,
            stream: Stream::Audit,
            prefix: None,
            cursor: None,
            tls: None,
            facility: None,
            severity: None,
            app_name: "tracing-audit".to_owned(),
            hostname: None,
            max_message_size: 64 * 1024,
            window: 128,
            connect_timeout: Duration::from_secs(5),
            tls_handshake_timeout: Duration::from_secs(10),
            open_timeout: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(30),
            backoff: (Duration::from_millis(100), Duration::from_secs(30)),
            healthy_after: Duration::from_secs(10),
            start_at_seq: None,
            poll_interval: Duration::from_millis(200),
            cursor_interval: Duration::from_secs(1),
        }
    }

    /// Which stream the files hold: sets the MSGID (`AUDIT`, `DEBUG`) and the default prefix,
    /// facility and severity.
    pub fn stream(mut self, stream: Stream) -> Self {
        self.stream = stream;
        self
    }

    /// The sink's file name prefix, when it is not the stream's name.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_owned());
        self
    }

    /// Where the cursor is kept. Several shippers (one per stream) may share one file.
    pub fn cursor(mut self, path: impl Into<PathBuf>) -> Self {
        self.cursor = Some(path.into());
        self
    }

    /// Connects with TLS, verifying the receiver's certificate (RELP over TLS, or RFC 5425 with
    /// `syslog+tls://`).
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The syslog facility (0-23).
    pub fn facility(mut self, facility: u8) -> Self {
        self.facility = Some(facility);
        self
    }

    /// The syslog severity (0-7).
    pub fn severity(mut self, severity: u8) -> Self {
        self.severity = Some(severity);
        self
    }

    /// The APP-NAME field.
    pub fn app_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.app_name);
        self
    }

    /// The HOSTNAME field.
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.to_owned());
        self
    }

    /// The largest message (header and record) the receiver accepts. A larger record is
    /// refused, counted and reported, never truncated: a cut record would break the chain.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How many RELP messages may await their acknowledgement (at least 1).
    pub fn window(mut self, n: usize) -> Self {
        self.window = n.max(1);
        self
    }

    /// How long resolving the receiver's name and the TCP connection may take together. Also
    /// the longest a single write to the receiver may block.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// How long the whole TLS handshake may take, however the server paces its bytes.
    pub fn tls_handshake_timeout(mut self, t: Duration) -> Self {
        self.tls_handshake_timeout = t;
        self
    }

    /// How long the receiver may take to answer RELP `open`.
    pub fn open_timeout(mut self, t: Duration) -> Self {
        self.open_timeout = t;
        self
    }

    /// How long a session must last (or [`HEALTHY_ACKS`] records be acknowledged on it) before
    /// it counts as healthy and resets the backoff. A receiver that accepts sessions and breaks
    /// them soon after (a protocol error after `open`, a crash loop) thus sees the pause between
    /// attempts keep doubling instead of a reconnection storm resending the same window.
    pub fn healthy_after(mut self, t: Duration) -> Self {
        self.healthy_after = t;
        self
    }

    /// Starts at the record with sequence number `seq` on purpose, ignoring (and later
    /// replacing) the saved cursor. The first message of every session until that record is
    /// acknowledged is a `ship_start` marker naming it (`seq` and MAC), so the central side's
    /// `verify --received` reports a deliberate start instead of a cut head. Audit streams only.
    pub fn start_at_seq(mut self, seq: u64) -> Self {
        self.start_at_seq = Some(seq);
        self
    }

    /// How long messages may await their acknowledgement before the session is dropped and
    /// they are sent again on a new one.
    pub fn ack_timeout(mut self, t: Duration) -> Self {
        self.ack_timeout = t;
        self
    }

    /// The pause after a failed connection attempt: `min`, doubling up to `max`.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max.max(min));
        self
    }

    /// How often an idle shipper looks for new records.
    pub fn poll_interval(mut self, t: Duration) -> Self {
        self.poll_interval = t.max(Duration::from_millis(1));
        self
    }

    /// How often the cursor is saved while records keep coming.
    pub fn cursor_interval(mut self, t: Duration) -> Self {
        self.cursor_interval = t;
        self
    }

    /// Checks the configuration, reads the TLS files and the cursor (refused with
    /// [`ShipErrorKind::Cursor`] when it does not match the trail), and starts shipping on a
    /// thread of its own.
    pub fn spawn(self) -> Result<ShipperHandle, ShipError> {
        self.spawn_inner(false)
    }

    /// [`spawn`](Shipper::spawn), shipping until every record in the directory has been
    /// acknowledged ([`ShipperHandle::is_finished`] then turns true):
    /// [`run_until_idle`](Shipper::run_until_idle) on a thread that [`ShipperHandle::stop`]
    /// can end.
    pub fn spawn_until_idle(self) -> Result<ShipperHandle, ShipError> {
        self.spawn_inner(true)
    }

    fn spawn_inner(self, until_idle: bool) -> Result<ShipperHandle, ShipError> {
        let ready = self.prepare()?;
        let shared = Arc::clone(&ready.shared);
        let thread = std::thread::Builder::new()
            .name(format!("tracing-audit-ship-{}", ready.prefix))
            .spawn(move || run::run(ready, until_idle))
            .map_err(|e| {
                ShipError::with_source(ShipErrorKind::Io, "cannot start the shipping thread", e)
            })?;
        Ok(ShipperHandle {
            shared,
            thread: Some(thread),
        })
    }

    /// Ships on the calling thread until every record in the directory has been acknowledged
    /// (for batch jobs and `tracing-audit ship --until-idle`), then closes the session. A
    /// receiver that is down is retried with backoff for as long as it takes.
    pub fn run_until_idle(self) -> Result<Health, ShipError> {
        let ready = self.prepare()?;
        let shared = Arc::clone(&ready.shared);
        run::run(ready, true);
        Ok(shared.health())
    }

    fn prepare(self) -> Result<run::Ready, ShipError> {
        let prefix = self
            .prefix
            .clone()
            .unwrap_or_else(|| self.stream.as_str().to_owned());
        if prefix.is_empty() || prefix.contains('/') {
            return Err(ShipError::new(
                ShipErrorKind::Config,
                format!("{prefix:?} is not a file name prefix"),
            ));
        }
        if self.facility.is_some_and(|f| f > 23) || self.severity.is_some_and(|s| s > 7) {
            return Err(ShipError::new(
                ShipErrorKind::Config,
                "the facility must be 0-23 and the severity 0-7",
            ));
        }
        let tls = match (self.to.protocol(), &self.tls) {
            (Protocol::SyslogTcp, Some(_)) => {
                return Err(ShipError::new(
                    ShipErrorKind::Config,
                    "syslog+tcp:// is plain TCP; use syslog+tls:// to ship over TLS",
                ))
            }
            (Protocol::SyslogTls, None) => {
                return Err(ShipError::new(
                    ShipErrorKind::Config,
                    "syslog+tls:// needs a CA to verify the receiver (Shipper::tls, --tls-ca)",
                ))
            }
            (_, Some(tls)) => Some((tls.clone(), tls.client_config()?)),
            (_, None) => None,
        };
        let cursor_path = self
            .cursor
            .clone()
            .unwrap_or_else(|| self.dir.join(DEFAULT_CURSOR));
        let cursor = shared_cursor(&cursor_path)?;
        let start = self.start(&prefix, &cursor, &cursor_path)?;
        let (facility, severity) = match self.stream {
            Stream::Audit => (13, 6),
            Stream::Debug => (1, 7),
        };
        let msgid = self.stream.as_str().to_ascii_uppercase();
        let hostname = self.hostname.clone().unwrap_or_else(message::hostname);
        let header = message::Header::new(
            self.facility.unwrap_or(facility),
            self.severity.unwrap_or(severity),
            &hostname,
            &self.app_name,
            &std::process::id().to_string(),
            &msgid,
        );
        Ok(run::Ready {
            start,
            prefix,
            header,
            tls,
            cursor,
            shared: Arc::new(Shared::default()),
            config: self,
        })
    }
}

impl Shipper {
    /// Where shipping begins: the saved cursor once it has been checked against the trail, or
    /// the record [`start_at_seq`](Shipper::start_at_seq) names, with the marker announcing it.
    fn start(
        &self,
        prefix: &str,
        cursor: &cursor::CursorFile,
        cursor_path: &Path,
    ) -> Result<run::Start, ShipError> {
        if let Some(seq) = self.start_at_seq {
            if self.stream != Stream::Audit {
                return Err(ShipError::new(
                    ShipErrorKind::Config,
                    "starting at a sequence number needs an audit stream (debug records have none)",
                ));
            }
            let (from, first) = source::find_seq(&self.dir, prefix, seq)?;
            let host = self.hostname.clone().unwrap_or_else(message::hostname);
            let marker =
                crate::trail::cursor::start_marker(prefix, &host, seq, first.mac.as_deref());
            return Ok(run::Start {
                from,
                marker: Some(marker),
            });
        }
        let from = cursor.get(prefix);
        if let Some(pos) = &from {
            crate::trail::cursor::check(&self.dir, prefix, pos).map_err(|m| {
                ShipError::new(
                    ShipErrorKind::Cursor,
                    format!(
                        "refusing to resume from the cursor {} (left as it is): {m}; to start from a chosen record on purpose, use --start-at-seq (Shipper::start_at_seq)",
                        cursor_path.display()
                    ),
                )
            })?;
        }
        Ok(run::Start { from, marker: None })
    }
}

/// One cursor object per file in this process, so shippers of several streams sharing a
/// cursor file never overwrite each other's positions.
fn shared_cursor(path: &Path) -> Result<Arc<cursor::CursorFile>, ShipError> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<cursor::CursorFile>>>> = OnceLock::new();
    let key = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut open = OPEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    open.retain(|_, w| w.strong_count() > 0);
    if let Some(c) = open.get(&key).and_then(Weak::upgrade) {
        return Ok(c);
    }
    let c = Arc::new(cursor::CursorFile::load(path)?);
    open.insert(key, Arc::downgrade(&c));
    Ok(c)
}

/// How shipping is doing (a snapshot; see [`ShipperHandle::health`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Messages sent, resent ones included.
    pub shipped: u64,
    /// Records acknowledged (RELP) or accepted by the kernel (syslog): the cursor is past them.
    pub acknowledged: u64,
    /// Messages sent again on a new session because the previous one ended before they were
    /// acknowledged (the receiver may hold them twice).
    pub resent: u64,
    /// Records larger than [`Shipper::max_message_size`]: not sent, not truncated.
    pub refused_oversize: u64,
    /// Records written and not yet acknowledged (audit: from the last `seq` on disk; debug:
    /// those in flight).
    pub lag_records: u64,
    /// Bytes of the stream's files not yet acknowledged (compressed size for compressed files).
    pub lag_bytes: u64,
    /// Whether a session with the receiver is open.
    pub connected: bool,
    /// Sessions opened (the first and every reconnection).
    pub sessions: u64,
    /// Failures so far (connections, protocol, files); the last one is in `last_error`.
    pub errors: u64,
    /// Files or torn tails skipped because they were gone or incomplete (a gap the central
    /// copy's verification reports).
    pub skipped: u64,
    /// The last failure, with its causes.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    shipped: AtomicU64,
    acknowledged: AtomicU64,
    resent: AtomicU64,
    refused_oversize: AtomicU64,
    lag_records: AtomicU64,
    lag_bytes: AtomicU64,
    connected: AtomicBool,
    sessions: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    last_error: Mutex<Option<String>>,
    stop: AtomicBool,
    /// Stopping sends nothing more: only acknowledgements of what is in flight are awaited.
    stop_sending: AtomicBool,
    drain_until: Mutex<Option<Instant>>,
    finished: AtomicBool,
}

impl Shared {
    fn health(&self) -> Health {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Health {
            shipped: get(&self.shipped),
            acknowledged: get(&self.acknowledged),
            resent: get(&self.resent),
            refused_oversize: get(&self.refused_oversize),
            lag_records: get(&self.lag_records),
            lag_bytes: get(&self.lag_bytes),
            connected: self.connected.load(Ordering::Relaxed),
            sessions: get(&self.sessions),
            errors: get(&self.errors),
            skipped: get(&self.skipped),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Whether a stop was asked for.
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Whether a stop was asked for and its drain time is over.
    fn drain_over(&self) -> bool {
        self.stopping()
            && self
                .drain_until
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none_or(|d| Instant::now() >= d)
    }

    /// Whether waiting for a new session must end now: the drain time is over, or the stop
    /// sends nothing more (a new session would have nothing to carry).
    fn abandon_connecting(&self) -> bool {
        self.drain_over() || self.stopping() && self.stop_sending.load(Ordering::Acquire)
    }

    /// The drain deadline, once stopping.
    fn drain_deadline(&self) -> Option<Instant> {
        if !self.stopping() {
            return None;
        }
        *self.drain_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failed(&self, e: &dyn std::error::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error::chain(e));
    }
}

/// A running shipper. Dropping it stops the thread without waiting for a drain; prefer
/// [`shutdown`](ShipperHandle::shutdown).
#[derive(Debug)]
pub struct ShipperHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl ShipperHandle {
    /// The counters, for a health endpoint or an alert on lag.
    pub fn health(&self) -> Health {
        self.shared.health()
    }

    /// Whether the thread has stopped.
    pub fn is_finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
    }

    /// Ships what is already written for up to `drain` more, closes the session and stops
    /// (the in-process shipper at the guard's drop). Returns the final counters.
    pub fn shutdown(mut self, drain: Duration) -> Health {
        self.halt(drain);
        self.shared.health()
    }

    /// Stops sending at once, waits up to `drain` for the acknowledgements of what is in
    /// flight, saves the cursor at the last acknowledged record, closes the session and stops
    /// (the sidecar on SIGTERM). A connection attempt, TLS handshake or RELP `open` under way is
    /// abandoned at once. Returns the final counters.
    pub fn stop(mut self, drain: Duration) -> Health {
        self.shared.stop_sending.store(true, Ordering::Release);
        self.halt(drain);
        self.shared.health()
    }

    fn halt(&mut self, drain: Duration) {
        *self
            .shared
            .drain_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + drain);
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ShipperHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.halt(Duration::ZERO);
        }
    }
}
