//! Waiting for room in the queue without blocking a thread, for async callers.
//!
//! A thread that emits an AUDIT record into a full queue waits on a condition variable until the
//! writer makes room (see [`Shared::submit`]). On a Tokio worker that wait stops every task the
//! worker runs: on a full disk, two waiting requests stop a two-worker service, probes and
//! shutdown included. An async caller instead emits inside [`deferring`]: a record that finds
//! the ring full is handed back as a [`Deferred`], which the caller queues after awaiting
//! [`RoomWait`], a future the writer wakes whenever it takes records. Nothing is lost silently
//! on the way: a [`Deferred`] given up on or dropped unqueued is counted as `overflowed`, and
//! the next `sync()` fails with it, exactly as for a thread that waited past its bound.

use super::{Shared, State};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

thread_local! {
    /// Set while [`deferring`] runs on this thread.
    static DEFERRING: Cell<bool> = const { Cell::new(false) };
    /// The records [`deferring`] hands back.
    static DEFERRED: RefCell<Vec<Deferred>> = const { RefCell::new(Vec::new()) };
}

/// Runs `emit` (which emits audit events); every AUDIT record that found its queue full is
/// returned instead of waiting for room on this thread. Records that fit are queued as usual.
pub(crate) fn deferring<R>(emit: impl FnOnce() -> R) -> (R, Vec<Deferred>) {
    /// Restores the thread's state even if `emit` panics (the records deferred so far are then
    /// dropped, which tries them once more and counts them if there is still no room).
    struct Restore {
        before: bool,
        outer: Vec<Deferred>,
    }
    impl Restore {
        fn finish(&mut self) -> Vec<Deferred> {
            let _ = DEFERRING.try_with(|d| d.set(self.before));
            let outer = std::mem::take(&mut self.outer);
            DEFERRED
                .try_with(|d| std::mem::replace(&mut *d.borrow_mut(), outer))
                .unwrap_or_default()
        }
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            drop(self.finish());
        }
    }
    let mut restore = Restore {
        before: DEFERRING.try_with(|d| d.replace(true)).unwrap_or(false),
        outer: DEFERRED
            .try_with(|d| std::mem::take(&mut *d.borrow_mut()))
            .unwrap_or_default(),
    };
    let out = emit();
    let mine = restore.finish();
    (out, mine)
}

/// Called by [`Shared::submit_or_defer`] for an AUDIT record that found the ring full. Returns
/// the record back when this thread is not deferring (the caller then waits as usual).
pub(super) fn defer<'a>(shared: &Arc<Shared>, record: &'a [u8]) -> Option<&'a [u8]> {
    if !DEFERRING.try_with(Cell::get).unwrap_or(false) {
        return Some(record);
    }
    let deferred = Deferred {
        shared: shared.clone(),
        record: record.to_vec(),
        settled: false,
    };
    // If the thread-local is gone, the closure (and the record) is dropped: one more attempt,
    // then counted.
    let _ = DEFERRED.try_with(move |d| d.borrow_mut().push(deferred));
    None
}

/// An AUDIT record that found its queue full, waiting to be queued by its async caller.
///
/// Dropped before it was queued (its request was cancelled), it tries once more without
/// waiting and is otherwise counted as `overflowed`: lost loudly, never silently.
pub(crate) struct Deferred {
    shared: Arc<Shared>,
    record: Vec<u8>,
    settled: bool,
}

impl fmt::Debug for Deferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deferred")
            .field("stream", &self.shared.stream)
            .field("len", &self.record.len())
            .field("settled", &self.settled)
            .finish()
    }
}

impl Deferred {
    /// One attempt to queue the record, without waiting: true once it is taken care of.
    pub(crate) fn try_submit(&mut self) -> bool {
        if !self.settled {
            self.settled = self.shared.try_submit(&self.record);
        }
        self.settled
    }

    /// A future that completes once the writer has taken records (made room) after this call,
    /// or the sink closed. Create it before [`try_submit`](Self::try_submit) so that room made
    /// in between is not missed.
    pub(crate) fn room(&self) -> RoomWait {
        RoomWait {
            seen: self.shared.async_room.generation.load(Ordering::SeqCst),
            shared: self.shared.clone(),
            id: None,
        }
    }

    /// How long the sink lets a caller wait for room ([`Overflow`](crate::sink::Overflow)):
    /// `None` for as long as it takes.
    pub(crate) fn sink_bound(&self) -> Option<Duration> {
        self.shared.wait_for_room
    }

    /// Gives the record up after waiting `waited` for room (one last attempt first): counted
    /// as `overflowed`, and the next `sync()` fails with it.
    pub(crate) fn give_up(mut self, waited: Duration) {
        self.settle_or_count(Some(waited));
    }

    fn settle_or_count(&mut self, waited: Option<Duration>) {
        if self.try_submit() {
            return;
        }
        self.settled = true;
        let mut st: MutexGuard<'_, State> = self.shared.lock();
        self.shared.count_overflowed(&mut st, waited);
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if !self.settled {
            self.settle_or_count(None);
        }
    }
}

