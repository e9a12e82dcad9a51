//! Fail-closed mode: the handler runs only once the `request_received` record is on disk.

use super::backpressure::until;
use super::health::{bump, Counters};
use crate::layer::AuditHandle;
use crate::layer::{SyncError, SyncErrorKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How many `sync()` calls may wait on a stuck disk at once; later requests wait for a slot
/// within their own deadline. Bounds the blocking threads a dead disk can pile up.
const MAX_WAITING_SYNCS: usize = 64;

#[derive(Clone, Debug)]
pub(crate) struct FailClosed {
    handle: AuditHandle,
    deadline: Duration,
    slots: Arc<Semaphore>,
}

impl FailClosed {
    pub(crate) fn new(handle: AuditHandle, deadline: Duration) -> Self {
        FailClosed {
            handle,
            deadline,
            slots: Arc::new(Semaphore::new(MAX_WAITING_SYNCS)),
        }
    }

    /// How long a request may wait for its `request_received` record to be durable.
    pub(crate) fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Whether every audit record emitted so far is durable, by `deadline`. Failures are
    /// counted. Needs a Tokio runtime with timers; without a runtime it waits on this thread.
    pub(crate) async fn sync(&self, counters: &Counters, deadline: Instant) -> bool {
        if tokio::runtime::Handle::try_current().is_err() {
            let left = deadline.saturating_duration_since(Instant::now());
            return count(self.handle.sync_timeout(left), counters);
        }
        let slot = match until(Some(deadline), self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_closed)) => {
                bump(&counters.sync_errors);
                return false;
            }
            Err(()) => {
                bump(&counters.sync_timeouts);
                return false;
            }
        };
        let handle = self.handle.clone();
        // The blocking wait is bounded too, so a dead disk cannot keep the slot forever.
        let budget = deadline.saturating_duration_since(Instant::now());
        let task = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            handle.sync_timeout(budget)
        });
        match until(Some(deadline), task).await {
            Ok(Ok(result)) => count(result, counters),
            Ok(Err(_join)) => {
                bump(&counters.sync_errors);
                false
            }
            Err(()) => {
                bump(&counters.sync_timeouts);
                false
            }
        }
    }
}

fn count(result: Result<(), SyncError>, counters: &Counters) -> bool {
    match result {
        Ok(()) => true,
        Err(e) if e.kind() == SyncErrorKind::TimedOut => {
            bump(&counters.sync_timeouts);
            false
        }
        Err(_) => {
            bump(&counters.sync_errors);
            false
        }
    }
}
