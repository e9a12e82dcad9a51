//! The middleware's own counters: what it audited, skipped, refused and caught.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) not_audited: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) sync_errors: AtomicU64,
    pub(crate) sync_timeouts: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) service_errors: AtomicU64,
    pub(crate) cancelled: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A snapshot of the middleware's counters. The audit sink's own counters are in
/// [`AuditHandle::health`](crate::layer::AuditHandle::health).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpHealth {
    /// Requests seen.
    pub requests: u64,
    /// Audit records emitted (one per recorded stage).
    pub records: u64,
    /// Requests the policy chose not to audit (`None` level).
    pub not_audited: u64,
    /// Requests refused with 503 in fail-closed mode: their handler never ran.
    pub rejected_fail_closed: u64,
    /// Fail-closed `sync()` calls that returned an error.
    pub sync_errors: u64,
    /// Fail-closed `sync()` calls that did not finish within the deadline.
    pub sync_timeouts: u64,
    /// Handler panics caught (answered with 500 and audited as `failure`).
    pub panics: u64,
    /// Inner service errors (audited as `failure`, then returned).
    pub service_errors: u64,
    /// Requests dropped before they ended (the client went away, or the server shut down with
    /// them in flight): audited with outcome `unknown`, reason `cancelled`.
    pub cancelled: u64,
}

/// Reads the counters of an [`HttpAuditLayer`](super::HttpAuditLayer) and every service it
/// made. Cheap to clone.
///
/// ```
/// use tracing_audit::http::HttpAuditLayer;
/// let layer = HttpAuditLayer::new();
/// let health = layer.health_handle();
/// assert_eq!(health.health().requests, 0);
/// ```
#[derive(Clone, Debug)]
pub struct HttpHealthHandle {
    pub(crate) counters: Arc<Counters>,
}

impl HttpHealthHandle {
    /// The counters now.
    pub fn health(&self) -> HttpHealth {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HttpHealth {
            requests: get(&c.requests),
            records: get(&c.records),
            not_audited: get(&c.not_audited),
            rejected_fail_closed: get(&c.rejected),
            sync_errors: get(&c.sync_errors),
            sync_timeouts: get(&c.sync_timeouts),
            panics: get(&c.panics),
            service_errors: get(&c.service_errors),
            cancelled: get(&c.cancelled),
        }
    }
}