/// Async callers waiting for room, woken by the writer each time it takes records.
#[derive(Debug, Default)]
pub(super) struct AsyncRoom {
    /// Bumped each time the writer takes records (or the sink closes).
    generation: AtomicU64,
    /// Registered [`RoomWait`]s; the writer looks at the wakers only when there are some.
    waiters: AtomicUsize,
    wakers: Mutex<Vec<(u64, Waker)>>,
    next_id: AtomicU64,
}

impl AsyncRoom {
    fn lock(&self) -> MutexGuard<'_, Vec<(u64, Waker)>> {
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writer side: room was made (or the sink closed); wakes every async waiter.
    pub(super) fn made_room(&self) {
        // Pairs with the SeqCst accesses in `RoomWait::poll`: either the waiter sees the new
        // generation after registering, or this sees the waiter.
        self.generation.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let wakers = std::mem::take(&mut *self.lock());
        for (_, waker) in wakers {
            waker.wake();
        }
    }
}

/// Completes once the writer took records since the future was made, or the sink closed.
/// Made by [`Deferred::room`].
pub(crate) struct RoomWait {
    shared: Arc<Shared>,
    seen: u64,
    id: Option<u64>,
}

impl fmt::Debug for RoomWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomWait")
            .field("seen", &self.seen)
            .finish()
    }
}

impl RoomWait {
    fn ready(&self) -> bool {
        self.shared.async_room.generation.load(Ordering::SeqCst) != self.seen
            || self.shared.is_closed()
    }
}

impl Future for RoomWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.ready() {
            return Poll::Ready(());
        }
        let room = &this.shared.async_room;
        let id = match this.id {
            Some(id) => id,
            None => {
                let id = room.next_id.fetch_add(1, Ordering::Relaxed);
                room.waiters.fetch_add(1, Ordering::SeqCst);
                this.id = Some(id);
                id
            }
        };
        {
            let mut wakers = room.lock();
            match wakers.iter_mut().find(|(i, _)| *i == id) {
                Some((_, waker)) => waker.clone_from(cx.waker()),
                None => wakers.push((id, cx.waker().clone())),
            }
        }
        if this.ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for RoomWait {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let room = &self.shared.async_room;
            room.lock().retain(|(i, _)| *i != id);
            room.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Shared;
    use super::*;
    use crate::Stream;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn full_queue() -> Arc<Shared> {
        let shared = Arc::new(Shared::new(Stream::Audit, 64, None).unwrap());
        shared.submit(format!("{{\"fill\":\"{}\"}}", "x".repeat(40)).as_bytes());
        shared
    }

    fn take_all(shared: &Shared) -> String {
        let mut batch = Vec::new();
        let mut st = shared.lock();
        shared.take(&mut st, &mut batch);
        String::from_utf8(batch).unwrap()
    }

    #[test]
    fn a_full_queue_hands_the_record_back_and_the_writer_wakes_its_waiter() {
        let shared = full_queue();
        let record = format!("{{\"second\":\"{}\"}}", "y".repeat(40));
        // Would wait forever on this thread without `deferring` (nobody takes records).
        let ((), mut pending) = deferring(|| shared.submit_or_defer(record.as_bytes()));
        assert_eq!(pending.len(), 1);
        let mut deferred = pending.pop().unwrap();

        let mut room = deferred.room();
        assert!(!deferred.try_submit(), "still full");
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut room).poll(&mut cx).is_pending());
        assert!(take_all(&shared).contains("fill"));
        assert!(
            flag.0.load(Ordering::SeqCst),
            "taking records wakes the waiter"
        );
        assert!(Pin::new(&mut room).poll(&mut cx).is_ready());
        assert!(deferred.try_submit());
        drop(deferred);
        assert!(take_all(&shared).contains("second"));
        assert_eq!(shared.health().overflowed, 0, "nothing was lost");
        assert!(shared.async_room.lock().is_empty());
    }

    #[test]
    fn a_deferred_record_dropped_without_room_is_counted_and_fails_the_next_sync() {
        let shared = full_queue();
        let ((), pending) = deferring(|| shared.submit_or_defer(b"{\"lost\":\"record\"}"));
        assert_eq!(pending.len(), 1);
        drop(pending);
        assert_eq!(shared.health().overflowed, 1);
        let err = shared.sync(Some(Duration::from_millis(1))).unwrap_err();
        assert_eq!(err.kind(), crate::sink::SinkErrorKind::Overflowed);
    }

    #[test]
    fn outside_deferring_and_with_room_nothing_is_handed_back() {
        let shared = Arc::new(Shared::new(Stream::Audit, 1024, None).unwrap());
        let ((), pending) = deferring(|| shared.submit_or_defer(b"{\"fits\":1}"));
        assert!(pending.is_empty());
        assert!(take_all(&shared).contains("fits"));
        assert!(!DEFERRING.with(Cell::get), "the flag is restored");
    }
}
