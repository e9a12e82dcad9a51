//! The chain framer: assigns sequence numbers and MACs on the audit sink's writer thread.

use super::framing::{Framer, TailMark, TornTail};
use super::ChainConfig;
use crate::trail::trailer::{self, Alg, GENESIS_PREV};
use hmac::Hmac;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Frames audit records into a MAC chain, in file order.
pub(crate) struct ChainFramer {
    key: Option<Hmac<Sha256>>,
    /// `,"kid":"<id>"`, pre-rendered (empty when unkeyed).
    kid: Vec<u8>,
    alg: Alg,
    every: u64,
    interval: Duration,
    next_seq: u64,
    prev: [u8; 32],
    /// First sequence number of the file being written, when known (not after a restart that
    /// appended to an existing file).
    file_first: Option<u64>,
    /// The next record is the first of its file: it carries `"prev"` so that it can be verified
    /// even when every earlier file was pruned.
    at_file_start: bool,
    since_checkpoint: u64,
    last_checkpoint_at: Option<SystemTime>,
    /// Scratch buffer for control record bodies.
    scratch: Vec<u8>,
    /// The seq of the checkpoint published to the side file before this start.
    published: Option<u64>,
    /// This framer's own last durable record (`seq`, MAC) before this start: the signing
    /// state's on a signed trail (outside the trail directory), else the published checkpoint.
    /// `None` when it was never recorded (a trail older than the record, or a fresh one).
    durable_tail: Option<(u64, [u8; 32])>,
    /// Signed epoch seals, when configured.
    #[cfg(feature = "signed-seals")]
    epochs: Option<Epochs>,
    /// The Merkle tree and the log key, when checkpoints are signed.
    #[cfg(feature = "tlog")]
    tree: Option<super::tree::WriterTree>,
}

/// The epoch clock and key of a signed trail.
#[cfg(feature = "signed-seals")]
struct Epochs {
    state: super::SigningState,
    len: Duration,
    /// When the current epoch started (by the sink's clock); `None` before the first record.
    started: Option<SystemTime>,
    /// `,"epoch":E`, pre-rendered.
    suffix: Vec<u8>,
    /// A restart found the last epoch unsealed: seal it before anything else.
    seal_now: bool,
    /// An epoch was sealed whose key is still in the state file.
    uncommitted: bool,
}

#[cfg(feature = "signed-seals")]
impl Epochs {
    fn set_suffix(&mut self) {
        self.suffix.clear();
        self.suffix.extend_from_slice(trailer::EPOCH_SEP);
        self.suffix
            .extend_from_slice(itoa::Buffer::new().format(self.state.epoch()).as_bytes());
    }
}

impl std::fmt::Debug for ChainFramer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainFramer")
            .field("alg", &self.alg)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// Why a chain segment starts with a `genesis` record.
#[derive(Clone, Copy)]
enum GenesisReason {
    New,
    UnchainedLastLine,
}

impl ChainFramer {
    pub(crate) fn new(config: &ChainConfig) -> Self {
        let (key, kid, alg) = match &config.key {
            Some(k) => {
                let mut kid = b",\"kid\":".to_vec();
                crate::trail::json::write_str(&mut kid, k.key_id());
                (Some(k.mac()), kid, Alg::HmacSha256)
            }
            None => (None, Vec::new(), Alg::Sha256),
        };
        ChainFramer {
            key,
            kid,
            alg,
            every: config.every.max(1),
            interval: config.interval,
            next_seq: 0,
            prev: GENESIS_PREV,
            file_first: Some(0),
            at_file_start: true,
            since_checkpoint: 0,
            last_checkpoint_at: None,
            scratch: Vec::with_capacity(256),
            published: None,
            durable_tail: None,
            #[cfg(feature = "signed-seals")]
            epochs: config.signing.clone().map(|state| {
                let mut e = Epochs {
                    state,
                    len: config.epoch,
                    started: None,
                    suffix: Vec::new(),
                    seal_now: false,
                    uncommitted: false,
                };
                e.set_suffix();
                e
            }),
            #[cfg(feature = "tlog")]
            tree: config.log.clone().map(super::tree::WriterTree::new),
        }
    }

