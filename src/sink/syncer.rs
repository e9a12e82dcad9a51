//! Background fsync for file sinks.
//!
//! An fsync takes milliseconds, and on a busy disk hundreds of them. Done on the writer thread,
//! it stops the queue from draining for that long, and under load every emitting AUDIT thread
//! then waits for room. Instead the writer hands "make this file durable; it holds every record
//! before position p" to this thread and goes on taking, framing and writing records; when the
//! fsync returns, the writer learns the outcome and advances what `sync()` callers see as
//! durable. At most one fsync is in flight; records written meanwhile are covered by the next
//! one (group commit).

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use super::file::SyncHandle;
use super::queue::Shared;

/// One fsync to do.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) file: SyncHandle,
    /// Every record before this queue position is in the file (or in an earlier, already
    /// synced one) once the fsync succeeds.
    pub(crate) up_to: u64,
}

/// How an fsync ended.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) up_to: u64,
    pub(crate) result: io::Result<()>,
}

#[derive(Debug, Default)]
struct Slot {
    request: Option<Request>,
    done: Option<Done>,
    stop: bool,
}

#[derive(Debug)]
struct Inner {
    slot: Mutex<Slot>,
    wake: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The fsync thread of one file sink, owned by its writer thread.
#[derive(Debug)]
pub(crate) struct Syncer {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
    in_flight: bool,
}

impl Syncer {
    /// Starts the thread. `shared` is the sink's queue, used to wake the writer when an fsync
    /// ends.
    pub(crate) fn start(shared: Arc<Shared>) -> io::Result<Syncer> {
        let inner = Arc::new(Inner {
            slot: Mutex::new(Slot::default()),
            wake: Condvar::new(),
        });
        let thread = {
            let inner = Arc::clone(&inner);
            thread::Builder::new()
                .name(format!("tracing-audit-{}-fsync", shared.stream))
                .spawn(move || run(&inner, &shared))?
        };
        Ok(Syncer {
            inner,
            thread: Some(thread),
            in_flight: false,
        })
    }

    /// An fsync was handed over and its outcome not yet taken.
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Hands over an fsync. Only one at a time: the caller checks [`in_flight`](Self::in_flight).
    pub(crate) fn submit(&mut self, request: Request) {
        debug_assert!(!self.in_flight);
        self.in_flight = true;
        self.inner.lock().request = Some(request);
        self.inner.wake.notify_one();
    }

    /// The outcome of the fsync in flight, once it has ended.
    pub(crate) fn take_done(&mut self) -> Option<Done> {
        let done = self.inner.lock().done.take();
        if done.is_some() {
            self.in_flight = false;
        }
        done
    }

    /// The fsync in flight has ended (its outcome waits in [`take_done`](Self::take_done)).
    pub(crate) fn has_done(&self) -> bool {
        self.inner.lock().done.is_some()
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.inner.lock().stop = true;
        self.inner.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // An fsync that does not return (a hung disk) must not hang the writer's exit too;
            // the thread then ends with the process.
            if !self.in_flight || self.has_done() {
                let _ = thread.join();
            }
        }
    }
}

fn run(inner: &Inner, shared: &Shared) {
    loop {
        let request = {
            let mut slot = inner.lock();
            loop {
                if let Some(request) = slot.request.take() {
                    break request;
                }
                if slot.stop {
                    return;
                }
                slot = inner
                    .wake
                    .wait(slot)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let result = request.file.sync();
        inner.lock().done = Some(Done {
            up_to: request.up_to,
            result,
        });
        shared.wake_writer_now();
    }
}
