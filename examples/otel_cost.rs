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
//! found. Prints per-event medians over the rounds and the median of the per-round
//! differences, in a long-lived span and with a new span per event.

#[path = "../benches/support/otel.rs"]
mod otel_bench;

use opentelemetry::trace::TracerProvider as _;
use std::time::Instant;
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

/// Nanoseconds per event over one burst.
fn burst(dispatch: &Dispatch, n: u32, new_span: bool) -> f64 {
    tracing::dispatcher::with_default(dispatch, || {
        let start;
        if new_span {
            start = Instant::now();
            for _ in 0..n {
                let span = tracing::info_span!("request", request_id = 7u64, user = "alice");
                let _e = span.enter();
                audit_event();
            }
        } else {
            let span = tracing::info_span!("request", request_id = 7u64, user = "alice");
            let _e = span.enter();
            audit_event();
            start = Instant::now();
            for _ in 0..n {
                audit_event();
            }
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
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
