//! What a sink has done so far: counters an operator can export and alert on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// A snapshot of one sink's counters, from [`SinkHandle::health`](crate::sink::SinkHandle::health).
///
/// Counters only grow for the life of the sink. Records are the application's records; lines the
/// sink adds itself (chain seals and checkpoints, the debug stream's "N records dropped" report)
/// are not counted as `written`.
///
/// | counter      | meaning                                                                   |
/// |--------------|---------------------------------------------------------------------------|
/// | `written`    | records whose bytes the target accepted (`write` returned `Ok`)           |
/// | `dropped`    | DEBUG records refused because the queue was full (never AUDIT)             |
/// | `failed`     | records given up on: write errors past the retry budget (DEBUG), or still unwritten when the drain timeout ran out at shutdown |
/// | `retried`    | failed write/rotate/fsync attempts that were retried                      |
/// | `rotations`  | files closed by rotation                                                  |
/// | `pruned`     | files deleted by retention                                                |
/// | `syncs`      | completed fsyncs of written data (flushes, for a `MakeWriter` target)    |
/// | `queued`     | records waiting in the queue right now                                    |
/// | `failing`    | the writer is failing right now and has unwritten records                 |
/// | `last_error` | the most recent error, with context (kept after recovery)                 |
/// | `overflowed` | AUDIT records given up on after waiting for queue room past the `BlockFor` bound |
/// | `filtered_callsites` | audit callsites another filter disables (from `AuditHandle::health`) |
/// | `formatting_panics` | values whose `Debug`/`Display` panicked, layer-wide (from `AuditHandle::health`) |
/// | `records_cut` | records cut to `max_record_len`, layer-wide (from `AuditHandle::health`) |
/// | `witness` | (feature `tlog`) checkpoints cosigned, witnesses pending, refused, alarms |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Records written (the target accepted the bytes).
    pub written: u64,
    /// DEBUG records dropped because the queue was full.
    pub dropped: u64,
    /// Records that will never be written.
    pub failed: u64,
    /// Failed attempts that were retried.
    pub retried: u64,
    /// Files closed by rotation.
    pub rotations: u64,
    /// Files deleted by retention.
    pub pruned: u64,
    /// Completed fsyncs (or flushes, for a `MakeWriter` target) of written data.
    pub syncs: u64,
    /// Records waiting in the queue.
    pub queued: u64,
    /// Whether the writer is currently failing with records pending.
    pub failing: bool,
    /// The most recent error, with context.
    pub last_error: Option<String>,
    /// Audit callsites another filter in the subscriber disables before the layer sees them
    /// (see [`AuditHandle::sync`](crate::layer::AuditHandle::sync)); empty for a sink's own
    /// health and for the debug stream.
    pub filtered_callsites: Vec<String>,
    /// Values whose own `Debug`/`Display` panicked while a record was rendered, in either
    /// stream (from `AuditHandle::health`; layer-wide). Each record was still written, with
    /// `[formatting panicked]` in place of the rest of the value.
    pub formatting_panics: u64,
    /// Records longer than `AuditLayerBuilder::max_record_len` that were cut to fit, in either
    /// stream (from `AuditHandle::health`; layer-wide).
    pub records_cut: u64,
    /// AUDIT records not written because the queue stayed full past the
    /// [`Overflow::BlockFor`](crate::sink::Overflow::BlockFor) bound.
    pub overflowed: u64,
    /// Witness submission of a file sink given witnesses ([`FileSink::witness`]): checkpoints
    /// cosigned, witnesses pending, refusals, and alarms (a witness saw a different or longer
    /// history of this trail; each is also a `witness_alarm` record in the trail).
    ///
    /// [`FileSink::witness`]: crate::sink::FileSink::witness
    #[cfg(feature = "tlog")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
    pub witness: crate::tlog::submit::WitnessHealth,
}

/// The live counters behind [`Health`], shared by callers and the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) written: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) pruned: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) overflowed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_last_error(&self, message: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(message);
    }

    pub(crate) fn snapshot(&self, queued: u64, failing: bool) -> Health {
        Health {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            rotations: self.rotations.load(Ordering::Relaxed),
            pruned: self.pruned.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            queued,
            failing,
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            filtered_callsites: Vec::new(),
            formatting_panics: 0,
            records_cut: 0,
            overflowed: self.overflowed.load(Ordering::Relaxed),
            #[cfg(feature = "tlog")]
            witness: Default::default(),
        }
    }
}
