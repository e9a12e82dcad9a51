//! Encoding records as single JSON lines: the JSON writer, timestamps, redacted field values,
//! and the per-thread buffers they are assembled in.

pub(crate) mod fields;

use std::cell::Cell;

/// Scratch space for assembling one record. Reused per thread so the common path allocates
/// nothing once the buffers have grown to the size of a typical record.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// The finished record.
    pub(crate) out: Vec<u8>,
    /// The message as a JSON string, when the event has one.
    pub(crate) message: Vec<u8>,
    /// `"name":value` pairs of ordinary fields, comma separated.
    pub(crate) fields: Vec<u8>,
    /// The span chain, `{...}` objects comma separated.
    pub(crate) spans: Vec<u8>,
    /// Lifted audit keys as JSON strings, empty when absent.
    pub(crate) lifted: [Vec<u8>; 7],
    /// A value rendered with `Debug`/`Display` before redaction.
    pub(crate) text: String,
    /// Output of a redaction action (pseudonym, partial form).
    pub(crate) scratch: String,
}

/// Buffers larger than this after a record are released rather than kept for the thread's life.
const KEEP_CAPACITY: usize = 64 * 1024;

impl Buffers {
    fn clear(&mut self) {
        self.out.clear();
        self.message.clear();
        self.fields.clear();
        self.spans.clear();
        for l in &mut self.lifted {
            l.clear();
        }
        self.text.clear();
        self.scratch.clear();
    }

    fn release_oversized(&mut self) {
        fn trim(v: &mut Vec<u8>) {
            if v.capacity() > KEEP_CAPACITY {
                *v = Vec::new();
            }
        }
        trim(&mut self.out);
        trim(&mut self.message);
        trim(&mut self.fields);
        trim(&mut self.spans);
        if self.text.capacity() > KEEP_CAPACITY {
            self.text = String::new();
        }
        if self.scratch.capacity() > KEEP_CAPACITY {
            self.scratch = String::new();
        }
    }
}

thread_local! {
    static BUFFERS: Cell<Option<Box<Buffers>>> = const { Cell::new(None) };
}

/// Runs `f` with this thread's buffers, cleared.
///
/// The buffers are *taken out* of the thread-local for the duration: an event emitted while `f`
/// runs (a `Debug` impl that logs) finds none and uses fresh ones, so nested records can neither
/// corrupt the outer one nor hit a `RefCell` double borrow.
pub(crate) fn with_buffers<R>(f: impl FnOnce(&mut Buffers) -> R) -> R {
    let mut bufs = BUFFERS
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_default();
    bufs.clear();
    let result = f(&mut bufs);
    bufs.release_oversized();
    // Fails only during thread teardown, when dropping the buffers is right anyway.
    let _ = BUFFERS.try_with(|slot| slot.set(Some(bufs)));
    result
}
