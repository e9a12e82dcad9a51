//! The bounded queue between the threads that emit records and a sink's writer thread.
//!
//! Records go into a lock-free ring ([`ring`]): an emitting thread claims space with one atomic
//! compare-and-swap, copies its bytes and publishes them, so emitting threads never wait for each
//! other or for the writer — a mutex here had emitters sleeping on each other thousands of times
//! per second under a flood. The writer takes everything published in one pass. Capacity is
//! counted in bytes, which bounds memory no matter how large records are.
//!
//! The rest of the sink's shared state (sync requests, failures, shutdown) lives behind a mutex
//! that emitting threads only touch on the slow paths: to wake a sleeping writer, or to wait for
//! room when an AUDIT record finds the ring full.
//!
//! Progress is measured in ring positions: every record claimed before position `p` is written
//! and synced once `durable >= p`, so `sync()` waits for the tail it saw.

mod ring;
// Only the HTTP middleware awaits room (it runs on an async runtime); without it the async
// side of the queue is compiled but has no caller.
#[cfg_attr(not(feature = "http"), allow(dead_code, unused_imports))]
mod room;

#[cfg_attr(not(feature = "http"), allow(unused_imports))]
pub(crate) use room::{deferring, Deferred};

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use self::ring::{Claim, Kind, Refused, Ring};
use super::error::SinkError;
use super::health::{Counters, Health};
use crate::Stream;

/// The writer's batch buffer is allocated up front up to this size; beyond it, it grows with
/// use (untouched pages cost address space, not memory).
pub(crate) const PREALLOCATE_LIMIT: usize = 8 << 20;

/// How long [`Shared::close`] waits for a producer that claimed space to publish it. Producers
/// never block between the two (they copy bytes), so this only matters if one is descheduled.
const PUBLISH_GRACE: Duration = Duration::from_secs(1);

/// State shared by the handle(s), the guard and the writer thread of one sink.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) stream: Stream,
    capacity: usize,
    ring: Ring,
    /// Records too large for the ring, by the position of the marker that stands for them. At
    /// most one is admitted at a time, and only into an empty ring.
    oversize: Mutex<Vec<(u64, Vec<u8>)>>,
    state: Mutex<State>,
    /// The writer waits here for records, sync requests and shutdown.
    work: Condvar,
    /// AUDIT callers wait here for room.
    room: Condvar,
    /// `sync()` callers and the guard wait here for the writer's progress.
    progress: Condvar,
    /// A [`WriterWait`]; written under the state lock, read by producers without it.
    writer_wait: AtomicU8,
    /// AUDIT callers waiting for room; the writer wakes them after taking records.
    room_waiters: AtomicUsize,
    /// The writer has stopped: nothing more will be written. Set under the state lock.
    closed: AtomicBool,
    /// DEBUG drops not yet reported in the stream.
    unreported_drops: AtomicU64,
    pub(crate) counters: Counters,
    /// A record submitted from the writer thread itself (a `MakeWriter` that logs) must never
    /// wait for room: that thread is the only one that can make room.
    writer_thread: OnceLock<ThreadId>,
    /// How long an AUDIT caller waits for room (`None`: as long as it takes).
    wait_for_room: Option<Duration>,
    /// Async callers waiting for room (see [`RoomWait`]); the writer wakes them after taking
    /// records, like `room` wakes the threads that wait.
    async_room: room::AsyncRoom,
    /// Witnessing of the trail's checkpoints (file sinks given witnesses).
    #[cfg(feature = "tlog")]
    pub(crate) witness: crate::sink::witness::WitnessSide,
}

/// What the writer thread is doing, as far as producers need to know to decide whether to wake it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum WriterWait {
    /// Working; it looks at the queue again before it waits.
    Busy = 0,
    /// Just finished a batch and waits a moment for more records to gather, so that a steady
    /// stream of records is written in batches without a wake-up per record. Woken early only
    /// when the queue gets half full, for `sync()`, or for shutdown.
    Lingering = 1,
    /// Idle: the next record wakes it at once.
    Sleeping = 2,
}

