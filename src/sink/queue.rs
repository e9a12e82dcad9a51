//! The bounded byte queue between the threads that emit records and a sink's writer thread.
//!
//! Callers append `record + '\n'` to one shared byte buffer under a mutex; the writer swaps the
//! whole buffer for its own empty one, so a batch costs one lock and no allocation once both
//! buffers have grown to the working size. Capacity is counted in bytes, which bounds memory no
//! matter how large records are.

use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use super::error::SinkError;
use super::health::{Counters, Health};
use crate::Stream;

/// Queue buffers are allocated up front up to this size, so that callers never allocate while
/// the queue fills (untouched pages cost address space, not memory).
pub(crate) const PREALLOCATE_LIMIT: usize = 8 << 20;

/// State shared by the handle(s), the guard and the writer thread of one sink.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) stream: Stream,
    capacity: usize,
    state: Mutex<State>,
    /// The writer waits here for records, sync requests and shutdown.
    work: Condvar,
    /// AUDIT callers wait here for room.
    room: Condvar,
    /// `sync()` callers and the guard wait here for the writer's progress.
    progress: Condvar,
    pub(crate) counters: Counters,
    /// A record submitted from the writer thread itself (a `MakeWriter` that logs) must never
    /// wait for room: that thread is the only one that can make room.
    writer_thread: OnceLock<ThreadId>,
}

/// What the writer thread is doing, as far as callers need to know to decide whether to wake it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriterWait {
    /// Working; it looks at the queue again before it waits.
    Busy,
    /// Just finished a batch and waits a moment for more records to gather, so that a steady
    /// stream of records is written in batches without a wake-up per record. Woken early only
    /// when the queue gets half full, for `sync()`, or for shutdown.
    Lingering,
    /// Idle: the next record wakes it at once.
    Sleeping,
}

/// Everything guarded by the queue mutex. Records are numbered 1, 2, 3... in acceptance order;
/// the writer writes them in that order, so "durable up to n" is a single number.
#[derive(Debug)]
pub(crate) struct State {
    /// Accepted records not yet taken by the writer, each followed by `\n`.
    pub(crate) buf: Vec<u8>,
    /// How many records `buf` holds.
    pub(crate) buf_records: u64,
    /// Records accepted so far (the number of the last one).
    pub(crate) submitted: u64,
    /// Every record up to this number is written and synced (per the target's meaning of sync).
    pub(crate) durable: u64,
    /// The highest record number a `sync()` caller waits for.
    pub(crate) sync_wanted: u64,
    /// DEBUG drops not yet reported in the stream.
    pub(crate) unreported_drops: u64,
    /// Set while the writer fails with records pending; cleared by the next success.
    pub(crate) failing: Option<SinkError>,
    /// Records `(from, to]` were written but an fsync covering them failed: a `sync()` waiting
    /// for exactly those records fails, even after a later fsync succeeds.
    pub(crate) unconfirmed: Option<(u64, u64, SinkError)>,
    /// Whether the writer waits on `work`, and how eagerly it wants to be woken.
    pub(crate) writer_wait: WriterWait,
    /// AUDIT callers blocked on `room`.
    pub(crate) room_waiters: usize,
    /// The guard asked the writer to drain and stop, by this deadline.
    pub(crate) shutdown: Option<Instant>,
    /// The writer has stopped: nothing more will be written.
    pub(crate) closed: bool,
}

