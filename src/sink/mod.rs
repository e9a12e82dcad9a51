//! Where each stream's records go: a bounded queue, a writer thread, and files or a `MakeWriter`.
//!
//! Every stream gets its own writer thread behind a bounded queue. Threads that emit records
//! copy them into the queue (a lock-free ring: emitting threads never wait for each other) and
//! return; the writer takes everything queued in one pass and writes it with as few calls as
//! possible (a batch). File sinks fsync on a thread of their own, so the writer keeps draining
//! the queue while the disk works, and every record written meanwhile shares the next `fsync`
//! (group commit).
//!
//! | behaviour        | AUDIT                                    | DEBUG                                   |
//! |------------------|------------------------------------------|-----------------------------------------|
//! | queue full       | the emitting thread waits for room (at most the [`Overflow::BlockFor`] bound, if set) | the record is dropped and counted; a `"N records dropped"` record is written once room returns |
//! | write error      | retried with backoff (1 ms doubling to 1 s) until it succeeds or the drain timeout at shutdown runs out | retried the same way, then given up and counted as `failed` |
//! | fsync default    | after every batch                        | never (only on `sync()` and rotation)   |
//! | queue default    | 8 MiB                                    | 8 MiB                                   |
//! | drain timeout    | 30 s                                     | 30 s                                    |
//!
//! A [`SinkHandle`] (from [`AuditHandle::sink`](crate::layer::AuditHandle::sink)) reports [`Health`]
//! counters and offers [`SinkHandle::sync`], which returns
//! only once everything emitted before it is on disk, or the error that prevents it: an
//! application that must not act without an audit record calls it and refuses the request on
//! `Err` (fail closed). Dropping the [`AuditGuard`](crate::layer::AuditGuard) drains the queue, writes a final checkpoint,
//! fsyncs (unless the durability is [`Durability::Never`]) and stops the thread; whatever could
//! not be written is counted as `failed`.
//!
//! ```no_run
//! use tracing_audit::{layer::AuditLayer, sink::FileSink, Stream};
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (layer, guard) = AuditLayer::builder()
//!     .audit_to_files(FileSink::new("/var/log/myapp/audit"))
//!     .debug_to_files(FileSink::new("/var/log/myapp/debug"))
//!     .debug(|d| d.queue_capacity(1 << 20))
//!     .build()?;
//! tracing_subscriber::registry().with(layer).init();
//! let audit = guard.handle();
//!
//! tracing::info!(target: "audit", actor = "alice", action = "export", resource = "report-7", outcome = "allowed");
//! if let Err(err) = audit.sync() {
//!     // The record is not on disk: refuse the export instead of doing it unaudited.
//!     return Err(err.into());
//! }
//! // ... perform the export ...
//!
//! let health = audit.health(Stream::Debug);
//! println!("debug records dropped so far: {}", health.dropped);
//! drop(guard); // drains both queues, final checkpoint, fsync
//! # Ok(()) }
//! ```
//!
//! Writing to a file past `RLIMIT_FSIZE` raises `SIGXFSZ`, whose default action kills the
//! process without a trace. Starting a file sink therefore installs an empty `SIGXFSZ` handler
//! if (and only if) the signal still has its default action, so the write fails with `EFBIG`
//! instead and is counted and reported like any other write error. A handler, unlike "ignored",
//! is reset by `exec`: child processes the application starts get the default action back.
//! (A `MakeWriter` target that writes to files is the application's business.)

mod destination;
mod error;
mod file;
mod health;
mod queue;
mod syncer;
#[cfg(feature = "tlog")]
mod witness;
mod writer;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::writer::BoxMakeWriter;

use destination::Destination;
pub use error::{SinkError, SinkErrorKind};
/// The clock a [`FileSink`] reads (tests inject one; private `_test-hooks` feature).
#[cfg(feature = "_test-hooks")]
#[doc(hidden)]
pub use file::Clock;
use file::FileSet;
pub use file::{Durability, FileSink, Retention, Rotation};
#[allow(unused_imports)]
pub use health::Health;
use queue::Shared;
/// Back-pressure for async callers: what the HTTP middleware uses instead of blocking a worker.
#[cfg_attr(not(feature = "http"), allow(unused_imports))]
pub(crate) use queue::{deferring, Deferred};
use writer::{Resume, Worker};

