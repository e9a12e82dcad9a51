//! `Overflow::BlockFor(d)`: an audit caller whose disk stopped accepting writes waits about `d`,
//! then the record is lost loudly (counted, and the next `sync()` fails), instead of stalling
//! the thread forever.

use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tracing_audit::layer::SyncErrorKind;
use tracing_audit::sink::Overflow;
use tracing_audit::{layer::AuditLayer, Stream};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// A disk that stops: every write blocks until `release`.
#[derive(Clone, Default)]
struct StalledDisk(Arc<(Mutex<bool>, Condvar)>);

impl StalledDisk {
    fn release(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
}

impl io::Write for StalledDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (released, cv) = &*self.0;
        let mut r = released.lock().unwrap();
        while !*r {
            r = cv.wait(r).unwrap();
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for StalledDisk {
    type Writer = StalledDisk;
    fn make_writer(&'a self) -> StalledDisk {
        self.clone()
    }
}

#[test]
fn a_stalled_disk_with_block_for_fails_the_record_within_the_bound_and_sync_reports_it() {
    let disk = StalledDisk::default();
    let bound = Duration::from_millis(300);
    let (layer, guard) = AuditLayer::builder()
        .audit_to(disk.clone())
        .debug_to(io::sink)
        .audit(|a| a.queue_capacity(1024).overflow(Overflow::BlockFor(bound)))
        .build()
        .unwrap();
    let handle = guard.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    // Fill the queue behind the stalled writer until a caller finds it full: that one waits
    // `bound`, then goes on without its record.
    let mut slowest = Duration::ZERO;
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..64 {
            let start = Instant::now();
            tracing::info!(target: "audit", actor = "alice", action = "write", outcome = "success", i);
            slowest = slowest.max(start.elapsed());
            if handle.health(Stream::Audit).overflowed > 0 {
                break;
            }
        }
    });
    let health = handle.health(Stream::Audit);
    assert!(health.overflowed >= 1, "{health:?}");
    assert!(
        slowest >= bound,
        "a full queue made the caller wait: {slowest:?}"
    );
    // Generous: the bound, not forever (and not once per queued record).
    assert!(
        slowest < bound * 10,
        "gave up after about the bound: {slowest:?}"
    );
    let err = handle.sync().expect_err("lost records fail the next sync");
    assert_eq!(err.kind(), SyncErrorKind::Overflowed, "{err}");
    assert!(health
        .last_error
        .unwrap_or_default()
        .contains("queue stayed full"));

    disk.release();
    drop(guard);
}

#[test]
fn the_default_overflow_waits_for_the_disk_and_loses_nothing() {
    let disk = StalledDisk::default();
    let (layer, guard) = AuditLayer::builder()
        .audit_to(disk.clone())
        .debug_to(io::sink)
        .audit(|a| a.queue_capacity(1024))
        .build()
        .unwrap();
    let handle = guard.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let emitter = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..64 {
                tracing::info!(target: "audit", actor = "alice", action = "write", outcome = "success", i);
            }
        })
    });
    // 64 records cannot fit in 1 KiB behind a writer that is stuck: once records queue up, the
    // emitter can only be waiting (a dropping queue would let it finish at once).
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.health(Stream::Audit).queued == 0 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert!(handle.health(Stream::Audit).queued > 0);
    assert!(!emitter.is_finished(), "blocked, not dropping");
    disk.release();
    emitter.join().unwrap();
    handle.sync().unwrap();
    let health = handle.health(Stream::Audit);
    assert_eq!(health.overflowed, 0);
    assert_eq!(health.written, 64);
    drop(guard);
}
