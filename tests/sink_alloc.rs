//! Submitting a record allocates nothing on the calling thread once the queue has grown to its
//! working size: the caller only copies bytes into a buffer the writer hands back.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io;
use std::time::Duration;

use tracing_audit::sink::testing;
use tracing_audit::Stream;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls per thread.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn submitting_records_does_not_allocate_on_the_calling_thread() {
    for stream in [Stream::Audit, Stream::Debug] {
        let (handle, guard) = testing::spawn_writer(
            stream,
            BoxMakeWriter::new(io::sink),
            64 << 10,
            Duration::from_secs(5),
        )
        .unwrap();
        let record = br#"{"ts":"2026-11-26T05:56:07.123456789Z","stream":"audit","level":"INFO","target":"audit","actor":"alice","action":"read","message":"m"}"#;
        // Warm-up: both buffers grow to the queue's working size.
        for _ in 0..20_000 {
            testing::submit(&handle, record);
        }
        handle.sync().unwrap();
        let before = allocations();
        for _ in 0..20_000 {
            testing::submit(&handle, record);
        }
        let during = allocations() - before;
        assert_eq!(
            during, 0,
            "{stream}: {during} allocations for 20000 submits"
        );
        drop(guard);
    }
}
