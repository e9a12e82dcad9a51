//! The setup a team would otherwise hand-build ("the peer"), shared by `benches/compare.rs` and
//! `examples/flood.rs` so that both measure the same thing: two `fmt::layer().json()` layers
//! with per-layer filters (audit: the `audit` target; debug: an `EnvFilter`), each behind its
//! own `tracing_appender::non_blocking` writer, which the caller builds (lossy or not, into a
//! discarding writer or rolling files).

use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::prelude::*;

/// The debug layer's directives: the debug stream's own (`info`, as ours gets), and the audit
/// target excluded, or every audit event would be written to both files.
pub const DEBUG_DIRECTIVES: &str = "info,audit=off";

/// The peer's subscriber over the two writers.
pub fn subscriber(
    audit: NonBlocking,
    debug: NonBlocking,
) -> impl tracing::Subscriber + Send + Sync + 'static {
    let audit_layer = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(audit)
        .with_filter(Targets::new().with_target("audit", tracing::Level::INFO));
    let debug_layer = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(debug)
        .with_filter(EnvFilter::new(DEBUG_DIRECTIVES));
    tracing_subscriber::registry()
        .with(audit_layer)
        .with(debug_layer)
}