impl Shared {
    pub(crate) fn new(stream: Stream, capacity: usize) -> Self {
        Shared {
            stream,
            capacity: capacity.max(1),
            state: Mutex::new(State {
                buf: Vec::with_capacity(capacity.min(PREALLOCATE_LIMIT)),
                buf_records: 0,
                submitted: 0,
                durable: 0,
                sync_wanted: 0,
                unreported_drops: 0,
                failing: None,
                unconfirmed: None,
                writer_wait: WriterWait::Busy,
                room_waiters: 0,
                shutdown: None,
                closed: false,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            progress: Condvar::new(),
            counters: Counters::default(),
            writer_thread: OnceLock::new(),
        }
    }

    /// Locks the queue. A panic while holding the lock cannot leave it inconsistent in a way
    /// that matters more than losing the logging path, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn register_writer_thread(&self) {
        let _ = self.writer_thread.set(thread::current().id());
    }

    fn on_writer_thread(&self) -> bool {
        self.writer_thread.get() == Some(&thread::current().id())
    }

    /// Queues one record (a JSON object, no newline). AUDIT waits for room; DEBUG drops and
    /// counts when full.
    pub(crate) fn submit(&self, record: &[u8]) {
        if record.is_empty() {
            return;
        }
        let need = record.len() + 1;
        let mut st = self.lock();
        // An oversized record is still accepted into an empty queue: refusing it would block an
        // AUDIT caller forever.
        let full = |st: &State| !st.buf.is_empty() && st.buf.len() + need > self.capacity;
        if full(&st) && !st.closed {
            match self.stream {
                Stream::Audit if !self.on_writer_thread() => {
                    st.room_waiters += 1;
                    while full(&st) && !st.closed {
                        self.wake_writer(&mut st);
                        st = self.room.wait(st).unwrap_or_else(PoisonError::into_inner);
                    }
                    st.room_waiters -= 1;
                }
                Stream::Audit => {
                    // Waiting here would deadlock the only thread that can make room.
                    drop(st);
                    Counters::add(&self.counters.failed, 1);
                    return;
                }
                Stream::Debug => {
                    st.unreported_drops += 1;
                    self.wake_writer(&mut st);
                    drop(st);
                    Counters::add(&self.counters.dropped, 1);
                    return;
                }
            }
        }
        if st.closed {
            drop(st);
            let counter = match self.stream {
                Stream::Audit => &self.counters.failed,
                Stream::Debug => &self.counters.dropped,
            };
            Counters::add(counter, 1);
            return;
        }
        st.buf.extend_from_slice(record);
        st.buf.push(b'\n');
        st.buf_records += 1;
        st.submitted += 1;
        let wake = match st.writer_wait {
            WriterWait::Sleeping => true,
            WriterWait::Lingering => st.buf.len() >= self.capacity / 2,
            WriterWait::Busy => false,
        };
        if wake {
            st.writer_wait = WriterWait::Busy;
            drop(st);
            self.work.notify_one();
        }
    }

    /// Wakes a waiting writer (lingering or idle) now.
    fn wake_writer(&self, st: &mut State) {
        if st.writer_wait != WriterWait::Busy {
            st.writer_wait = WriterWait::Busy;
            self.work.notify_one();
        }
    }

    /// Waits until every record accepted before the call is durable, the writer reports a
    /// failure while they are pending, the sink closes, or `timeout` passes.
    pub(crate) fn sync(&self, timeout: Option<Duration>) -> Result<(), SinkError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.lock();
        let target = st.submitted;
        st.sync_wanted = st.sync_wanted.max(target);
        loop {
            if let Some((from, to, err)) = &st.unconfirmed {
                if target > *from && target <= *to {
                    return Err(err.clone());
                }
            }
            if st.durable >= target {
                return Ok(());
            }
            if let Some(err) = &st.failing {
                return Err(err.clone());
            }
            if st.closed {
                return Err(SinkError::closed(self.stream));
            }
            self.wake_writer(&mut st);
            st = match deadline {
                None => self
                    .progress
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(SinkError::timed_out(self.stream));
                    }
                    self.progress
                        .wait_timeout(st, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    pub(crate) fn health(&self) -> Health {
        let (queued, failing) = {
            let st = self.lock();
            (st.buf_records, st.failing.is_some())
        };
        self.counters.snapshot(queued, failing)
    }

    /// Wakes everyone who waits on the writer's progress (sync callers, the guard) and callers
    /// waiting for room.
    pub(crate) fn notify_progress(&self) {
        self.progress.notify_all();
        self.room.notify_all();
    }

    /// Wakes AUDIT callers waiting for room.
    pub(crate) fn notify_room(&self) {
        self.room.notify_all();
    }

    /// Writer side: waits for work until `timeout` (None: indefinitely).
    pub(crate) fn wait_for_work<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        timeout: Option<Duration>,
        how: WriterWait,
    ) -> MutexGuard<'a, State> {
        st.writer_wait = how;
        let mut st = match timeout {
            None => self.work.wait(st).unwrap_or_else(PoisonError::into_inner),
            Some(t) => {
                self.work
                    .wait_timeout(st, t)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
        st.writer_wait = WriterWait::Busy;
        st
    }

    /// Guard side: asks the writer to drain and stop.
    pub(crate) fn request_shutdown(&self, deadline: Instant) {
        let mut st = self.lock();
        if st.shutdown.is_none() {
            st.shutdown = Some(deadline);
        }
        st.writer_wait = WriterWait::Busy;
        drop(st);
        self.work.notify_one();
    }

    /// Guard side: waits until the writer has closed the sink or `deadline` passes.
    pub(crate) fn wait_closed(&self, deadline: Instant) -> bool {
        let mut st = self.lock();
        while !st.closed {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Marks the sink closed and counts every record still queued as failed. Used by the writer
    /// when it stops, and by the guard when the writer does not stop in time.
    pub(crate) fn close(&self, unwritten_outside_queue: u64, error: Option<SinkError>) {
        let mut st = self.lock();
        let queued = st.buf_records;
        st.buf.clear();
        st.buf_records = 0;
        st.closed = true;
        if let Some(err) = error {
            st.failing = Some(err);
        }
        drop(st);
        let lost = queued + unwritten_outside_queue;
        if lost > 0 {
            self.counters.failed.fetch_add(lost, Ordering::Relaxed);
        }
        self.notify_progress();
    }
}
