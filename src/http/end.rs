//! The end of a request in the trail: every request whose `response_complete` stage is recorded
//! gets exactly one, however it ends.
//!
//! The normal ends (a response, an error, a panic) are written by the service through
//! [`End::complete`]. A request can also simply stop: hyper drops the response future when the
//! client goes away mid-handler, and a runtime shutting down drops every task in flight. Then
//! [`End`]'s `Drop` writes the record (outcome `unknown`, reason `cancelled`: the handler may or
//! may not have acted), without waiting for room: a record that finds the queue full is counted
//! as lost in the sink's health.

use super::actor::Actor;
use super::backpressure;
use super::health::{bump, Counters};
use super::record::{self, Completion, RequestFacts};
use crate::layer::Deferred;
use std::sync::Arc;
use std::time::Instant;
use tracing::Span;

/// The outcome and reason of a request that was dropped before it ended.
pub(crate) const CANCELLED: (&str, &str) = ("unknown", "cancelled");

/// How one request ended, as the service saw it.
pub(crate) struct Ending<'a> {
    pub(crate) status: Option<u16>,
    pub(crate) outcome: &'static str,
    pub(crate) reason: Option<&'a str>,
    pub(crate) actor: Option<&'a Actor>,
}

/// Owns a request's facts until its end record is written (see the module docs).
pub(crate) struct End {
    pub(crate) facts: RequestFacts,
    span: Span,
    started: Instant,
    counters: Arc<Counters>,
    /// Whether `request_received` showed the request's content already.
    content_shown: bool,
    /// The policy records `response_complete` and it is not written yet.
    armed: bool,
}

impl End {
    pub(crate) fn new(
        facts: RequestFacts,
        span: Span,
        started: Instant,
        counters: Arc<Counters>,
        content_shown: bool,
        recorded: bool,
    ) -> Self {
        End {
            facts,
            span,
            started,
            counters,
            content_shown,
            armed: recorded,
        }
    }

    /// The request's span, for the handler's future.
    pub(crate) fn span(&self) -> Span {
        self.span.clone()
    }

    /// Emits `request_received`; returns what is still to be queued.
    pub(crate) fn received(&self) -> Vec<Deferred> {
        self.span.in_scope(|| {
            backpressure::emit(|| record::request_received(&self.facts, &self.counters))
        })
    }

    /// Emits the end record (once); returns what is still to be queued.
    pub(crate) fn complete(&mut self, ending: &Ending<'_>) -> Vec<Deferred> {
        if !std::mem::take(&mut self.armed) {
            return Vec::new();
        }
        let completion = Completion {
            status: ending.status,
            outcome: ending.outcome,
            reason: ending.reason,
            actor: ending.actor,
            latency: self.started.elapsed(),
            content_shown: self.content_shown,
        };
        self.span.in_scope(|| {
            backpressure::emit(|| {
                record::response_complete(&self.facts, &completion, &self.counters)
            })
        })
    }
}

impl Drop for End {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        bump(&self.counters.cancelled);
        let (outcome, reason) = CANCELLED;
        // Not awaited: dropping what did not fit counts it as lost, loudly.
        drop(self.complete(&Ending {
            status: None,
            outcome,
            reason: Some(reason),
            actor: None,
        }));
    }
}
