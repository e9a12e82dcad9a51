//! The two floors every figure of ours is read against (issue 24), run by `examples/flood.rs`
//! through the same registry, spans and events as ours and the peer:
//!
//! - the **write floor**: a layer that appends one fixed 330-byte line per event through a
//!   per-thread 64 KiB buffer to one file: no JSON, no chain, no redaction, no queue. What
//!   any file logger must at least pay (the registry, one `write(2)` per 64 KiB, the page cache).
//! - the **null floor**: a layer that does nothing; what is left is `tracing`'s and the
//!   registry's own cost of the spans and events.

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Bytes of every line the write floor appends, newline included (the size of one of our audit
/// records in this workload).
pub const LINE_BYTES: usize = 330;

/// Bytes each emitting thread buffers before one `write(2)`.
const BUFFER_BYTES: usize = 64 * 1024;

/// What the write-floor lines of audit events start with, so that they can be counted apart.
pub const AUDIT_MARK: &[u8] = b"{\"floor\":\"audit\"";

/// The layer that does nothing.
pub struct NullFloor;

impl<S: Subscriber> Layer<S> for NullFloor {}

/// The layer that appends a fixed line per event through a per-thread buffer.
pub struct WriteFloor {
    file: Arc<File>,
    audit_line: Box<[u8]>,
    debug_line: Box<[u8]>,
}

impl WriteFloor {
    /// A write floor appending to `file` (opened for appending by the caller).
    pub fn new(file: File) -> WriteFloor {
        WriteFloor {
            file: Arc::new(file),
            audit_line: fixed_line(AUDIT_MARK),
            debug_line: fixed_line(b"{\"floor\":\"debug\""),
        }
    }
}

/// `start`, padded with `.` to [`LINE_BYTES`] - 1 bytes, and a newline.
fn fixed_line(start: &[u8]) -> Box<[u8]> {
    let mut line = start.to_vec();
    line.resize(LINE_BYTES - 1, b'.');
    line.push(b'\n');
    line.into_boxed_slice()
}

/// One thread's buffer; written out when full and when the thread exits.
struct ThreadBuffer {
    bytes: Vec<u8>,
    file: Option<Arc<File>>,
}

impl ThreadBuffer {
    fn push(&mut self, line: &[u8], file: &Arc<File>) {
        if self.bytes.len() + line.len() > BUFFER_BYTES {
            self.flush();
        }
        if self.file.is_none() {
            self.file = Some(Arc::clone(file));
        }
        self.bytes.extend_from_slice(line);
    }

    fn flush(&mut self) {
        if let Some(mut file) = self.file.as_deref() {
            // A floor has no error path to measure; a failed write shows as missing lines.
            let _ = file.write_all(&self.bytes);
        }
        self.bytes.clear();
    }
}

impl Drop for ThreadBuffer {
    fn drop(&mut self) {
        self.flush();
    }
}

thread_local! {
    static BUFFER: RefCell<ThreadBuffer> = RefCell::new(ThreadBuffer {
        bytes: Vec::with_capacity(BUFFER_BYTES),
        file: None,
    });
}

impl<S: Subscriber> Layer<S> for WriteFloor {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = if event.metadata().target() == "audit" {
            &self.audit_line
        } else {
            &self.debug_line
        };
        BUFFER.with(|buffer| buffer.borrow_mut().push(line, &self.file));
    }
}
