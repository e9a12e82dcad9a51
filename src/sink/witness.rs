//! The file sink's side of witnessing: the submission thread for the trail's checkpoints, its
//! counters in [`Health`](super::Health), and the alarms the writer records in the trail.
//!
//! The writer thread never talks to a witness: it publishes each signed checkpoint to
//! `<prefix>.tlog-checkpoint` (as it does without witnesses) and pokes the submission thread
//! ([`crate::tlog::submit::Submitter::watch`]), which sends it with its consistency proof read
//! from the tile files. An alarm (a witness that saw a different or longer history) comes back
//! through [`WitnessSide::alarms`], and the writer frames it as a `witness_alarm` control
//! record at its next step, so the trail itself says that its history was disputed.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::tlog::submit::{Submitter, WitnessEndpoint, WitnessHealth};

use super::queue::Shared;

/// How long stopping the sink lets the submission thread get the final checkpoint cosigned.
pub(crate) const WITNESS_DRAIN: Duration = Duration::from_secs(5);

/// Witnessing state shared by the writer thread, the submission thread and health readers.
#[derive(Debug, Default)]
pub(crate) struct WitnessSide {
    /// Alarms not yet written into the trail.
    alarms: Mutex<Vec<String>>,
    submitter: Mutex<Option<Arc<Submitter>>>,
    /// The counters when the submission thread stopped (health stays readable after the sink).
    stopped: Mutex<Option<WitnessHealth>>,
}

impl WitnessSide {
    /// Starts the submission thread for the trail `prefix` in `dir`.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        dir: &Path,
        prefix: &str,
        witnesses: Vec<WitnessEndpoint>,
    ) -> std::io::Result<()> {
        if witnesses.is_empty() {
            return Ok(());
        }
        let weak: Weak<Shared> = Arc::downgrade(shared);
        let hook = Box::new(move |why: &str| {
            if let Some(shared) = weak.upgrade() {
                shared
                    .witness
                    .alarms
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(why.to_owned());
                shared
                    .counters
                    .set_last_error(format!("witness alarm: {why}"));
                shared.wake_writer_now();
            }
        });
        let submitter = Submitter::watch(dir, prefix, witnesses, hook)?;
        *shared
            .witness
            .submitter
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(submitter));
        Ok(())
    }

    fn submitter(&self) -> Option<Arc<Submitter>> {
        self.submitter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writer thread: a checkpoint was just published.
    pub(crate) fn poke(&self) {
        if let Some(s) = self.submitter() {
            s.poke();
        }
    }

    /// Writer thread: the alarms to record (never waits for the lock).
    pub(crate) fn take_alarms(&self) -> Vec<String> {
        match self.alarms.try_lock() {
            Ok(mut alarms) => std::mem::take(&mut *alarms),
            Err(_) => Vec::new(),
        }
    }

    /// The submission counters (all zero without witnesses).
    pub(crate) fn health(&self) -> WitnessHealth {
        match self.submitter() {
            Some(s) => s.health(),
            None => self
                .stopped
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_default(),
        }
    }

    /// Waits up to `timeout` for the published checkpoint to be settled with every witness.
    pub(crate) fn settle(&self, timeout: Duration) -> bool {
        self.submitter().is_none_or(|s| s.settle_published(timeout))
    }

    /// Stops the submission thread (after the writer's final checkpoint had its chance).
    pub(crate) fn stop(&self, drain: Duration) {
        let _ = self.settle(drain);
        let submitter = self
            .submitter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(s) = submitter {
            *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = Some(s.health());
        }
    }
}
