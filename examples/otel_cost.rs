//! What reading OpenTelemetry ids adds to the caller of an audit event, measured by alternating
//! short bursts of the two setups in one process (so machine load drifts hit both alike).
//!
//! ```text
//! cargo run --release --example otel_cost --features opentelemetry [-- ROUNDS BURST]
//! ```
//!
//! Both setups run the audit layer (discarding sinks) and a real tracing-opentelemetry layer
//! (SDK, discarding exporter) and emit the same audit event. In `hidden` the OpenTelemetry layer
//! is wrapped so the audit layer cannot find it (no ids are read or written); in `ids` it is
//! found. Events are paced (one per 10 µs) so that neither audit writer falls behind: a writer
//! that falls behind makes its (lossless) caller wait, and the 66 bytes the ids add to each
//! record would then be measured as the writer's hashing and copying, not the caller's work.
//! Prints per-event medians (of the bursts' medians) over the rounds and the median of the per-round differences, in a
//! long-lived span and with a new span per event.

#[path = "../benches/support/otel.rs"]
mod otel_bench;

use opentelemetry::trace::TracerProvider as _;
use std::time::{Duration, Instant};
use tracing::Dispatch;
use tracing_audit::layer::{AuditGuard, AuditLayer};
use tracing_subscriber::prelude::*;

fn setup(find_ids: bool) -> (Dispatch, AuditGuard) {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(otel_bench::Discard)
        .build();
    let otel = tracing_audit::otel::layer(provider.tracer("cost"));
    let (layer, guard) = AuditLayer::builder()
        .audit_to(std::io::sink)
        .debug_to(std::io::sink)
        .debug_filter("info")
        .build()
        .expect("layer builds");
    let dispatch = if find_ids {
        Dispatch::new(tracing_subscriber::registry().with(layer).with(otel))
    } else {
        Dispatch::new(
            tracing_subscriber::registry()
                .with(layer)
                .with(otel_bench::Hidden(otel)),
        )
    };
    (dispatch, guard)
}

fn audit_event() {
    tracing::info!(
        target: "audit",
        actor = "alice",
        action = "document.read",
        resource = "doc-42",
        outcome = "success",
        "document read"
    );
}

/// The median nanoseconds of one event over a burst (the median, not the mean: on a shared
/// machine a few events are preempted for milliseconds). Events are paced (one every `GAP`, the pause not
/// timed) so neither side's audit writer falls behind and makes its caller wait: what is timed
/// is the caller's own work, not the writer thread's throughput.
fn burst(dispatch: &Dispatch, n: u32, new_span: bool) -> f64 {
    const GAP: Duration = Duration::from_micros(10);
    tracing::dispatcher::with_default(dispatch, || {
        let mut times = Vec::with_capacity(n as usize);
        let long_lived = tracing::info_span!("request", request_id = 7u64, user = "alice");
        let _e = (!new_span).then(|| long_lived.enter());
        audit_event();
        for _ in 0..n {
            let start = Instant::now();
            if new_span {
                let span = tracing::info_span!("request", request_id = 7u64, user = "alice");
                let _e = span.enter();
                audit_event();
            } else {
                audit_event();
            }
            let end = Instant::now();
            times.push((end - start).as_nanos() as f64);
            while end.elapsed() < GAP {
                std::hint::spin_loop();
            }
        }
        median(&mut times)
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(41);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let (hidden, _g1) = setup(false);
    let (ids, _g2) = setup(true);
    for new_span in [false, true] {
        let (mut h, mut i, mut d) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which side goes first.
            let (a, b) = if round % 2 == 0 {
                let a = burst(&hidden, n, new_span);
                (a, burst(&ids, n, new_span))
            } else {
                let b = burst(&ids, n, new_span);
                (burst(&hidden, n, new_span), b)
            };
            h.push(a);
            i.push(b);
            d.push(b - a);
        }
        println!(
            "{}: hidden {:.0} ns/event, ids {:.0} ns/event, added (median of {rounds} paired rounds) {:.0} ns/event",
            if new_span { "new span per event" } else { "long-lived span" },
            median(&mut h),
            median(&mut i),
            median(&mut d)
        );
    }
}