    /// Appends one framed line: `{"seq":N` + `content` (which starts with `,` or is empty) +
    /// chain keys. Returns the line's range in `out`.
    fn emit(&mut self, content: [&[u8]; 2], genesis: bool, out: &mut Vec<u8>) -> Range<usize> {
        let start = out.len();
        out.extend_from_slice(b"{\"seq\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.next_seq).as_bytes());
        out.extend_from_slice(content[0]);
        out.extend_from_slice(content[1]);
        #[cfg(feature = "signed-seals")]
        if let Some(e) = &self.epochs {
            out.extend_from_slice(&e.suffix);
        }
        if genesis {
            self.prev = GENESIS_PREV;
        } else if self.at_file_start {
            out.extend_from_slice(b",\"prev\":\"");
            crate::trail::hex::push_hex(&self.prev, out);
            out.push(b'"');
        }
        out.extend_from_slice(&self.kid);
        let mac = trailer::compute(self.key.as_ref(), &self.prev, &out[start..]);
        out.extend_from_slice(trailer::MAC_SEP);
        trailer::push_mac(self.alg, &mac, out);
        out.extend_from_slice(b"\"}\n");
        if self.at_file_start && self.file_first.is_none() {
            self.file_first = Some(self.next_seq);
        }
        #[cfg(feature = "tlog")]
        if let Some(tree) = self.tree.as_mut() {
            // The leaf is the line as written, without its newline.
            tree.push(self.next_seq, &out[start..out.len() - 1]);
        }
        self.prev = mac;
        self.next_seq = self.next_seq.saturating_add(1);
        self.since_checkpoint += 1;
        self.at_file_start = false;
        start..out.len()
    }

    /// Starts `,"ts":"..","stream":"audit","record":"<kind>"` in the scratch buffer.
    fn control_head(&mut self, kind: &str, now: SystemTime) {
        self.scratch.clear();
        self.scratch.extend_from_slice(b",\"ts\":\"");
        crate::trail::time::write_rfc3339(now, &mut self.scratch);
        self.scratch
            .extend_from_slice(b"\",\"stream\":\"audit\",\"record\":\"");
        self.scratch.extend_from_slice(kind.as_bytes());
        self.scratch.push(b'"');
    }

    fn emit_control(&mut self, genesis: bool, out: &mut Vec<u8>) -> Range<usize> {
        let content = std::mem::take(&mut self.scratch);
        let range = self.emit([&content, b""], genesis, out);
        self.scratch = content;
        range
    }

    fn genesis(&mut self, reason: GenesisReason, now: SystemTime, out: &mut Vec<u8>) {
        self.control_head("genesis", now);
        self.scratch.extend_from_slice(b",\"chain\":\"");
        crate::trail::hex::push_hex(&new_chain_id(now), &mut self.scratch);
        self.scratch.extend_from_slice(b"\",\"reason\":\"");
        self.scratch.extend_from_slice(match reason {
            GenesisReason::New => b"new".as_slice(),
            GenesisReason::UnchainedLastLine => b"unchained_last_line".as_slice(),
        });
        let _ = write!(self.scratch, "\",\"format\":{}", crate::trail::FORMAT);
        self.emit_control(true, out);
    }
}

/// A chain id that tells trails apart (uniqueness, not secrecy, is what matters).
fn new_chain_id(now: SystemTime) -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    let nanos = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(nanos.to_le_bytes());
    h.update(wall.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let local = 0u8;
    h.update((&local as *const u8 as usize).to_le_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

impl Framer for ChainFramer {
    #[cfg(feature = "tlog")]
    fn note_event(&mut self, kind: &str, detail: &str, now: SystemTime, out: &mut Vec<u8>) {
        self.control_head(kind, now);
        self.scratch.extend_from_slice(b",\"detail\":");
        crate::trail::json::write_str(&mut self.scratch, detail);
        self.emit_control(false, out);
    }

    fn attach_trail(&mut self, dir: &std::path::Path, prefix: &str) {
        #[cfg(feature = "tlog")]
        if let Some(tree) = self.tree.as_mut() {
            tree.attach(dir, prefix);
        }
        let _ = (dir, prefix);
    }

    fn published(&mut self, line: &[u8]) {
        if is_control(line, b"checkpoint") {
            self.published = trailer::parse_seq(line);
            self.durable_tail = trailer::parse(line).map(|t| (t.seq, t.mac));
        }
    }

    fn resume(
        &mut self,
        last_line: Option<&[u8]>,
        torn: Option<&TornTail>,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) {
        self.last_checkpoint_at = Some(now);
        #[cfg(feature = "tlog")]
        if let Some(tree) = self.tree.as_mut() {
            tree.recover(last_line.and_then(trailer::parse_seq));
        }
        #[cfg(feature = "signed-seals")]
        if let Some(e) = &self.epochs {
            // The state file is out of the attacker's reach; the side file is not.
            self.durable_tail = e.state.tail();
        }
        #[cfg(feature = "signed-seals")]
        let erased = self.resume_epoch(last_line, now);
        let mut unadopted = None;
        match last_line {
            None => {
                self.next_seq = 0;
                self.file_first = Some(0);
                self.genesis(GenesisReason::New, now, out);
            }
            Some(line) => match trailer::parse(line) {
                Some(trailer) => {
                    unadopted = self.unadopted(trailer.seq, &trailer.mac);
                    self.next_seq = trailer.seq.saturating_add(1);
                    self.prev = trailer.mac;
                    // A sealed file is never written again; the next record opens a new one.
                    self.at_file_start = is_control(line, b"seal");
                    self.file_first = None;
                    self.since_checkpoint = u64::from(!is_control(line, b"checkpoint"));
                }
                None => {
                    // Continue the numbering when the line still shows it, so seq stays
                    // monotonic; the chain itself cannot continue from an unchained line.
                    self.next_seq = trailer::parse_seq(line)
                        .map(|s| s.saturating_add(1))
                        .unwrap_or(0);
                    self.at_file_start = false;
                    self.file_first = None;
                    self.genesis(GenesisReason::UnchainedLastLine, now, out);
                    self.control_head("repair", now);
                    self.scratch.extend_from_slice(
                        b",\"repair\":\"new_chain\",\"message\":\"the last line on disk is not a chained record; a new chain segment starts here\",\"prev_line_sha256\":\"",
                    );
                    let digest: [u8; 32] = Sha256::digest(line).into();
                    crate::trail::hex::push_hex(&digest, &mut self.scratch);
                    let _ = write!(self.scratch, "\",\"prev_line_bytes\":{}", line.len());
                    self.emit_control(false, out);
                }
            },
        }
        if let Some((from, to)) = unadopted {
            // The chain goes on from the last line (so the trail stays one chain), but the
            // writer says in it that it does not vouch for those lines.
            self.control_head("repair", now);
            let _ = write!(
                self.scratch,
                ",\"repair\":\"unadopted\",\"message\":\"records {from}..={to} follow this writer's last durable record; it cannot tell it wrote them and does not vouch for them\",\"from_seq\":{from},\"to_seq\":{to}"
            );
            self.emit_control(false, out);
        }
        if let Some(published) = self.published.take() {
            if published >= self.next_seq {
                // The trail ends before a checkpoint this sink published: it was cut. Say so in
                // the chain and never hand out the removed sequence numbers again, so the cut
                // cannot be laundered by writing on.
                let from = self.next_seq;
                self.next_seq = published.saturating_add(1);
                self.control_head("repair", now);
                let _ = write!(
                    self.scratch,
                    ",\"repair\":\"cut\",\"message\":\"the trail ends before the last published checkpoint: records {from}..={published} are missing\",\"missing_from\":{from},\"missing_to\":{published}"
                );
                self.emit_control(false, out);
            }
        }
        if let Some(torn) = torn {
            self.control_head("repair", now);
            self.scratch.extend_from_slice(
                b",\"repair\":\"torn_tail\",\"message\":\"a torn last line was set aside\",\"file\":",
            );
            crate::trail::json::write_str(&mut self.scratch, &torn.file);
            self.scratch.extend_from_slice(b",\"set_aside\":");
            crate::trail::json::write_str(&mut self.scratch, &torn.set_aside.to_string_lossy());
            let _ = write!(self.scratch, ",\"bytes\":{}", torn.bytes);
            self.emit_control(false, out);
        }
        #[cfg(feature = "signed-seals")]
        if let Some(epoch) = erased {
            self.control_head("repair", now);
            let _ = write!(
                self.scratch,
                ",\"repair\":\"epoch_unsealed\",\"message\":\"the key of epoch {epoch} was erased before its seal reached the disk; it cannot be sealed\",\"epoch_unsealed\":{epoch}"
            );
            self.emit_control(false, out);
        }
    }

    fn mark_tail(&mut self, now: SystemTime, out: &mut Vec<u8>) -> Option<TailMark> {
        #[cfg(feature = "signed-seals")]
        if self.epochs.is_some() {
            // Sealing now authenticates the prune record before any file is deleted, and the
            // commit records the tail in the state file.
            self.emit_epoch_seal("prune", now, out);
            return Some(TailMark::Sealed);
        }
        self.control_head("checkpoint", now);
        self.scratch.extend_from_slice(b",\"reason\":\"prune\"");
        let range = self.emit_control(false, out);
        self.since_checkpoint = 0;
        self.last_checkpoint_at = Some(now);
        Some(TailMark::Checkpoint(range))
    }

    fn frame(&mut self, body: &[u8], out: &mut Vec<u8>) {
        let body = trim_end(body);
        if body.len() >= 2 && body[0] == b'{' && body[body.len() - 1] == b'}' {
            let inner = &body[1..body.len() - 1];
            if inner.iter().all(u8::is_ascii_whitespace) {
                self.emit([b"", b""], false, out);
            } else {
                self.emit([b",", inner], false, out);
            }
        } else {
            // The contract says a body is a JSON object; anything else is kept, escaped, rather
            // than written as a line that would break every reader.
            self.scratch.clear();
            self.scratch
                .extend_from_slice(b",\"stream\":\"audit\",\"invalid_body\":");
            crate::trail::json::write_str(&mut self.scratch, &String::from_utf8_lossy(body));
            self.emit_control(false, out);
        }
    }

    fn seal(&mut self, closing: &str, next: &str, now: SystemTime, out: &mut Vec<u8>) {
        self.control_head("seal", now);
        self.scratch.extend_from_slice(b",\"file\":");
        crate::trail::json::write_str(&mut self.scratch, closing);
        if let Some(first) = self.file_first {
            let count = self.next_seq.saturating_sub(first).saturating_add(1);
            let _ = write!(self.scratch, ",\"first_seq\":{first},\"count\":{count}");
        }
        let _ = write!(self.scratch, ",\"last_seq\":{}", self.next_seq);
        self.scratch.extend_from_slice(b",\"last_mac\":\"");
        let prev = self.prev;
        // The label of the predecessor is not known after a key change; the MAC bytes are what
        // the verifier compares.
        crate::trail::hex::push_hex(&prev, &mut self.scratch);
        self.scratch.extend_from_slice(b"\",\"next\":");
        crate::trail::json::write_str(&mut self.scratch, next);
        let _ = write!(self.scratch, ",\"format\":{}", crate::trail::FORMAT);
        self.emit_control(false, out);
        self.at_file_start = true;
        self.file_first = None;
    }

    fn checkpoint(
        &mut self,
        now: SystemTime,
        force: bool,
        out: &mut Vec<u8>,
    ) -> Option<Range<usize>> {
        // A signed trail publishes its checkpoint once the epoch seal after it is durable.
        #[cfg(feature = "tlog")]
        self.flush_tree(!self.signs_epochs());
        if self.since_checkpoint == 0 {
            return None;
        }
        let last = *self.last_checkpoint_at.get_or_insert(now);
        let reason = if self.since_checkpoint >= self.every {
            "records"
        } else if now.duration_since(last).is_ok_and(|d| d >= self.interval) {
            "interval"
        } else if force {
            "shutdown"
        } else {
            return None;
        };
        #[cfg(feature = "tlog")]
        if !self.signs_epochs() {
            // Without epoch seals, the checkpoint record is where the tree is signed.
            self.emit_tree_checkpoint(now, out);
        }
        self.control_head("checkpoint", now);
        self.scratch.extend_from_slice(b",\"reason\":\"");
        self.scratch.extend_from_slice(reason.as_bytes());
        self.scratch.push(b'"');
        let range = self.emit_control(false, out);
        self.since_checkpoint = 0;
        self.last_checkpoint_at = Some(now);
        Some(range)
    }

    fn prune(
        &mut self,
        files: &[String],
        through_seq: u64,
        through_mac: &[u8; 32],
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> bool {
        // The record must come after the records it covers; a plan from before a restart that
        // renumbered (a `cut` repair) could claim more, so it is refused.
        if files.is_empty() || through_seq >= self.next_seq {
            return false;
        }
        self.control_head("prune", now);
        self.scratch.extend_from_slice(b",\"files\":[");
        for (i, f) in files.iter().enumerate() {
            if i > 0 {
                self.scratch.push(b',');
            }
            crate::trail::json::write_str(&mut self.scratch, f);
        }
        let _ = write!(
            self.scratch,
            "],\"through_seq\":{through_seq},\"through_mac\":\""
        );
        crate::trail::hex::push_hex(through_mac, &mut self.scratch);
        let _ = write!(
            self.scratch,
            "\",\"message\":\"retention deleted {} files: records up to {through_seq}\"",
            files.len()
        );
        self.emit_control(false, out);
        true
    }

    fn signs_epochs(&self) -> bool {
        #[cfg(feature = "signed-seals")]
        return self.epochs.is_some();
        #[cfg(not(feature = "signed-seals"))]
        false
    }

    #[cfg(feature = "signed-seals")]
    fn epoch_deadline(&self) -> Option<SystemTime> {
        let e = self.epochs.as_ref()?;
        if e.seal_now {
            return Some(UNIX_EPOCH);
        }
        e.started.map(|s| s + e.len)
    }

    #[cfg(feature = "signed-seals")]
    fn seal_epoch(&mut self, now: SystemTime, force: bool, out: &mut Vec<u8>) -> bool {
        let Some(e) = self.epochs.as_mut() else {
            return false;
        };
        let started = *e.started.get_or_insert(now);
        if now < started {
            // The clock stepped back: the epoch ends one length from now, not an hour later.
            e.started = Some(now);
        }
        let ended = now.duration_since(started).is_ok_and(|d| d >= e.len);
        if !(force || e.seal_now || ended) {
            return false;
        }
        let reason = if e.seal_now {
            "restart"
        } else if force {
            "shutdown"
        } else {
            "end"
        };
        self.emit_epoch_seal(reason, now, out);
        true
    }

    #[cfg(feature = "signed-seals")]
    fn commit_epoch(&mut self) -> std::io::Result<()> {
        match self.epochs.as_mut() {
            Some(e) if e.uncommitted => {
                // Everything framed is durable when the writer commits (the seal last).
                if self.next_seq > 0 {
                    e.state.set_tail(self.next_seq - 1, self.prev);
                }
                e.state.persist()?;
                e.uncommitted = false;
                #[cfg(feature = "tlog")]
                self.flush_tree(true);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "signed-seals")]
impl ChainFramer {
    /// Decides the epoch to continue in after a restart, from the last line on disk and the
    /// state file. Returns an epoch that can no longer be sealed (its key was erased already).
    fn resume_epoch(&mut self, last_line: Option<&[u8]>, now: SystemTime) -> Option<u64> {
        let e = self.epochs.as_mut()?;
        e.started = Some(now);
        let last = last_line.and_then(trailer::parse);
        let (needed, seal_now) = match last.as_ref().and_then(|t| t.epoch) {
            Some(epoch) if is_control(last_line?, b"epoch_seal") => {
                (epoch.saturating_add(1), false)
            }
            Some(epoch) => (epoch, true),
            None => (e.state.epoch(), false),
        };
        let mut erased = None;
        if e.state.epoch() < needed {
            e.state.advance_to(needed);
            e.uncommitted = true;
            e.seal_now = seal_now;
        } else if e.state.epoch() > needed {
            erased = Some(needed);
        } else {
            e.seal_now = seal_now;
        }
        e.set_suffix();
        erased
    }

    /// Appends the seal of the current epoch and moves to the next epoch's key.
    fn emit_epoch_seal(&mut self, reason: &str, now: SystemTime, out: &mut Vec<u8>) {
        if self.epochs.is_none() {
            return;
        }
        // The checkpoint of the tree up to here goes first, so the seal covers it too.
        #[cfg(feature = "tlog")]
        self.emit_tree_checkpoint(now, out);
        let Some(e) = self.epochs.as_ref() else {
            return;
        };
        let epoch = e.state.epoch();
        let epoch_secs = e.len.as_secs();
        let next_pk = e.state.next_public();
        self.control_head("epoch_seal", now);
        let _ = write!(
            self.scratch,
            ",\"reason\":\"{reason}\",\"epoch_secs\":{epoch_secs},\"last_seq\":{},\"head\":\"",
            self.next_seq.saturating_sub(1)
        );
        let prev = self.prev;
        crate::trail::hex::push_hex(&prev, &mut self.scratch);
        self.scratch.extend_from_slice(b"\",\"next_pk\":\"");
        self.scratch
            .extend_from_slice(super::signing::PK_LABEL.as_bytes());
        crate::trail::hex::push_hex(&next_pk, &mut self.scratch);
        self.scratch.push(b'"');
        let mut signed = Vec::with_capacity(32 + self.scratch.len());
        signed.extend_from_slice(b"{\"seq\":");
        signed.extend_from_slice(itoa::Buffer::new().format(self.next_seq).as_bytes());
        signed.extend_from_slice(&self.scratch);
        let Some(e) = self.epochs.as_mut() else {
            return;
        };
        let sig = super::signing::sign(&e.state, &super::signing::seal_message(epoch, &signed));
        self.scratch
            .extend_from_slice(crate::trail::trailer::SIG_SEP);
        self.scratch
            .extend_from_slice(super::signing::PK_LABEL.as_bytes());
        crate::trail::hex::push_hex(&sig, &mut self.scratch);
        self.scratch.push(b'"');
        self.emit_control(false, out);
        let Some(e) = self.epochs.as_mut() else {
            return;
        };
        e.state.advance_to(epoch + 1);
        e.set_suffix();
        e.started = Some(now);
        e.seal_now = false;
        e.uncommitted = true;
    }
}

impl ChainFramer {
    /// The lines on disk after this framer's own durable tail, up to the last one (`seq`,
    /// `mac`), when it cannot vouch for them: (first, last) seq. An unkeyed or signed chain
    /// proves nothing about who wrote a line after the last seal, so what the writer did not
    /// record as its own is disowned, and the verifier disregards control records among those
    /// lines. A keyed chain disowns nothing: a line only the key could have written is judged
    /// by its MAC (the verifier trusts a keyed control record for that alone, and reports a
    /// forged line wherever it is), so a restart after a crash, whose last lines the side
    /// file had not caught up with, is not worth a warning there.
    fn unadopted(&self, seq: u64, mac: &[u8; 32]) -> Option<(u64, u64)> {
        if self.key.is_some() {
            return None;
        }
        let (tail_seq, tail_mac) = self.durable_tail?;
        if seq == tail_seq && *mac == tail_mac {
            return None;
        }
        // A trail that ends before the tail was cut: the `cut` repair (or the verifier's view
        // of the checkpoints) says so; there is nothing after the tail to disown.
        (seq >= tail_seq).then(|| (tail_seq.saturating_add(1).min(seq), seq))
    }
}

#[cfg(feature = "tlog")]
impl ChainFramer {
    /// Appends a `tree_checkpoint` record: the signed C2SP checkpoint of every line before it
    /// (tree size = its own seq). Skipped when the tree is not at that size (a gap too large to
    /// fill after a forged line), so no checkpoint ever names a tree the records do not make.
    fn emit_tree_checkpoint(&mut self, now: SystemTime, out: &mut Vec<u8>) {
        let next_seq = self.next_seq;
        let Some(note) = self.tree.as_ref().and_then(|t| t.signed_note(next_seq)) else {
            return;
        };
        self.control_head("tree_checkpoint", now);
        let _ = write!(self.scratch, ",\"tree_size\":{next_seq},\"note\":");
        crate::trail::json::write_str(&mut self.scratch, &note);
        self.emit_control(false, out);
        if let Some(tree) = self.tree.as_mut() {
            tree.signed(note);
        }
    }

    /// Writes the tile hashes framed so far and, when `publish`, the newest signed checkpoint
    /// to the side file (its record was handed to the writer before this call).
    fn flush_tree(&mut self, publish: bool) {
        if let Some(tree) = self.tree.as_mut() {
            tree.flush();
            if publish {
                tree.publish();
            }
        }
    }
}

fn trim_end(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Whether a framed line is a control record of `kind` (`{"seq":N,"ts":"..","stream":"audit","record":"<kind>"`).
pub(crate) fn is_control(line: &[u8], kind: &[u8]) -> bool {
    control_kind(line) == Some(kind)
}

/// The `record` kind of a framed control line, found at its fixed position without parsing.
pub(crate) fn control_kind(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = rest[digits..].strip_prefix(b",\"ts\":\"")?;
    let rest = rest.get(crate::trail::time::RFC3339_LEN..)?;
    let rest = rest.strip_prefix(b"\",\"stream\":\"audit\",\"record\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    Some(&rest[..end])
}
