//! A bounded multi-producer, single-consumer ring of variable-length records, without locks.
//!
//! Producers claim space with one compare-and-swap on `tail`, copy their bytes in and publish
//! the record by setting its bit in a bitmap; the consumer reads records in claim order from
//! `head` and stops at the first one not yet published. Claim order is a total order that
//! respects every happens-before edge between threads (a record submitted before another
//! thread's record was claimed before it), so the file order never contradicts causality.
//!
//! The ring is a slice of `AtomicU64` words, so no `unsafe` code touches shared memory: on x86
//! and ARM relaxed atomic loads and stores are ordinary moves. Positions are monotonic word
//! counts (`position % capacity` is the index); at 1 GB/s they would wrap after ~4,600 years.
//!
//! Layout of a slot: one header word (kind and length), then the payload packed into words (the
//! last one padded with zero bytes). Whether a slot is published is kept apart from the data, one
//! bit per word, because a header word cannot tell by itself: a slot claimed but not yet written
//! still holds an earlier lap's bytes, and those are the application's, arbitrary. The consumer
//! clears the bits of the slots it took before it releases them, so it never writes to the data
//! words (which the next lap's producers would then have to fetch back from its cache). A record
//! never wraps around the end of the slice: when it does not fit before the end, its producer
//! claims the rest of the slice as padding along with it.

// Under `--cfg tracing_audit_loom` the ring's atomics are loom's, so that its model tests (`ring/model.rs`)
// explore every interleaving the memory model allows; the code is the same.
#[cfg(tracing_audit_loom)]
use ::loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(tracing_audit_loom))]
use std::alloc::{self, Layout};
#[cfg(not(tracing_audit_loom))]
use std::sync::atomic::{AtomicU64, Ordering};

/// What a slot holds, in the header's top byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An application record.
    Record = 1,
    /// Space claimed by a producer that then found the sink closed; it counted its record itself.
    Skip = 2,
    /// The unused end of the slice before a record that did not fit there.
    Padding = 3,
    /// Stands for a record too large for the ring, kept aside (see `Shared`) in claim order.
    Oversize = 4,
}

impl Kind {
    fn from_header(header: u64) -> Option<Kind> {
        match header >> 56 {
            1 => Some(Kind::Record),
            2 => Some(Kind::Skip),
            3 => Some(Kind::Padding),
            4 => Some(Kind::Oversize),
            _ => None,
        }
    }
}

const LEN_MASK: u64 = (1 << 56) - 1;

/// Words a slot with `len` payload bytes occupies.
fn slot_words(len: usize) -> u64 {
    1 + len.div_ceil(8) as u64
}

/// Why a claim failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not enough free space right now.
    Full,
    /// The record can never fit in this ring (with the padding its position would need).
    TooLarge,
}

/// Space claimed by one producer, to be filled and then published.
#[derive(Debug)]
pub(crate) struct Claim {
    /// Position of the slot's header.
    at: u64,
    len: usize,
}

impl Claim {
    /// Where the slot lies in the ring's order (what [`Ring::consume`] reports for it).
    pub(crate) fn position(&self) -> u64 {
        self.at
    }
}

/// Keeps `head` and `tail` on separate cache lines so producers claiming space do not slow the
/// consumer's releases (and the other way round).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// What one [`Ring::consume`] call took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Consumed {
    /// Records appended (application records and oversize markers).
    pub(crate) records: u64,
    /// Position the consumer reached: every slot before it is released.
    pub(crate) head: u64,
}

#[derive(Debug)]
pub(crate) struct Ring {
    words: Box<[AtomicU64]>,
    /// Bit `i % 64` of word `i / 64` is set while index `i` holds a published slot's header.
    published: Box<[AtomicU64]>,
    /// Next position to claim.
    tail: Padded,
    /// Every slot before this position has been consumed and released.
    head: Padded,
}

impl Ring {
    /// A ring of `bytes` (rounded up to whole words, at least two), or `None` if the memory
    /// cannot be had. Its pages are mapped as they are first used.
    pub(crate) fn new(bytes: usize) -> Option<Ring> {
        let words = bytes.div_ceil(8).max(2);
        Some(Ring {
            words: zeroed_words(words)?,
            published: zeroed_words(words.div_ceil(64))?,
            tail: Padded::default(),
            head: Padded::default(),
        })
    }

    fn capacity(&self) -> u64 {
        self.words.len() as u64
    }

    fn index(&self, position: u64) -> usize {
        (position % self.capacity()) as usize
    }

