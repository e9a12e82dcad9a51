//! Callsites neither stream wants are disabled, so a `trace!` in a hot loop costs nanoseconds.
//! Alone in its binary: callsite interest is process-wide and other tests' subscribers (with a
//! `trace` debug filter) would legitimately enable these callsites.

mod support;

use support::Harness;
use tracing::Level;

#[test]
fn callsites_neither_stream_wants_are_disabled() {
    let h = Harness::new(|b| b.debug_filter("info"));
    h.run(|| {
        assert!(!tracing::enabled!(target: "hot_loop", Level::TRACE));
        assert!(!tracing::enabled!(target: "hot_loop", Level::DEBUG));
        assert!(tracing::enabled!(target: "hot_loop", Level::INFO));
        assert!(tracing::enabled!(target: "audit", Level::INFO));
    });
}