/// Everything guarded by the state lock. Positions are ring positions (see the module docs).
#[derive(Debug)]
pub(crate) struct State {
    /// Every record before this position is written and synced (per the target's meaning of
    /// sync).
    pub(crate) durable: u64,
    /// The highest position a `sync()` caller waits for.
    pub(crate) sync_wanted: u64,
    /// Set while the writer fails with records pending; cleared by the next success.
    pub(crate) failing: Option<SinkError>,
    /// Records in positions `(from, to]` were written but an fsync covering them failed: a
    /// `sync()` waiting for exactly those records fails, even after a later fsync succeeds.
    pub(crate) unconfirmed: Option<(u64, u64, SinkError)>,
    /// The guard asked the writer to drain and stop, by this deadline.
    pub(crate) shutdown: Option<Instant>,
    /// AUDIT records given up on after waiting for room past the bound, not yet reported by a
    /// `sync()`.
    pub(crate) overflowed_unreported: u64,
}

/// What [`Shared::take`] moved into the writer's batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Taken {
    /// Records appended to the batch.
    pub(crate) records: u64,
    /// Every record before this position is now in the writer's hands.
    pub(crate) up_to: u64,
}

impl Shared {
    /// A queue of `capacity` bytes; an error if that much memory cannot be reserved.
    pub(crate) fn new(
        stream: Stream,
        capacity: usize,
        wait_for_room: Option<Duration>,
    ) -> Result<Self, SinkError> {
        let capacity = capacity.max(1);
        let ring = Ring::new(capacity).ok_or_else(|| {
            SinkError::io(
                format!("{stream} sink: cannot allocate a queue of {capacity} bytes"),
                Arc::new(std::io::Error::from(std::io::ErrorKind::OutOfMemory)),
            )
        })?;
        Ok(Shared {
            stream,
            capacity,
            ring,
            oversize: Mutex::new(Vec::new()),
            state: Mutex::new(State {
                durable: 0,
                sync_wanted: 0,
                failing: None,
                unconfirmed: None,
                shutdown: None,
                overflowed_unreported: 0,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            progress: Condvar::new(),
            writer_wait: AtomicU8::new(WriterWait::Busy as u8),
            room_waiters: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            unreported_drops: AtomicU64::new(0),
            counters: Counters::default(),
            writer_thread: OnceLock::new(),
            wait_for_room,
            async_room: room::AsyncRoom::default(),
            #[cfg(feature = "tlog")]
            witness: Default::default(),
        })
    }

    /// Locks the shared state. A panic while holding the lock cannot leave it inconsistent in a
    /// way that matters more than losing the logging path, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_oversize(&self) -> MutexGuard<'_, Vec<(u64, Vec<u8>)>> {
        self.oversize.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn register_writer_thread(&self) {
        let _ = self.writer_thread.set(thread::current().id());
    }

    fn on_writer_thread(&self) -> bool {
        self.writer_thread.get() == Some(&thread::current().id())
    }

    fn writer_wait(&self) -> WriterWait {
        match self.writer_wait.load(Ordering::Relaxed) {
            1 => WriterWait::Lingering,
            2 => WriterWait::Sleeping,
            _ => WriterWait::Busy,
        }
    }

    /// Queues one record (a JSON object, no newline). AUDIT waits for room; DEBUG drops and
    /// counts when full.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn submit(&self, record: &[u8]) {
        self.submit_inner(record, None);
    }

    /// [`Self::submit`] for a caller that may be deferring (see [`deferring`]): an AUDIT record
    /// that finds the ring full is then handed back to that caller, to wait for room without
    /// blocking its thread, instead of waiting here.
    pub(crate) fn submit_or_defer(self: &Arc<Self>, record: &[u8]) {
        self.submit_inner(record, Some(self));
    }

    fn submit_inner(&self, record: &[u8], deferrable: Option<&Arc<Self>>) {
        if record.is_empty() {
            return;
        }
        if self.is_closed() {
            self.count_refused();
            return;
        }
        match self.ring.claim(record.len()) {
            Ok(claim) => self.fill_and_publish(claim, record),
            Err(refused) => match deferrable {
                Some(this) if self.stream == Stream::Audit && !self.on_writer_thread() => {
                    if let Some(record) = room::defer(this, record) {
                        self.submit_slow(record, refused);
                    }
                }
                _ => self.submit_slow(record, refused),
            },
        }
    }

    /// One attempt to queue `record` without waiting: true when it is taken care of (queued,
    /// or refused and counted because the sink closed), false when there is no room.
    fn try_submit(&self, record: &[u8]) -> bool {
        if self.is_closed() {
            self.count_refused();
            return true;
        }
        match self.ring.claim(record.len()) {
            Ok(claim) => {
                self.fill_and_publish(claim, record);
                true
            }
            Err(Refused::TooLarge) if self.try_oversize(record) => {
                self.wake_writer_for_new_work();
                true
            }
            Err(_) => {
                // Make sure the writer knows the ring is full, so it takes what it can.
                let mut st = self.lock();
                self.wake_writer(&mut st);
                false
            }
        }
    }

    /// An AUDIT record given up on: the queue stayed full past the caller's bound. Counted
    /// exactly like a record that waited past [`Overflow::BlockFor`](crate::sink::Overflow):
    /// in `overflowed`, and the next `sync()` fails with it.
    fn count_overflowed(&self, st: &mut State, waited: Option<Duration>) {
        st.overflowed_unreported += 1;
        Counters::add(&self.counters.overflowed, 1);
        self.counters.set_last_error(match waited {
            Some(waited) => format!(
                "{} sink: a record was not written: the queue stayed full for {waited:?}",
                self.stream
            ),
            None => format!(
                "{} sink: a record was not written: the queue was full when its request was dropped",
                self.stream
            ),
        });
    }

    /// Copies the record into its claimed slot and publishes it, unless the sink closed since:
    /// then the slot is published as skipped and the record counted here (see [`Self::close`]).
    fn fill_and_publish(&self, claim: Claim, record: &[u8]) {
        self.ring.fill(&claim, record);
        if self.is_closed() {
            self.ring.publish(claim, Kind::Skip);
            self.count_refused();
            return;
        }
        self.ring.publish(claim, Kind::Record);
        self.wake_writer_for_new_work();
    }

    /// The ring was full, or the record does not fit in it at all.
    fn submit_slow(&self, record: &[u8], mut refused: Refused) {
        let waits = self.stream == Stream::Audit && !self.on_writer_thread();
        if !waits {
            if refused == Refused::TooLarge && self.try_oversize(record) {
                self.wake_writer_for_new_work();
                return;
            }
            match self.stream {
                // Waiting here would deadlock the only thread that can make room.
                Stream::Audit => Counters::add(&self.counters.failed, 1),
                Stream::Debug => {
                    self.unreported_drops.fetch_add(1, Ordering::SeqCst);
                    Counters::add(&self.counters.dropped, 1);
                    self.wake_writer_for_new_work();
                }
            }
            return;
        }
        // AUDIT waits. The writer advances the ring's head only under the state lock and looks
        // at `room_waiters` after that, so checking for room under the lock before waiting
        // cannot miss a wake-up.
        self.room_waiters.fetch_add(1, Ordering::SeqCst);
        let give_up_at = self.wait_for_room.map(|d| Instant::now() + d);
        let mut st = self.lock();
        loop {
            if self.is_closed() {
                drop(st);
                self.count_refused();
                break;
            }
            if refused == Refused::TooLarge && self.try_oversize(record) {
                // Woken only now: waking takes the lock held here.
                drop(st);
                self.wake_writer_for_new_work();
                break;
            }
            match self.ring.claim(record.len()) {
                Ok(claim) => {
                    drop(st);
                    self.fill_and_publish(claim, record);
                    break;
                }
                Err(again) => refused = again,
            }
            self.wake_writer(&mut st);
            st = match give_up_at {
                None => self.room.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    let now = Instant::now();
                    if now >= at {
                        // The bound ran out: the record is lost, loudly. Counted here, and the
                        // next `sync()` fails with it.
                        self.count_overflowed(&mut st, self.wait_for_room);
                        drop(st);
                        break;
                    }
                    self.room
                        .wait_timeout(st, at - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        self.room_waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Admits a record too large for the ring if the ring is empty and no other such record
    /// waits: a marker slot keeps its place in the order, the bytes wait beside the ring. True
    /// when the record is taken care of (queued, or refused and counted because the sink
    /// closed); the caller then wakes the writer, without holding the state lock.
    fn try_oversize(&self, record: &[u8]) -> bool {
        let mut aside = self.lock_oversize();
        if !aside.is_empty() || !self.ring.is_empty() {
            return false;
        }
        let Ok(claim) = self.ring.claim(0) else {
            return false;
        };
        if self.is_closed() {
            self.ring.publish(claim, Kind::Skip);
            drop(aside);
            self.count_refused();
            return true;
        }
        aside.push((claim.position(), record.to_vec()));
        self.ring.publish(claim, Kind::Oversize);
        true
    }

    /// A record refused because the sink is closed.
    fn count_refused(&self) {
        let counter = match self.stream {
            Stream::Audit => &self.counters.failed,
            Stream::Debug => &self.counters.dropped,
        };
        Counters::add(counter, 1);
    }

    /// After publishing a record (or counting a drop, which the writer reports): wakes a sleeping
    /// writer, or a lingering one once the ring is half full (a queue that drops is full).
    fn wake_writer_for_new_work(&self) {
        // Pairs with the fence in `wait_for_work`: either the writer sees the new record before
        // it waits, or this sees that it waits.
        fence(Ordering::SeqCst);
        let wake = match self.writer_wait() {
            WriterWait::Busy => false,
            WriterWait::Lingering => self.ring.half_full(),
            WriterWait::Sleeping => true,
        };
        if wake {
            let mut st = self.lock();
            self.wake_writer(&mut st);
        }
    }

    /// Wakes a waiting writer (lingering or idle) now. The caller holds the state lock, so the
    /// writer is either inside its wait or has not decided to wait yet.
    fn wake_writer(&self, _st: &mut State) {
        if self.writer_wait() != WriterWait::Busy {
            self.writer_wait
                .store(WriterWait::Busy as u8, Ordering::Relaxed);
            self.work.notify_one();
        }
    }

    /// Wakes the writer if it waits (for a helper thread that finished something it needs).
    pub(crate) fn wake_writer_now(&self) {
        let mut st = self.lock();
        self.wake_writer(&mut st);
    }

    /// Waits until every record accepted before the call is durable, the writer reports a
    /// failure while they are pending, the sink closes, or `timeout` passes.
    pub(crate) fn sync(&self, timeout: Option<Duration>) -> Result<(), SinkError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.lock();
        let target = self.ring.tail();
        st.sync_wanted = st.sync_wanted.max(target);
        if st.overflowed_unreported > 0 {
            let lost = std::mem::take(&mut st.overflowed_unreported);
            return Err(SinkError::overflowed(self.stream, lost));
        }
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
            if self.is_closed() {
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

    /// The counters, with `queued` counted by walking the published records at the head (the
    /// ring keeps no running count, which would cost every record a shared atomic add): fine
    /// for monitoring, not for a hot path.
    pub(crate) fn health(&self) -> Health {
        let (queued, failing) = {
            let st = self.lock();
            (self.ring.count_published(), st.failing.is_some())
        };
        #[allow(unused_mut)]
        let mut health = self.counters.snapshot(queued, failing);
        #[cfg(feature = "tlog")]
        {
            health.witness = self.witness.health();
        }
        health
    }

    /// Writer side: a published record (or an unreported drop) waits to be taken.
    pub(crate) fn has_work(&self) -> bool {
        self.ring.has_published() || self.unreported_drops.load(Ordering::SeqCst) > 0
    }

    /// Writer side: nothing is queued or being queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Writer side: DEBUG drops since the last call, to report in the stream.
    pub(crate) fn take_drops(&self) -> u64 {
        self.unreported_drops.swap(0, Ordering::SeqCst)
    }

    /// Writer side: appends every published record to `batch` as `record + '\n'` and makes
    /// their room available again, waking AUDIT callers that wait for it.
    pub(crate) fn take(&self, _st: &mut State, batch: &mut Vec<u8>) -> Taken {
        let consumed = self.ring.consume(batch, |at, out| {
            let mut aside = self.lock_oversize();
            if let Some(i) = aside.iter().position(|(pos, _)| *pos == at) {
                let (_, record) = aside.swap_remove(i);
                out.extend_from_slice(&record);
                out.push(b'\n');
            }
        });
        if self.room_waiters.load(Ordering::SeqCst) > 0 {
            self.room.notify_all();
        }
        self.async_room.made_room();
        Taken {
            records: consumed.records,
            up_to: consumed.head,
        }
    }

    /// Wakes everyone who waits on the writer's progress (sync callers, the guard) and callers
    /// waiting for room.
    pub(crate) fn notify_progress(&self) {
        self.progress.notify_all();
        self.room.notify_all();
        self.async_room.made_room();
    }

    /// Writer side: waits for work until `timeout` (None: indefinitely), unless work that
    /// `how` would wake for arrived meanwhile.
    pub(crate) fn wait_for_work<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
        timeout: Option<Duration>,
        how: WriterWait,
    ) -> MutexGuard<'a, State> {
        self.writer_wait.store(how as u8, Ordering::Relaxed);
        // Pairs with the fence in `wake_writer_for_new_work` (see there).
        fence(Ordering::SeqCst);
        let arrived = match how {
            WriterWait::Busy => true,
            WriterWait::Lingering => self.ring.half_full(),
            WriterWait::Sleeping => self.has_work(),
        };
        let st = if arrived {
            st
        } else {
            match timeout {
                None => self.work.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(t) => {
                    self.work
                        .wait_timeout(st, t)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            }
        };
        self.writer_wait
            .store(WriterWait::Busy as u8, Ordering::Relaxed);
        st
    }

    /// Guard side: asks the writer to drain and stop.
    pub(crate) fn request_shutdown(&self, deadline: Instant) {
        let mut st = self.lock();
        if st.shutdown.is_none() {
            st.shutdown = Some(deadline);
        }
        self.writer_wait
            .store(WriterWait::Busy as u8, Ordering::Relaxed);
        drop(st);
        self.work.notify_one();
    }

    /// Guard side: waits until the writer has closed the sink or `deadline` passes.
    pub(crate) fn wait_closed(&self, deadline: Instant) -> bool {
        let mut st = self.lock();
        while !self.is_closed() {
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
    ///
    /// A producer that claimed space before `closed` was set either saw it afterwards (and
    /// published its slot as skipped, counting the record itself) or did not (and published the
    /// record, which is counted here): each record is counted exactly once.
    pub(crate) fn close(&self, unwritten_outside_queue: u64, error: Option<SinkError>) {
        let mut st = self.lock();
        self.closed.store(true, Ordering::SeqCst);
        if let Some(err) = error {
            st.failing = Some(err);
        }
        let end = self.ring.tail();
        let grace = Instant::now() + PUBLISH_GRACE;
        let mut queued = 0;
        let mut scratch = Vec::new();
        loop {
            scratch.clear();
            let taken = self.take(&mut st, &mut scratch);
            queued += taken.records;
            if taken.up_to >= end {
                break;
            }
            if Instant::now() >= grace {
                // A producer stalled between claiming and publishing. It counts its own record
                // when it publishes (it will see `closed`); the records published behind its slot
                // can no longer be taken in order, so they are counted here.
                queued += self
                    .ring
                    .count_published_records_between(self.ring.head(), end);
                break;
            }
            // A producer is between claiming and publishing; it will publish promptly.
            thread::yield_now();
        }
        drop(st);
        let lost = queued + unwritten_outside_queue;
        if lost > 0 {
            self.counters.failed.fetch_add(lost, Ordering::Relaxed);
        }
        self.notify_progress();
    }
}

#[cfg(test)]
mod tests;