use crate::Stream;

/// Default queue capacity in bytes.
const DEFAULT_QUEUE_CAPACITY: usize = 8 << 20;
/// Default time the guard gives the writer to drain at shutdown.
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time the guard waits beyond the drain timeout for a writer stuck inside a write call.
const JOIN_GRACE: Duration = Duration::from_secs(2);

/// Where a stream's records are written.
#[derive(Debug)]
pub(crate) enum Target {
    /// Any `MakeWriter` (stdout, a `tracing_appender` rolling appender, a test buffer): one
    /// `make_writer()` per batch, `write_all` + `flush`; no rotation, no fsync, no read-back.
    Writer(BoxMakeWriter),
    /// Rotating files in a directory, configured by a [`FileSink`].
    Files(Box<FileSink>),
}

/// Everything needed to start one stream's sink.
pub(crate) struct SinkSpec {
    pub(crate) stream: Stream,
    pub(crate) target: Target,
    /// Chains AUDIT records; `None` for DEBUG.
    pub(crate) framer: Option<Box<dyn crate::chain::framing::Framer>>,
}

impl fmt::Debug for SinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkSpec")
            .field("stream", &self.stream)
            .field("target", &self.target)
            .field("framed", &self.framer.is_some())
            .finish()
    }
}

/// What an AUDIT caller does when its stream's queue is full (the disk stopped accepting
/// writes, or a flood outruns it). DEBUG records are dropped and counted instead, always.
///
/// ```
/// use std::time::Duration;
/// use tracing_audit::{sink::Overflow, layer::AuditLayer};
///
/// // A request path may wait a quarter second for the audit queue, then the record is lost
/// // loudly: counted in health, and the next `sync()` fails.
/// let builder = AuditLayer::builder().audit(|a| a.overflow(Overflow::BlockFor(Duration::from_millis(250))));
/// # let _ = builder;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Wait for room as long as it takes (the default: no audit record is ever given up on
    /// while the process lives).
    #[default]
    Block,
    /// Wait at most this long, then give the record up: it is counted in
    /// [`Health::overflowed`] and the next `sync()` fails with
    /// [`SinkErrorKind::Overflowed`]. For services that must not stall every worker thread on a
    /// dead disk (Kubernetes' `blocking` mode with a bound).
    BlockFor(Duration),
}

/// Queue and shutdown settings of one stream, whatever its destination.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    pub(crate) queue_capacity: Option<usize>,
    pub(crate) drain_timeout: Option<Duration>,
    pub(crate) overflow: Overflow,
}

impl Tuning {
    pub(crate) const DEFAULT: Tuning = Tuning {
        queue_capacity: None,
        drain_timeout: None,
        overflow: Overflow::Block,
    };
}

/// Starts the writer thread for one stream.
#[cfg(test)]
pub(crate) fn spawn(spec: SinkSpec) -> Result<(SinkHandle, SinkGuard), SinkError> {
    spawn_tuned(spec, Tuning::DEFAULT)
}

