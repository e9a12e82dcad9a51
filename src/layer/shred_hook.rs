//! The layer's one seam with crypto-shredding ([`crate::shred`]): opening the key store when
//! the layer is built, marking personal span values while a record is assembled, and erasing
//! through the running writer. Compiled only with the `shred` feature, so without it the event
//! path is exactly what it was.

use super::builder::Destination;
use super::spans::RenderedFields;
use super::{AuditHandle, Shared};
use crate::shred::{Erasure, ShredConfig, ShredError, Shredder, SubjectHash};
use crate::trail::json;
use crate::Stream;
use std::time::SystemTime;

/// Opens the key store and completes any erasure a crash left half done: one the trail
/// records while the store still holds the key.
pub(super) fn open(config: &ShredConfig, audit: &Destination) -> Result<Shredder, ShredError> {
    let shredder = Shredder::open(config)?;
    if let Destination::Files(files) = audit {
        let prefix = files.configured_prefix().unwrap_or(Stream::Audit.as_str());
        crate::shred::complete_erasures(&shredder, files.dir(), prefix)?;
    }
    Ok(shredder)
}

/// Appends a span's rendered fields to `spans`, noting where each personal value lies
/// (`start`, `end`, field name) so that [`Shredder::seal_record`] can encrypt it.
pub(super) fn push_span_fields(
    shredder: &Shredder,
    spans: &mut Vec<u8>,
    rendered: &RenderedFields,
    marks: &mut Vec<(usize, usize, &'static str)>,
) {
    let mut first = true;
    for (name, value) in rendered.pairs() {
        if !first {
            spans.push(b',');
        }
        first = false;
        json::write_key(spans, name);
        let start = spans.len();
        spans.extend_from_slice(value);
        if shredder.is_personal(name) {
            marks.push((start, spans.len(), name));
        }
    }
}

/// Encrypts the personal values of one audit record (see [`Shredder::seal_record`]).
pub(super) fn seal(
    shared: &Shared,
    ts: SystemTime,
    lifted: &mut [Vec<u8>; 7],
    spans: &mut Vec<u8>,
    marks: &[(usize, usize, &'static str)],
    scratch: &mut Vec<u8>,
) {
    if let Some(shredder) = &shared.shred {
        shredder.seal_record(shared.id, ts, lifted, spans, marks, scratch);
    }
}

impl AuditHandle {
    /// Erases a subject: writes the chained `erasure` control record (naming the subject's
    /// keyed hash, `requested_by`, `reason` and the key store generation that destroys the
    /// key), waits until it is fsynced, then rewrites the key store without the subject's key
    /// (fsynced). From then on the subject's encrypted fields, in every file and every copy,
    /// can no longer be read, and new records of the subject are written without them.
    ///
    /// `subject` is the name as records hold it (the `actor` value, by default). Do not put
    /// the subject's name in `reason`: the reason is written in plain.
    ///
    /// # Errors
    /// The layer was built without [`shred`](super::AuditLayerBuilder::shred), the erasure
    /// record cannot be made durable (nothing was destroyed), or the store cannot be rewritten
    /// (the record is on disk: the next start of the writer completes the erasure).
    pub fn erase(
        &self,
        subject: &str,
        reason: &str,
        requested_by: &str,
    ) -> Result<Erasure, ShredError> {
        let shredder = self.shared.shred.as_ref().ok_or_else(|| {
            ShredError::other("this layer was built without encrypted fields (shred)".to_owned())
        })?;
        let hash: SubjectHash = shredder.master().subject(subject);
        // 1. The store records the erasure as begun (fsynced): a crash from here on is
        //    resolved from the store at the next start (`complete_erasures`).
        let generation = shredder.begin(hash)?;
        let erasure = Erasure {
            subject: hash,
            requested_by: requested_by.to_owned(),
            reason: reason.to_owned(),
            generation,
        };
        // 2. The chained erasure record, fsynced.
        self.shared
            .sink(Stream::Audit)
            .submit(&erasure.body(SystemTime::now()));
        if let Err(e) = self.sync() {
            // Not durable: withdraw, so that the store never loses a key the trail does not
            // account for. (Should the record reach the disk after all, readers still show
            // the subject as erased.)
            let _ = shredder.cancel(hash);
            return Err(ShredError::other(format!(
                "the erasure record could not be made durable, nothing was destroyed: {e}"
            )));
        }
        // 3. The key destroyed: the store rewritten without it (fsynced).
        #[cfg(feature = "_test-hooks")]
        if let Some(pause) = crate::shred::test_hooks::before_destroy() {
            pause();
        }
        shredder.destroy(hash)?;
        Ok(erasure)
    }
}