    /// The position the next claim will get: every record claimed so far lies before it.
    pub(crate) fn tail(&self) -> u64 {
        self.tail.0.load(Ordering::SeqCst)
    }

    /// Claimed and not yet released words (an upper bound on what is queued).
    pub(crate) fn used_words(&self) -> u64 {
        let head = self.head.0.load(Ordering::Acquire);
        self.tail.0.load(Ordering::Acquire).saturating_sub(head)
    }

    pub(crate) fn half_full(&self) -> bool {
        self.used_words() * 2 >= self.capacity()
    }

    /// Nothing is claimed: no record is queued or being written in.
    pub(crate) fn is_empty(&self) -> bool {
        self.used_words() == 0
    }

    /// A published slot waits at the head, so the consumer can make progress.
    pub(crate) fn has_published(&self) -> bool {
        let head = self.head.0.load(Ordering::Acquire);
        head < self.tail.0.load(Ordering::Acquire) && self.published_header(head).is_some()
    }

    /// The header of the slot at `position` if it is published (its bytes are then visible).
    fn published_header(&self, position: u64) -> Option<u64> {
        let index = self.index(position);
        let bits = self.published[index / 64].load(Ordering::Acquire);
        (bits & 1 << (index % 64) != 0).then(|| self.words[index].load(Ordering::Relaxed))
    }

    /// Claims a slot for `len` payload bytes (and the padding before it, if it would not fit
    /// before the end of the slice), unless that would overrun unreleased slots.
    pub(crate) fn claim(&self, len: usize) -> Result<Claim, Refused> {
        let need = slot_words(len);
        if len as u64 > LEN_MASK || need > self.capacity() {
            return Err(Refused::TooLarge);
        }
        let mut tail = self.tail.0.load(Ordering::Relaxed);
        loop {
            let to_end = self.capacity() - tail % self.capacity();
            let pad = if need <= to_end { 0 } else { to_end };
            if pad + need > self.capacity() {
                return Err(Refused::TooLarge);
            }
            // A stale `tail` can be behind `head`; the compare-and-swap below then fails anyway.
            let head = self.head.0.load(Ordering::Acquire);
            if (tail + pad + need).saturating_sub(head) > self.capacity() {
                return Err(Refused::Full);
            }
            // SeqCst: the sink's close protocol orders this claim against its `closed` flag.
            match self.tail.0.compare_exchange_weak(
                tail,
                tail + pad + need,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if pad > 0 {
                        self.publish_header(tail, Kind::Padding, (pad as usize - 1) * 8);
                    }
                    return Ok(Claim {
                        at: tail + pad,
                        len,
                    });
                }
                Err(now) => tail = now,
            }
        }
    }

    /// Copies the payload into a claimed slot (not yet visible to the consumer).
    pub(crate) fn fill(&self, claim: &Claim, bytes: &[u8]) {
        debug_assert_eq!(bytes.len(), claim.len);
        let first = self.index(claim.at) + 1;
        let slots = &self.words[first..first + claim.len.div_ceil(8)];
        let mut chunks = bytes.chunks_exact(8);
        for (word, chunk) in slots.iter().zip(&mut chunks) {
            let value = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            word.store(value, Ordering::Relaxed);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            if let Some(word) = slots.last() {
                word.store(u64::from_le_bytes(last), Ordering::Relaxed);
            }
        }
    }

    /// Makes a claimed slot visible to the consumer as `kind`. A `Skip` or `Oversize` slot's
    /// payload is never read.
    pub(crate) fn publish(&self, claim: Claim, kind: Kind) {
        self.publish_header(claim.at, kind, claim.len);
    }

    fn publish_header(&self, at: u64, kind: Kind, len: usize) {
        let index = self.index(at);
        self.words[index].store((kind as u64) << 56 | len as u64, Ordering::Relaxed);
        // Release: the header and payload stores above are visible to whoever sees the bit.
        self.published[index / 64].fetch_or(1 << (index % 64), Ordering::Release);
    }

    /// Appends every published record from the head on, up to the first unpublished slot, to
    /// `out` as `payload + '\n'`; for an oversize marker, `oversize(position, out)` appends the
    /// record kept aside. Then releases the slots taken. Only one thread may consume at a time
    /// (the sink serializes consumers with its state lock).
    pub(crate) fn consume(
        &self,
        out: &mut Vec<u8>,
        mut oversize: impl FnMut(u64, &mut Vec<u8>),
    ) -> Consumed {
        let mut head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Acquire);
        let mut records = 0;
        let mut taken = TakenBits::default();
        while head < tail {
            let Some(header) = self.published_header(head) else {
                break;
            };
            let Some(kind) = Kind::from_header(header) else {
                break;
            };
            let index = self.index(head);
            let len = (header & LEN_MASK) as usize;
            match kind {
                Kind::Record => {
                    copy_out(&self.words[index + 1..], len, out);
                    out.push(b'\n');
                    records += 1;
                }
                Kind::Oversize => {
                    oversize(head, out);
                    records += 1;
                }
                Kind::Skip | Kind::Padding => {}
            }
            taken.add(index, &self.published);
            head += slot_words(len);
        }
        // Before the release: a producer can claim these indexes again only after it.
        taken.clear(&self.published);
        self.head.0.store(head, Ordering::Release);
        Consumed { records, head }
    }

    /// Counts the published records waiting at the head (stops at the first unpublished slot).
    /// Counts the records published anywhere in `[from, to)`, also behind slots claimed but not
    /// yet published (whose lengths are unknown, so the walk goes word by word and trusts only
    /// published headers). For a closing sink that gave up waiting for a stalled producer: the
    /// records behind it will never be taken, and must be counted.
    pub(crate) fn count_published_records_between(&self, from: u64, to: u64) -> u64 {
        let mut records = 0;
        let mut at = from;
        while at < to {
            match self.published_header(at) {
                Some(header) => {
                    if matches!(
                        Kind::from_header(header),
                        Some(Kind::Record | Kind::Oversize)
                    ) {
                        records += 1;
                    }
                    at += slot_words((header & LEN_MASK) as usize).max(1);
                }
                None => at += 1,
            }
        }
        records
    }

    /// The ring position of the oldest slot not yet released.
    pub(crate) fn head(&self) -> u64 {
        self.head.0.load(Ordering::Acquire)
    }

    pub(crate) fn count_published(&self) -> u64 {
        let mut head = self.head.0.load(Ordering::Acquire);
        let tail = self.tail.0.load(Ordering::Acquire);
        let mut records = 0;
        while head < tail {
            let Some(header) = self.published_header(head) else {
                break;
            };
            match Kind::from_header(header) {
                None => break,
                Some(Kind::Record | Kind::Oversize) => records += 1,
                Some(_) => {}
            }
            head += slot_words((header & LEN_MASK) as usize);
        }
        records
    }
}