pub(crate) fn spawn_tuned(
    spec: SinkSpec,
    tuning: Tuning,
) -> Result<(SinkHandle, SinkGuard), SinkError> {
    let SinkSpec {
        stream,
        target,
        framer,
    } = spec;
    #[cfg(feature = "tlog")]
    let (mut witnesses, mut witness_trail) = (Vec::new(), None);
    let (dest, resume, rotates, durability) = match target {
        // A MakeWriter is flushed on every write and offers nothing more, so every batch is
        // as durable as it will get.
        Target::Writer(make_writer) => (
            Destination::Writer(destination::MadeWriter::new(make_writer)),
            Resume::default(),
            false,
            Durability::EveryBatch,
        ),
        Target::Files(config) => {
            // Before the first byte is written, so a file size limit surfaces as EFBIG.
            ignore_sigxfsz();
            // A chained stream records what retention deletes before it deletes it.
            let chained = framer.as_ref().map(|f| f.signs_epochs());
            let (files, recovered) =
                FileSet::open_for(&config, stream.as_str(), chained).map_err(|err| {
                    SinkError::io(
                        format!(
                            "opening the {stream} sink's files in {}",
                            config.dir().display()
                        ),
                        Arc::new(err),
                    )
                })?;
            let mut files = files;
            if framer.is_some() {
                open_sealed_successor(&mut files, recovered.last_line.as_deref()).map_err(
                    |err| {
                        SinkError::io(
                            format!(
                                "opening the {stream} sink's files in {}",
                                config.dir().display()
                            ),
                            Arc::new(err),
                        )
                    },
                )?;
            }
            let default_durability = match stream {
                Stream::Audit => Durability::EveryBatch,
                Stream::Debug => Durability::Never,
            };
            let trail = Some((config.dir().to_owned(), files.prefix().to_owned()));
            #[cfg(feature = "tlog")]
            {
                witnesses = config.witnesses.clone();
                witness_trail = trail.clone();
            }
            (
                Destination::Files(Box::new(files)),
                Resume {
                    last_line: recovered.last_line,
                    torn: recovered.torn,
                    published: recovered.published,
                    trail,
                },
                true,
                config.durability_or(default_durability),
            )
        }
    };
    let queue_capacity = tuning.queue_capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY);
    let drain_timeout = tuning.drain_timeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT);
    let wait_for_room = match tuning.overflow {
        Overflow::Block => None,
        Overflow::BlockFor(bound) => Some(bound),
    };

    let shared = Arc::new(Shared::new(stream, queue_capacity, wait_for_room)?);
    if let Destination::Files(files) = &dest {
        let writer = Arc::downgrade(&shared);
        files.set_waker(Box::new(move || {
            if let Some(shared) = writer.upgrade() {
                shared.wake_writer_now();
            }
        }));
    }
    let worker = Worker::new(Arc::clone(&shared), dest, framer, durability, rotates);
    let thread_shared = Arc::clone(&shared);
    let thread = thread::Builder::new()
        .name(format!("tracing-audit-{stream}"))
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| worker.run(resume)));
            if result.is_err() {
                let err = SinkError::closed(thread_shared.stream);
                thread_shared
                    .counters
                    .set_last_error(format!("{} sink: the writer thread panicked", stream));
                thread_shared.close(0, Some(err));
            }
        })
        .map_err(|err| {
            SinkError::io(
                format!("starting the {stream} sink's writer thread"),
                Arc::new(err),
            )
        })?;
    #[cfg(feature = "tlog")]
    if let Some((dir, prefix)) = &witness_trail {
        witness::WitnessSide::start(&shared, dir, prefix, witnesses).map_err(|err| {
            SinkError::io(
                format!("starting the {stream} sink's witness submission"),
                Arc::new(err),
            )
        })?;
    }
    let handle = SinkHandle {
        shared: Arc::clone(&shared),
    };
    let guard = SinkGuard {
        shared,
        thread: Some(thread),
        drain_timeout,
    };
    Ok((handle, guard))
}

/// If the newest file ends with the chain's seal, the previous run stopped between sealing it
/// and opening its successor (a crash, or a rotation that kept failing until shutdown). A sealed
/// file must not be written again, so the successor is opened now, as of the seal's time, which
/// gives it the name the seal announced.
fn open_sealed_successor(files: &mut FileSet, last_line: Option<&[u8]>) -> std::io::Result<()> {
    let Some(line) = last_line else {
        return Ok(());
    };
    if crate::chain::control_kind(line) != Some(b"seal".as_slice()) {
        return Ok(());
    }
    let seal: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
    if seal["next"].as_str() == Some(files.current_name()) {
        return Ok(());
    }
    let at = seal["ts"]
        .as_str()
        .and_then(|ts| chrono::DateTime::parse_from_rfc3339(ts).ok())
        .map(std::time::SystemTime::from)
        .unwrap_or_else(|| files.now());
    files.sync()?;
    files.rotate(at)
}

