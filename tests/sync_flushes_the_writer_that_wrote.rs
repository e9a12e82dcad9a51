//! What `sync()` promises for a `MakeWriter` destination: the writer that wrote the records is
//! the one flushed. And what it cannot promise: a writer that queues records for a thread of
//! its own (`tracing_appender::non_blocking`) has taken them, not written them.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};
use tracing_audit::layer::AuditLayer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Each writer buffers privately and hands its bytes to the shared store only when flushed,
/// like a `BufWriter` over a socket. Dropping a writer unflushed loses its bytes.
#[derive(Clone, Default)]
struct Buffered(Arc<Mutex<Vec<u8>>>);

struct BufferedWriter {
    store: Arc<Mutex<Vec<u8>>>,
    pending: Vec<u8>,
}

impl Write for BufferedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.store.lock().unwrap().append(&mut self.pending);
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffered {
    type Writer = BufferedWriter;
    fn make_writer(&'a self) -> BufferedWriter {
        BufferedWriter {
            store: Arc::clone(&self.0),
            pending: Vec::new(),
        }
    }
}

fn audit_one(dispatch: &tracing::Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        tracing::info!(target: "audit", actor = "alice", action = "delete", resource = "/x", outcome = "success");
    });
}

#[test]
fn sync_returns_only_after_the_writer_that_wrote_was_flushed() {
    let target = Buffered::default();
    let (layer, guard) = AuditLayer::builder()
        .audit_to(target.clone())
        .debug_to(io::sink)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    audit_one(&dispatch);
    guard.handle().sync().unwrap();
    let stored = String::from_utf8(target.0.lock().unwrap().clone()).unwrap();
    assert!(
        stored.contains("\"action\":\"delete\""),
        "the record reached the target when sync returned: {stored:?}"
    );
    drop(guard);
}

/// Whether the gate is open, and what passed it.
type GateState = Mutex<(bool, Vec<u8>)>;

/// A destination that holds every write until released, behind `non_blocking`.
#[derive(Clone, Default)]
struct Gate(Arc<(GateState, Condvar)>);

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (state, cv) = &*self.0;
        let mut s = state.lock().unwrap();
        while !s.0 {
            s = cv.wait(s).unwrap();
        }
        s.1.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn sync_over_non_blocking_can_only_promise_the_channel_took_the_record() {
    // Documented on `AuditLayerBuilder::audit_to` and `AuditHandle::sync`: `non_blocking`'s
    // writer queues for its own worker thread, so `sync()` returns Ok while the record may
    // still sit in that channel. This test pins that limitation down.
    let gate = Gate::default();
    let (non_blocking, worker_guard) = tracing_appender::non_blocking(gate.clone());
    let (layer, guard) = AuditLayer::builder()
        .audit_to(non_blocking)
        .debug_to(io::sink)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    audit_one(&dispatch);
    guard
        .handle()
        .sync()
        .expect("non_blocking accepted the record");
    assert!(
        gate.0 .0.lock().unwrap().1.is_empty(),
        "the record has not reached the destination, yet sync said Ok"
    );
    // Released, the worker delivers it.
    {
        let (state, cv) = &*gate.0;
        state.lock().unwrap().0 = true;
        cv.notify_all();
    }
    drop(guard);
    drop(worker_guard);
    let delivered = String::from_utf8(gate.0 .0.lock().unwrap().1.clone()).unwrap();
    assert!(delivered.contains("\"action\":\"delete\""), "{delivered:?}");
}
