//! The seam between a sink's writer thread and the audit chain.
//!
//! The writer thread owns file order, so it is the only place where sequence numbers and MACs can
//! be assigned correctly. It does not know the chain's format: it hands every record body to a
//! [`Framer`] and writes what comes back.

use std::path::PathBuf;
use std::time::SystemTime;

/// A torn last line found when a sink reopened its newest file after a crash.
#[derive(Debug, Clone)]
pub(crate) struct TornTail {
    /// File name (not path) the torn bytes were cut from.
    pub(crate) file: String,
    /// Where the torn bytes were moved to (never silently deleted).
    pub(crate) set_aside: PathBuf,
    /// How many bytes were set aside.
    pub(crate) bytes: u64,
}

/// Turns record bodies into the exact lines written to the stream, in file order.
///
/// Every method appends complete lines, each ending in `\n`, to `out`.
pub(crate) trait Framer: Send + 'static {
    /// Called first, when the stream is written to files: the trail's directory and prefix
    /// (where the framer keeps what it derives from the trail, such as Merkle tiles).
    fn attach_trail(&mut self, dir: &std::path::Path, prefix: &str) {
        let _ = (dir, prefix);
    }

    /// Called before [`resume`](Framer::resume) with the line of the checkpoint side file: the
    /// newest checkpoint published before this start. A trail that ends before it was cut.
    fn published(&mut self, line: &[u8]) {
        let _ = line;
    }

    /// Called once before the first record. `last_line` is the last complete line already on disk
    /// for this sink (newest file; `None` for a fresh trail or a target that cannot be read back,
    /// such as a `MakeWriter`), without its trailing newline. `torn` describes a torn tail that
    /// was set aside. May append records (for example a repair record).
    fn resume(
        &mut self,
        last_line: Option<&[u8]>,
        torn: Option<&TornTail>,
        now: SystemTime,
        out: &mut Vec<u8>,
    );

    /// Frames one record body: a JSON object (`{...}`), no trailing newline.
    fn frame(&mut self, body: &[u8], out: &mut Vec<u8>);

    /// The file named `closing` is being closed by rotation and `next` will be written next.
    /// Appends the seal line, which is written as the last line of `closing`.
    fn seal(&mut self, closing: &str, next: &str, now: SystemTime, out: &mut Vec<u8>);

    /// Called after every batch and at shutdown (`force = true`). Appends a checkpoint line when
    /// one is due and returns its byte range within `out`, so the sink can also publish it to the
    /// checkpoint side file (`<prefix>.checkpoint`, replaced atomically) for off-host shipping.
    fn checkpoint(
        &mut self,
        now: SystemTime,
        force: bool,
        out: &mut Vec<u8>,
    ) -> Option<std::ops::Range<usize>>;

    /// Retention is about to delete `files` (oldest first), which hold the records up to
    /// `through_seq`, whose MAC is `through_mac`. Appends the chained `prune` record that says
    /// so and returns true; the writer makes it durable before anything is deleted. A framer
    /// that cannot record it returns false, and nothing is deleted.
    fn prune(
        &mut self,
        files: &[String],
        through_seq: u64,
        through_mac: &[u8; 32],
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> bool {
        let _ = (files, through_seq, through_mac, now, out);
        false
    }

    /// Appends a control record of `kind` carrying `detail` (an event the sink observed about
    /// the trail, such as a witness alarm). A framer without control records ignores it.
    #[cfg(feature = "tlog")]
    fn note_event(&mut self, kind: &str, detail: &str, now: SystemTime, out: &mut Vec<u8>) {
        let _ = (kind, detail, now, out);
    }

    /// Whether this framer signs epoch seals (their seals are archived before retention
    /// deletes the files holding them).
    fn signs_epochs(&self) -> bool {
        false
    }

    /// When the current epoch of a signed trail ends (`None`: not signed, or no epoch started).
    /// The writer wakes up for it even when no records come, so idle epochs are sealed too.
    fn epoch_deadline(&self) -> Option<SystemTime> {
        None
    }

    /// Appends the seal of the current epoch if it is over at `now`, or at once when `force`d
    /// (clean shutdown). Returns whether it appended one; the writer then makes the seal durable
    /// and calls [`commit_epoch`](Framer::commit_epoch).
    fn seal_epoch(&mut self, now: SystemTime, force: bool, out: &mut Vec<u8>) -> bool {
        let _ = (now, force, out);
        false
    }

    /// The last epoch seal is on disk (fsynced): replace the key state so the sealed epoch's
    /// secret is gone from the disk too (with the framer's own tail, see [`TailMark`]).
    fn commit_epoch(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// A prune record is on disk and retention is about to delete files: appends what makes
    /// the framer's own tail durable and the record authenticated before anything is deleted
    /// (an epoch seal on a signed trail, a checkpoint otherwise). The writer makes it durable,
    /// then commits the seal or publishes the checkpoint, then deletes.
    fn mark_tail(&mut self, now: SystemTime, out: &mut Vec<u8>) -> Option<TailMark> {
        let _ = (now, out);
        None
    }
}

/// What [`Framer::mark_tail`] appended. A restarted writer adopts the lines on disk only up to
/// its last durable tail (the signing state's on a signed trail, else the published
/// checkpoint's); it disowns lines after it that it cannot authenticate, so its tail must be
/// recorded wherever a control record the verifier relies on was written.
#[derive(Debug)]
pub(crate) enum TailMark {
    /// An epoch seal: commit it ([`Framer::commit_epoch`]) once it is durable.
    #[cfg_attr(not(feature = "signed-seals"), allow(dead_code))]
    Sealed,
    /// A checkpoint (its range in `out`): publish it once it is durable.
    Checkpoint(std::ops::Range<usize>),
}