/// Installs an empty `SIGXFSZ` handler unless the application installed its own disposition,
/// so that a write past the file size limit fails with `EFBIG` instead of killing the process.
/// A handler (not `SIG_IGN`) because `exec` resets handlers: children do not inherit it.
fn ignore_sigxfsz() {
    #[cfg(unix)]
    {
        use std::sync::Once;
        static ONCE: Once = Once::new();
        extern "C" fn on_sigxfsz(_: libc::c_int) {}
        ONCE.call_once(|| {
            // SAFETY: querying and setting a signal disposition has no memory-safety
            // preconditions; `old` and `new` are properly sized, zeroed `sigaction`s, and the
            // handler does nothing, so it is async-signal-safe.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(libc::SIGXFSZ, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_DFL
                {
                    let mut new: libc::sigaction = std::mem::zeroed();
                    new.sa_sigaction = on_sigxfsz as extern "C" fn(libc::c_int) as usize;
                    new.sa_flags = libc::SA_RESTART;
                    libc::sigemptyset(&mut new.sa_mask);
                    libc::sigaction(libc::SIGXFSZ, &new, std::ptr::null_mut());
                }
            }
        });
    }
}

/// A stream sink's health counters and its fail-closed `sync`.
///
/// Cheap to clone; every clone refers to the same sink.
#[derive(Clone)]
pub struct SinkHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkHandle")
            .field("stream", &self.shared.stream)
            .finish_non_exhaustive()
    }
}

impl SinkHandle {
    /// Which stream this sink writes.
    pub fn stream(&self) -> Stream {
        self.shared.stream
    }

    /// A snapshot of the sink's counters.
    pub fn health(&self) -> Health {
        self.shared.health()
    }

    /// Returns when everything submitted before the call is written and synced, or the error
    /// that prevents it.
    ///
    /// For file targets "synced" means `fsync`ed, whatever the durability policy; for a
    /// `MakeWriter` target it means written and flushed. While the writer is failing with these
    /// records still pending (a full disk, a file size limit) this returns that error at once
    /// instead of waiting: an application that must not act without its audit record refuses
    /// the request. After the sink shut down it returns an error for records it did not write.
    ///
    /// A failed fsync is final for the records it covered: the kernel may have dropped their
    /// pages, and a retried fsync can succeed without them. A `sync()` whose last record fell
    /// under a failed fsync returns that error even after a later fsync succeeded.
    pub fn sync(&self) -> Result<(), SinkError> {
        self.shared.sync(None)
    }

    /// Like [`sync`](Self::sync), but gives up with [`SinkErrorKind::TimedOut`] after
    /// `timeout`, for a request path with a latency budget.
    pub fn sync_timeout(&self, timeout: Duration) -> Result<(), SinkError> {
        self.shared.sync(Some(timeout))
    }

    /// Queues one record: a JSON object without a trailing newline.
    ///
    /// AUDIT waits for room when the queue is full, unless the thread is inside
    /// [`deferring`]: then the record is handed back to the async caller that waits for room
    /// without blocking the thread. DEBUG drops and counts the record.
    #[cfg_attr(not(any(test, feature = "_test-hooks")), allow(dead_code))]
    pub(crate) fn submit(&self, record: &[u8]) {
        self.shared.submit_or_defer(record);
    }
}

/// Keeps a stream's writer thread running; dropping it drains and stops the sink. Applications
/// hold an [`AuditGuard`](crate::layer::AuditGuard), which owns one per stream.
///
/// Drop waits up to the drain timeout (30 s by default) for everything queued to be written,
/// writes the chain's final checkpoint, fsyncs and joins the thread. Records still unwritten
/// when the timeout runs out are counted as `failed` in [`Health`], and any later submission
/// is refused (AUDIT: counted as `failed`, DEBUG: counted as `dropped`).
#[must_use = "dropping the guard stops the sink"]
#[doc(hidden)]
pub struct SinkGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    drain_timeout: Duration,
}

