//! Emitting audit records from a request without ever blocking a runtime worker.
//!
//! The records are ordinary `tracing` events, and the audit sink's queue makes a thread that
//! emits into a full queue wait for room: on a Tokio worker that stalls every task the worker
//! runs (health probes, other routes, shutdown). The middleware therefore emits inside
//! [`deferring`], which hands a record that found the queue full back instead of waiting, and
//! then *awaits* room for it here. Lossless mode (`Overflow::Block`) keeps its promise: the
//! request waits, as a task, until its record is queued; a bound (`Overflow::BlockFor`, or the
//! fail-closed deadline) gives the record up after that long, counted as `overflowed` in the
//! sink's health.

use crate::layer::{deferring, Deferred};
use tokio::time::{timeout_at, Instant};

/// Emits the records `emit` makes without waiting for room; returns those still to be queued
/// (empty unless the audit queue was full). Dropping them unqueued counts them as lost.
pub(crate) fn emit(emit: impl FnOnce()) -> Vec<Deferred> {
    deferring(emit).1
}

/// Queues `pending`, awaiting room for each in turn, until `limit` if given, else for as long
/// as the sink's own [`Overflow`](crate::sink::Overflow) bound allows. True when every record
/// is queued; records given up on are counted as `overflowed` (and fail the next `sync()`).
pub(crate) async fn settle(pending: Vec<Deferred>, limit: Option<Instant>) -> bool {
    let mut all = true;
    for deferred in pending {
        all &= settle_one(deferred, limit).await;
    }
    all
}

async fn settle_one(mut deferred: Deferred, limit: Option<Instant>) -> bool {
    let started = Instant::now();
    let bound = limit.or_else(|| deferred.sink_bound().map(|b| started + b));
    // Without a Tokio runtime there is no timer: wait for room unbounded (still without
    // blocking the thread; any executor wakes the task).
    let timer = tokio::runtime::Handle::try_current().is_ok();
    let wait = async {
        loop {
            let room = deferred.room();
            if deferred.try_submit() {
                return;
            }
            room.await;
        }
    };
    match bound {
        Some(at) if timer => match timeout_at(at, wait).await {
            Ok(()) => true,
            Err(_elapsed) => {
                deferred.give_up(started.elapsed());
                false
            }
        },
        _ => {
            wait.await;
            true
        }
    }
}
