//! The builder sizes each stream's queue, also for `MakeWriter` destinations: a small debug queue
//! in front of a stalled writer drops (and counts) records; the default one does not.

mod support;

use std::sync::{Arc, Mutex};
use support::Capture;
use tracing_audit::{layer::AuditLayer, Stream};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// A writer that cannot start a batch while the test holds the gate.
#[derive(Clone)]
struct Gated {
    gate: Arc<Mutex<()>>,
    out: Capture,
}

impl<'a> MakeWriter<'a> for Gated {
    type Writer = <Capture as MakeWriter<'a>>::Writer;
    fn make_writer(&'a self) -> Self::Writer {
        drop(self.gate.lock().unwrap());
        self.out.make_writer()
    }
}

/// Emits `n` debug events while the debug writer is stalled; returns (lines written, dropped).
fn flood_stalled_debug(n: u64, capacity: Option<usize>) -> (u64, u64) {
    let gate = Arc::new(Mutex::new(()));
    let debug = Gated {
        gate: gate.clone(),
        out: Capture::default(),
    };
    let mut builder = AuditLayer::builder()
        .audit_to(Capture::default())
        .debug_to(debug.clone())
        .debug_filter("debug");
    if let Some(bytes) = capacity {
        builder = builder.debug(|d| d.queue_capacity(bytes));
    }
    let (layer, guard) = builder.build().unwrap();
    let handle = guard.handle();
    let held = gate.lock().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..n {
            tracing::debug!(
                i,
                "a debug record of some length to fill a small queue quickly"
            );
        }
    });
    drop(held);
    drop(guard);
    let lines = debug
        .out
        .records()
        .iter()
        .filter(|r| r["target"] != "tracing_audit::sink")
        .count() as u64;
    (lines, handle.health(Stream::Debug).dropped)
}

#[test]
fn a_small_debug_queue_drops_and_counts_behind_a_stalled_writer() {
    let (written, dropped) = flood_stalled_debug(500, Some(1024));
    assert!(dropped > 0, "a 1 KiB queue must overflow");
    assert_eq!(written + dropped, 500, "every record is written or counted");
}

#[test]
fn the_default_queue_absorbs_the_same_burst() {
    assert_eq!(flood_stalled_debug(500, None), (500, 0));
}

#[test]
fn a_queue_too_large_to_allocate_is_a_build_error() {
    let err = AuditLayer::builder()
        .audit_to(Capture::default())
        .debug_to(Capture::default())
        .debug(|d| d.queue_capacity(usize::MAX))
        .build::<tracing_subscriber::Registry>()
        .unwrap_err();
    let text = format!("{err}: {:?}", std::error::Error::source(&err));
    assert!(text.contains("cannot allocate a queue"), "{text}");
}