impl fmt::Debug for SinkGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkGuard")
            .field("stream", &self.shared.stream)
            .field("drain_timeout", &self.drain_timeout)
            .finish_non_exhaustive()
    }
}

impl SinkGuard {
    /// A handle to the same sink, for reading its health after the guard is gone.
    pub fn handle(&self) -> SinkHandle {
        SinkHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        self.stop_writer();
        // The final checkpoint is published now: give the witnesses their chance at it.
        #[cfg(feature = "tlog")]
        self.shared.witness.stop(witness::WITNESS_DRAIN);
    }
}

impl SinkGuard {
    fn stop_writer(&mut self) {
        let start = Instant::now();
        self.shared.request_shutdown(start + self.drain_timeout);
        if self
            .shared
            .wait_closed(start + self.drain_timeout + JOIN_GRACE)
        {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        } else {
            // The writer is stuck inside a write call. Leave the thread behind rather than hang
            // the application's exit, and make the loss visible.
            self.shared.counters.set_last_error(format!(
                "{} sink: the writer did not finish within the drain timeout",
                self.shared.stream
            ));
            self.shared
                .close(0, Some(SinkError::closed(self.shared.stream)));
        }
    }
}

/// Entry points for this crate's integration tests, behind the private `_test-hooks` feature;
/// not part of the API (they write raw bytes into a sink past the layer's redaction).
#[cfg(feature = "_test-hooks")]
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// Handles `SIGXFSZ` as file sinks do, for tests that write files through a `MakeWriter`.
    pub fn ignore_sigxfsz() {
        super::ignore_sigxfsz();
    }

    /// Starts a sink on a `MakeWriter` with the given queue capacity and drain timeout.
    pub fn spawn_writer(
        stream: Stream,
        make_writer: BoxMakeWriter,
        queue_capacity: usize,
        drain_timeout: Duration,
    ) -> Result<(SinkHandle, SinkGuard), SinkError> {
        spawn_tuned(
            SinkSpec {
                stream,
                target: Target::Writer(make_writer),
                framer: None,
            },
            Tuning {
                queue_capacity: Some(queue_capacity),
                drain_timeout: Some(drain_timeout),
                overflow: Overflow::Block,
            },
        )
    }

    /// Starts a file sink, optionally chained (AUDIT) with the given chain configuration.
    pub fn spawn_files(
        stream: Stream,
        files: FileSink,
        chain: Option<&crate::chain::ChainConfig>,
    ) -> Result<(SinkHandle, SinkGuard), SinkError> {
        spawn_files_draining(stream, files, chain, DEFAULT_DRAIN_TIMEOUT)
    }

    /// [`spawn_files`] with a drain timeout.
    pub fn spawn_files_draining(
        stream: Stream,
        files: FileSink,
        chain: Option<&crate::chain::ChainConfig>,
        drain_timeout: Duration,
    ) -> Result<(SinkHandle, SinkGuard), SinkError> {
        spawn_tuned(
            SinkSpec {
                stream,
                target: Target::Files(Box::new(
                    files.index_key(
                        chain
                            .and_then(|c| c.chain_key())
                            .map(crate::chain::index::IndexKey::derive),
                    ),
                )),
                framer: chain.map(|c| c.framer()),
            },
            Tuning {
                drain_timeout: Some(drain_timeout),
                ..Tuning::DEFAULT
            },
        )
    }

    /// Queues one record (a JSON object, no newline).
    pub fn submit(handle: &SinkHandle, record: &[u8]) {
        handle.submit(record);
    }

    /// Makes the witness submission look at the published checkpoint now and waits until
    /// every witness settled it (true) or `timeout` passed.
    #[cfg(feature = "tlog")]
    pub fn witness_settle(handle: &SinkHandle, timeout: Duration) -> bool {
        handle.shared.witness.settle(timeout)
    }
}

#[cfg(test)]
mod tests;
