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
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Poll;
use tokio::time::{Instant, Sleep};

thread_local! {
    /// This thread runs a Tokio runtime without timers (found once, then remembered).
    static NO_TIMERS: Cell<bool> = const { Cell::new(false) };
}

/// A timer for `at`, or `None` outside a Tokio runtime or in one built without timers. Tokio
/// panics when a timer is made without its driver; that is caught (once per thread: the panic
/// hook reports it once), so a bound that cannot be kept is not kept, but the request never
/// panics.
pub(crate) fn timer(at: Instant) -> Option<Sleep> {
    if NO_TIMERS.with(Cell::get) || tokio::runtime::Handle::try_current().is_err() {
        return None;
    }
    match catch_unwind(AssertUnwindSafe(|| tokio::time::sleep_until(at))) {
        Ok(sleep) => Some(sleep),
        Err(_no_timers) => {
            NO_TIMERS.with(|n| n.set(true));
            None
        }
    }
}

/// Runs `future` until `at` (`Err(())` when the time ran out), or without a bound when there is
/// no timer (see [`timer`]).
pub(crate) async fn until<F: Future>(at: Option<Instant>, future: F) -> Result<F::Output, ()> {
    let Some(sleep) = at.and_then(timer) else {
        return Ok(future.await);
    };
    let mut future = std::pin::pin!(future);
    let mut sleep = std::pin::pin!(sleep);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Emits the audit events `emit` makes from async code (a handler) without ever blocking the
/// runtime worker: an event that finds the audit queue full is awaited, as a task, until there
/// is room, for as long as the sink's [`Overflow`](crate::sink::Overflow) bound allows (then
/// it is counted as `overflowed`, like any record given up on). A plain `tracing::info!`
/// inside a handler instead waits for room on the worker thread itself, stalling every task
/// that worker runs while the disk is full.
///
/// ```no_run
/// # async fn handler() {
/// use tracing_audit::http::emit_async;
/// emit_async(|| {
///     tracing::info!(target: "audit", actor = "alice", action = "export",
///         resource = "/reports/7", outcome = "success");
/// })
/// .await;
/// # }
/// ```
///
/// Returns whether every event was queued (false: one was given up on, and the sink's health
/// says so).
pub async fn emit_async(emit: impl FnOnce()) -> bool {
    let pending = self::emit(emit);
    settle(pending, None).await
}

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
    // Without a timer the wait for room is unbounded (still without blocking the thread; any
    // executor wakes the task).
    let wait = async {
        loop {
            let room = deferred.room();
            if deferred.try_submit() {
                return;
            }
            room.await;
        }
    };
    match until(bound, wait).await {
        Ok(()) => true,
        Err(()) => {
            deferred.give_up(started.elapsed());
            false
        }
    }
}