/// The published bits of the slots one `consume` took, cleared one bitmap word at a time. Only
/// those bits: the same bitmap word may already hold bits of the next lap's slots at indexes the
/// consumer passed earlier.
#[derive(Default)]
struct TakenBits {
    word: Option<usize>,
    mask: u64,
}

impl TakenBits {
    fn add(&mut self, index: usize, bitmap: &[AtomicU64]) {
        if self.word != Some(index / 64) {
            self.clear(bitmap);
            self.word = Some(index / 64);
        }
        self.mask |= 1 << (index % 64);
    }

    fn clear(&mut self, bitmap: &[AtomicU64]) {
        if let Some(word) = self.word.take() {
            bitmap[word].fetch_and(!self.mask, Ordering::Relaxed);
        }
        self.mask = 0;
    }
}

/// `n` zeroed words from the allocator's zeroed memory: for a large ring these are fresh pages
/// the kernel maps on first touch, so an idle sink does not pay its queue capacity in RSS.
#[cfg(not(tracing_audit_loom))]
fn zeroed_words(n: usize) -> Option<Box<[AtomicU64]>> {
    let layout = Layout::array::<AtomicU64>(n).ok()?;
    // SAFETY: `layout` has a non-zero size (n >= 1). The allocation is zeroed, and all-zero bits
    // are a valid `AtomicU64` (zero). The box takes ownership of exactly `n` elements allocated
    // with the layout of `[AtomicU64; n]`, which is the layout it frees them with.
    unsafe {
        let ptr = alloc::alloc_zeroed(layout).cast::<AtomicU64>();
        if ptr.is_null() {
            return None;
        }
        Some(Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n)))
    }
}

/// Loom's atomics are not plain integers in memory: make them one by one.
#[cfg(tracing_audit_loom)]
fn zeroed_words(n: usize) -> Option<Box<[AtomicU64]>> {
    (n < 1 << 20).then(|| (0..n).map(|_| AtomicU64::new(0)).collect())
}

fn copy_out(payload: &[AtomicU64], len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + len.div_ceil(8) * 8, 0);
    for (bytes, word) in out[start..].chunks_exact_mut(8).zip(payload) {
        bytes.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
    out.truncate(start + len);
}

#[cfg(all(test, tracing_audit_loom))]
mod model;
#[cfg(all(test, not(tracing_audit_loom)))]
mod tests;
