//! The streaming check: an intact trail verified in memory that does not grow with it, on every
//! core.
//!
//! `check` (the chain walk) and `seals` (the strict seal walk) stay the definition of what a
//! report says; they hold a model of every record so they can explain any damage. Most trails
//! are intact, and for an intact trail the report follows from little: each file's records chain
//! one to the next, and the files join at their seams. So:
//!
//! 1. Each file is read in chunks by the crate's streaming reader ([`LineReader`]) on a worker
//!    thread (files are independent: the first record of every file carries its predecessor's
//!    MAC in `"prev"`), and checked line by line against what the reference would call
//!    *regular*: every line framed, chained to the line before it, in sequence, keyed by a given
//!    key, control records well formed and where the writer puts them. The trailer is found by
//!    position (the writer's format is fixed), nothing is allocated per record and only control
//!    records (a few per thousand) are parsed as JSON. What is kept is a [`FileDigest`]: first
//!    and last seq and MAC, counts, the few control records the report speaks of and, with a
//!    public key, the file's epoch runs and epoch seals.
//! 2. The digests are joined in trail order at the seams (seal names the next file, `prev` and
//!    seq continue), checkpoints are looked up among the MACs the workers kept for exactly the
//!    seqs the checkpoint files name, and the epoch runs are replayed through the reference seal
//!    walk ([`SealWalk::checked_run`]; epoch seals go through [`SealWalk::line`] itself).
//! 3. When everything is regular, the report is built here and equals the reference's (the
//!    equality tests over the mutation corpora are the proof). At the first irregularity the
//!    streaming check stops and the caller runs the reference check over the whole trail: an
//!    intact trail is verified in bounded memory, a damaged one is diagnosed in full, with
//!    memory that then grows with the trail. Falling back for the whole trail rather than for a
//!    part of it keeps one definition of every finding, at the cost of reading a damaged trail
//!    twice.
//!
//! Memory: one read buffer per worker (two 256 KiB chunks plus the longest line) and the digests
//! not yet joined. A digest is a few hundred bytes plus one epoch seal line (about 500 bytes)
//! per epoch in the file.

use super::check::{self, parse_control, CheckpointFile, Control, SIDE_FILE_LAG};
use super::report::{FileSummary, Report, VerifyStats, Warning};
#[cfg(feature = "signed-seals")]
use super::seals::{record_ts, CheckedRun, SealWalk};
use super::trust::{Root, Trust};
use super::{Keys, Progress};
use crate::chain::{self, Alg, GENESIS_PREV};
use crate::trail::{LineReader, TrailFile};
use hmac::Hmac;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::SystemTime;

/// What the streaming check needs besides the files.
pub(crate) struct Plan<'a> {
    pub(crate) keys: &'a Keys,
    pub(crate) checkpoints: &'a [CheckpointFile],
    pub(crate) threads: usize,
    /// With a public key: the reference seal walk to replay the epochs through.
    #[cfg(feature = "signed-seals")]
    pub(crate) seal_walk: Option<SealWalk<'a>>,
    #[cfg(feature = "signed-seals")]
    pub(crate) now: SystemTime,
    #[cfg(feature = "signed-seals")]
    pub(crate) expect_current: bool,
}

impl<'a> Plan<'a> {
    /// What the join's verdict needs.
    fn judge(&self) -> Judge<'a> {
        Judge {
            keys_given: !self.keys.is_empty(),
            checkpoints: self.checkpoints,
            #[cfg(feature = "signed-seals")]
            now: self.now,
            #[cfg(feature = "signed-seals")]
            expect_current: self.expect_current,
        }
    }

    /// What every worker shares.
    fn ctx(&self) -> CheckCtx<'a> {
        CheckCtx {
            keys: self.keys,
            checkpoints: CheckpointPlan::new(self.checkpoints),
            #[cfg(feature = "signed-seals")]
            signed: self.seal_walk.is_some(),
            #[cfg(not(feature = "signed-seals"))]
            signed: false,
        }
    }
}

/// What the streaming check decided.
pub(crate) enum Outcome {
    /// Every file regular, every seam joined: the report, and the bytes read.
    Report(Box<Report>),
    /// Something needs the reference check; the bytes read before it was noticed.
    Irregular { bytes_read: u64 },
}

/// The checkpoint files, parsed once before the files are read.
struct CheckpointPlan {
    /// Every seq a checkpoint file names (sorted, deduplicated): workers keep the MAC at these.
    wanted: Vec<u64>,
    /// The newest checkpoint the side file names: checkpoints in the trail after it are kept to
    /// see whether the side file was put back.
    side_newest: Option<u64>,
}

impl CheckpointPlan {
    fn new(files: &[CheckpointFile]) -> Self {
        let mut wanted = Vec::new();
        let mut side_newest = None;
        for cf in files {
            for line in crate::trail::read::split_lines(cf.content.as_deref().unwrap_or_default()) {
                let line = line.trim_ascii_end();
                let Some(tr) = chain::parse_trailer_raw(line) else {
                    continue;
                };
                if chain::control_kind(line) != Some(b"checkpoint".as_slice()) {
                    continue;
                }
                wanted.push(tr.seq);
                if cf.side {
                    side_newest = side_newest.max(Some(tr.seq));
                }
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        CheckpointPlan {
            wanted,
            side_newest,
        }
    }
}

/// One epoch item of a file, in order: a run of ordinary records, or an epoch seal line.
#[cfg(feature = "signed-seals")]
#[derive(Debug)]
enum EpochItem {
    Run(CheckedRun),
    Seal { line_no: u64, line: Vec<u8> },
}

/// A prune record: (`through_seq`, `through_mac`, its own seq).
type Prune = (u64, Option<String>, u64);

/// A repair record's warning: (line, the seq of a record that must be trusted for it, message).
type Repair = (u64, Option<u64>, String);

/// What one regular file tells the join.
#[derive(Debug, Default)]
struct FileDigest {
    lines: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    first_genesis: bool,
    /// The `prev` key of the first record (verified against its MAC).
    first_prev: Option<[u8; 32]>,
    last_mac: Option<[u8; 32]>,
    keyed: bool,
    /// The file ends with a well-formed seal that agrees with the file: the next file it names.
    seal_next: Option<String>,
    /// The newest file's torn last line: (its line number, its length).
    torn: Option<(u64, usize)>,
    /// The `ts` of the last complete line (as the reference reads it).
    last_ts: Option<String>,
    checkpoints: u64,
    /// The earliest time of a checkpoint after the side file's newest.
    checkpoint_after_side: Option<SystemTime>,
    /// MACs of the records at the seqs checkpoint files name.
    macs_wanted: Vec<(u64, [u8; 32])>,
    /// Retention's prune records: (`through_seq`, `through_mac`, own seq); one per retention
    /// run. Whether each counts is judged at the join, once the root is known.
    prunes: Vec<Prune>,
    /// Warnings for repair records: `torn_tail` ones (with their seq: they count only when
    /// trusted) and `unadopted` ones.
    repairs: Vec<Repair>,
    /// `seq` ranges the writer disowned (`unadopted` repair records).
    unadopted: Vec<(u64, u64)>,
    #[cfg(feature = "signed-seals")]
    epochs: Vec<EpochItem>,
    disk_bytes: u64,
    buffer_peak: usize,
}

impl FileDigest {
    /// Bytes the digest holds besides itself.
    fn heap_bytes(&self) -> usize {
        #[allow(unused_mut)]
        let mut n = std::mem::size_of::<Self>()
            + self.macs_wanted.capacity() * 40
            + self.prunes.capacity() * 120
            + self
                .repairs
                .iter()
                .map(|r| r.2.capacity() + 40)
                .sum::<usize>()
            + self.seal_next.as_ref().map_or(0, String::capacity)
            + self.last_ts.as_ref().map_or(0, String::capacity);
        #[cfg(feature = "signed-seals")]
        {
            n += self.epochs.capacity() * std::mem::size_of::<EpochItem>();
            for e in &self.epochs {
                n += match e {
                    EpochItem::Run(r) => r.ts.as_ref().map_or(0, |t| t.0.len() + t.1.len()),
                    EpochItem::Seal { line, .. } => line.capacity(),
                };
            }
        }
        n
    }
}

/// The MAC key a line is checked with, by every streaming reader (this walk and the received
/// copy's): looked up by key id only when the id changes (one trail rarely changes keys).
pub(super) struct KeyCache<'a> {
    keys: &'a Keys,
    last: Option<(Vec<u8>, Hmac<Sha256>)>,
}

/// What a line's chain trailer is checked with.
pub(super) enum LineKey<'k> {
    /// An unkeyed (`sha256:`) line, and no key was given.
    Unkeyed,
    /// A keyed line and its key.
    Key(&'k Hmac<Sha256>),
    /// A keyed line whose key id has no key, or an unkeyed line although a key was given (an
    /// attacker without the key could have rewritten it as an unkeyed chain).
    Unverifiable,
}

impl<'a> KeyCache<'a> {
    pub(super) fn new(keys: &'a Keys) -> Self {
        KeyCache { keys, last: None }
    }

    pub(super) fn get(&mut self, alg: Alg, kid: Option<&[u8]>) -> LineKey<'_> {
        match alg {
            Alg::Sha256 if self.keys.is_empty() => LineKey::Unkeyed,
            Alg::Sha256 => LineKey::Unverifiable,
            Alg::HmacSha256 => {
                let kid = kid.unwrap_or_default();
                if self.last.as_ref().is_none_or(|(k, _)| k != kid) {
                    let key = std::str::from_utf8(kid)
                        .ok()
                        .and_then(|id| self.keys.lookup(id));
                    let Some(key) = key else {
                        return LineKey::Unverifiable;
                    };
                    self.last = Some((kid.to_vec(), key.mac()));
                }
                self.last
                    .as_ref()
                    .map_or(LineKey::Unverifiable, |(_, m)| LineKey::Key(m))
            }
        }
    }
}

/// The file's content is not what an intact trail holds: the reference check must look.
#[derive(Debug)]
struct Irregular;

/// Checks one file, line by line, as far as it is regular.
struct FileCheck<'a> {
    file: &'a TrailFile,
    wanted: &'a [u64],
    side_newest: Option<u64>,
    #[cfg_attr(not(feature = "signed-seals"), allow(dead_code))]
    signed: bool,
    key_cache: KeyCache<'a>,
    next_wanted: usize,
    seal_line: Option<u64>,
    /// Where the last line of the current run of lines is.
    last_line: std::ops::Range<usize>,
    d: FileDigest,
    #[cfg(feature = "signed-seals")]
    run: Option<CheckedRun>,
}

impl<'a> FileCheck<'a> {
    fn line(&mut self, line: &[u8]) -> Result<(), Irregular> {
        let n = self.d.lines + 1;
        self.d.lines = n;
        let tr = chain::parse_trailer_raw(line).ok_or(Irregular)?;
        if self.seal_line.is_some() {
            // Lines after the file's seal.
            return Err(Irregular);
        }
        self.d.keyed |= tr.alg == Alg::HmacSha256;
        let key = match self.key_cache.get(tr.alg, tr.kid) {
            LineKey::Unkeyed => None,
            LineKey::Key(k) => Some(k),
            LineKey::Unverifiable => return Err(Irregular),
        };
        let kind = chain::control_kind(line);
        let control = match kind {
            Some(k @ (b"genesis" | b"checkpoint" | b"prune" | b"seal" | b"repair")) => {
                match parse_control(k, line) {
                    // A control record the reference cannot read is not regular.
                    Control::Other | Control::NewerFormat(_) => return Err(Irregular),
                    c => Some(c),
                }
            }
            _ => None,
        };
        let genesis = matches!(control, Some(Control::Genesis));
        let signed = &line[..tr.signed_len];
        let prev = if genesis {
            if n != 1 {
                return Err(Irregular);
            }
            GENESIS_PREV
        } else if n == 1 {
            tr.prev.ok_or(Irregular)?
        } else {
            self.d.last_mac.ok_or(Irregular)?
        };
        if chain::compute(key, &prev, signed) != tr.mac {
            return Err(Irregular);
        }
        if n == 1 {
            self.d.first_seq = Some(tr.seq);
            self.d.first_genesis = genesis;
            self.d.first_prev = if genesis { None } else { Some(prev) };
        } else if self.d.last_seq.and_then(|s| s.checked_add(1)) != Some(tr.seq) {
            return Err(Irregular);
        }
        let before = self.d.last_mac;
        self.d.last_seq = Some(tr.seq);
        self.d.last_mac = Some(tr.mac);
        if let Some(&w) = self.wanted.get(self.next_wanted) {
            if w <= tr.seq {
                // Seqs rise by one in a regular file, so the wanted list is walked once.
                self.next_wanted = self.wanted.partition_point(|&x| x <= tr.seq);
                if w == tr.seq {
                    self.d.macs_wanted.push((tr.seq, tr.mac));
                }
            }
        }
        match control {
            Some(Control::Seal {
                file,
                first_seq,
                count,
                last_seq,
                last_mac,
                next,
            }) => {
                let agrees = file == self.file.base
                    && last_seq == Some(tr.seq)
                    && first_seq.is_none_or(|f| Some(f) == self.d.first_seq)
                    && last_mac
                        .as_deref()
                        .zip(before)
                        .is_none_or(|(lm, b)| *lm == check::hex(&b));
                if !agrees {
                    return Err(Irregular);
                }
                // The count is checked once the file's lines are known.
                if count.is_some_and(|c| c != n) {
                    return Err(Irregular);
                }
                self.seal_line = Some(n);
                self.d.seal_next = Some(next);
            }
            Some(Control::Checkpoint { ts }) => {
                self.d.checkpoints += 1;
                if self.side_newest.is_some_and(|s| tr.seq > s) {
                    if let Some(t) = ts.as_deref().and_then(check::parse_time) {
                        self.d.checkpoint_after_side =
                            Some(self.d.checkpoint_after_side.map_or(t, |m| m.min(t)));
                    }
                }
            }
            Some(Control::Prune {
                through_seq: Some(through),
                through_mac,
            }) => self.d.prunes.push((through, through_mac, tr.seq)),
            Some(Control::Repair {
                unadopted: Some((from, to)),
                ..
            }) => {
                self.d.unadopted.push((from, to));
                self.d
                    .repairs
                    .push((n, None, check::unadopted_warning(from, to)));
            }
            Some(Control::Repair {
                repair,
                file,
                set_aside,
                bytes,
                ..
            }) if repair == "torn_tail" => {
                self.d.repairs.push((
                    n,
                    Some(tr.seq),
                    format!(
                        "repair: a torn line of {} ({} bytes) was set aside to {}",
                        file.as_deref().unwrap_or("?"),
                        bytes.unwrap_or(0),
                        set_aside.as_deref().unwrap_or("?")
                    ),
                ));
            }
            _ => {}
        }
        #[cfg(feature = "signed-seals")]
        if self.signed {
            self.epoch_item(n, line, tr.seq, tr.epoch, tr.mac, kind, genesis)?;
        }
        Ok(())
    }

    /// Adds the record to the file's epoch runs (only with a public key).
    #[cfg(feature = "signed-seals")]
    #[allow(clippy::too_many_arguments)]
    fn epoch_item(
        &mut self,
        n: u64,
        line: &[u8],
        seq: u64,
        epoch: Option<u64>,
        mac: [u8; 32],
        kind: Option<&[u8]>,
        genesis: bool,
    ) -> Result<(), Irregular> {
        let epoch = epoch.ok_or(Irregular)?;
        if kind == Some(b"epoch_seal".as_slice()) {
            if let Some(run) = self.run.take() {
                self.d.epochs.push(EpochItem::Run(run));
            }
            self.d.epochs.push(EpochItem::Seal {
                line_no: n,
                line: line.to_vec(),
            });
            return Ok(());
        }
        // The seal walk's idea of a genesis record is the kind alone.
        let walk_genesis = kind == Some(b"genesis".as_slice());
        if walk_genesis != genesis {
            return Err(Irregular);
        }
        let ts = record_ts(line);
        match &mut self.run {
            Some(run) if run.epoch == epoch && !walk_genesis => {
                run.count += 1;
                run.last_seq = seq;
                run.last_mac = mac;
                if let Some(ts) = ts {
                    match &mut run.ts {
                        Some((_, last)) => {
                            last.clear();
                            last.push_str(ts);
                        }
                        None => run.ts = Some((ts.to_owned(), ts.to_owned())),
                    }
                }
            }
            _ => {
                if let Some(run) = self.run.take() {
                    self.d.epochs.push(EpochItem::Run(run));
                }
                self.run = Some(CheckedRun {
                    epoch,
                    count: 1,
                    first_seq: seq,
                    last_seq: seq,
                    last_mac: mac,
                    genesis_first: walk_genesis,
                    first_prev: if n == 1 { self.d.first_prev } else { None },
                    ts: ts.map(|t| (t.to_owned(), t.to_owned())),
                });
            }
        }
        Ok(())
    }

    /// The `ts` of the last line of a run of lines (the reference dates the trail by it).
    fn note_last_ts(&mut self, last: &[u8]) {
        if let Some(at) = memchr::memmem::find(last, b",\"ts\":\"") {
            let rest = &last[at + 7..];
            if let Some(end) = rest.iter().position(|&b| b == b'"') {
                self.d.last_ts = Some(String::from_utf8_lossy(&rest[..end]).into_owned());
            }
        }
    }
}

/// Reads and checks one file. `newest` allows a torn last line.
fn check_file(
    plan: &CheckCtx<'_>,
    file: &TrailFile,
    newest: bool,
    abort: &AtomicBool,
) -> Result<FileDigest, Irregular> {
    let mut fc = FileCheck {
        file,
        wanted: &plan.checkpoints.wanted,
        side_newest: plan.checkpoints.side_newest,
        signed: plan.signed,
        key_cache: KeyCache::new(plan.keys),
        next_wanted: 0,
        seal_line: None,
        last_line: 0..0,
        d: FileDigest::default(),
        #[cfg(feature = "signed-seals")]
        run: None,
    };
    let mut failed = false;
    let read = LineReader::new().read_chunks(file, |chunk| {
        if abort.load(Ordering::Relaxed) {
            failed = true;
            return ControlFlow::Break(());
        }
        // A run of complete lines, each ending with its newline.
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            if fc.line(&chunk[start..nl]).is_err() {
                failed = true;
                return ControlFlow::Break(());
            }
            fc.last_line = start..nl;
            start = nl + 1;
        }
        if let Some(last) = chunk.get(fc.last_line.clone()) {
            fc.note_last_ts(last);
        }
        ControlFlow::Continue(())
    });
    if failed || read.problem().is_some() || read.oversized_lines > 0 || read.stopped {
        return Err(Irregular);
    }
    if read.torn_tail {
        if !newest || read.tail.is_empty() || !chain::plausibly_torn(&read.tail) {
            return Err(Irregular);
        }
        fc.d.torn = Some((fc.d.lines + 1, read.tail.len()));
    }
    if fc.seal_line.is_some_and(|s| s != fc.d.lines) {
        return Err(Irregular);
    }
    #[cfg(feature = "signed-seals")]
    if let Some(run) = fc.run.take() {
        fc.d.epochs.push(EpochItem::Run(run));
    }
    fc.d.disk_bytes = read.disk_bytes;
    fc.d.buffer_peak = read.buffer_peak;
    Ok(fc.d)
}

/// What every worker shares.
struct CheckCtx<'a> {
    keys: &'a Keys,
    checkpoints: CheckpointPlan,
    signed: bool,
}

/// The join: the digests, in trail order, folded into the report.
struct Join<'a> {
    files: &'a [TrailFile],
    summaries: Vec<FileSummary>,
    records: u64,
    min_seq: Option<u64>,
    max_seq: Option<u64>,
    /// Each file's seq range, for checkpoint lookups (one pair a file).
    ranges: Vec<(u64, u64)>,
    macs_wanted: Vec<(u64, [u8; 32])>,
    last_mac: Option<[u8; 32]>,
    last_seq: Option<u64>,
    seal_next: Option<String>,
    begins_at: Option<u64>,
    keyed: bool,
    torn_warning: Option<Warning>,
    walk_warnings: Vec<Warning>,
    repair_warnings: Vec<Warning>,
    last_ts: Option<String>,
    checkpoints: u64,
    checkpoint_after_side: Option<SystemTime>,
    prunes: Vec<Prune>,
    /// Repair warnings: (file, line, seq to trust, message).
    repairs: Vec<(usize, Repair)>,
    unadopted: Vec<(u64, u64)>,
    /// The trail's head is gone: its first record's seq and the `prev` it names (`None` for a
    /// chain start at a later seq).
    head_loss: Option<(u64, Option<[u8; 32]>)>,
    #[cfg(feature = "signed-seals")]
    seal_walk: Option<SealWalk<'a>>,
}

impl<'a> Join<'a> {
    fn new(
        files: &'a [TrailFile],
        #[cfg(feature = "signed-seals")] seal_walk: Option<SealWalk<'a>>,
    ) -> Self {
        Join {
            files,
            summaries: Vec::with_capacity(files.len()),
            records: 0,
            min_seq: None,
            max_seq: None,
            ranges: Vec::with_capacity(files.len()),
            macs_wanted: Vec::new(),
            last_mac: None,
            last_seq: None,
            seal_next: None,
            begins_at: None,
            keyed: false,
            torn_warning: None,
            walk_warnings: Vec::new(),
            repair_warnings: Vec::new(),
            last_ts: None,
            checkpoints: 0,
            checkpoint_after_side: None,
            prunes: Vec::new(),
            repairs: Vec::new(),
            unadopted: Vec::new(),
            head_loss: None,
            #[cfg(feature = "signed-seals")]
            seal_walk,
        }
    }

    fn warning(&self, k: usize, line: u64, message: String) -> Warning {
        Warning {
            file: Some(self.files[k].name.clone()),
            line: Some(line).filter(|&l| l > 0),
            message,
        }
    }

    fn add(&mut self, k: usize, d: FileDigest) -> Result<(), Irregular> {
        if k > 0 {
            // The previous file must be sealed, naming this one.
            if self.seal_next.take().as_deref() != Some(self.files[k].base.as_str()) {
                return Err(Irregular);
            }
        }
        if let (Some(first), Some(last)) = (d.first_seq, d.last_seq) {
            if d.first_genesis {
                if self.last_seq.is_some_and(|s| first <= s) {
                    return Err(Irregular);
                }
                if k == 0 && first > 0 {
                    self.head_loss = Some((first, None));
                }
                if k > 0 {
                    let w = self.warning(k, 1, format!(
                        "a new chain segment starts at seq {first}, at the start of a file the previous file's seal names"
                    ));
                    self.walk_warnings.push(w);
                }
            } else if k == 0 {
                self.head_loss = Some((first, d.first_prev));
            } else if d.first_prev != self.last_mac
                || self.last_seq.and_then(|s| s.checked_add(1)) != Some(first)
            {
                return Err(Irregular);
            }
            self.min_seq = self.min_seq.or(Some(first));
            self.max_seq = Some(last);
            self.ranges.push((first, last));
            self.last_seq = Some(last);
            self.last_mac = d.last_mac;
        } else if k == 0 && self.files.len() > 1 {
            return Err(Irregular);
        }
        self.seal_next = d.seal_next;
        if self.seal_next.is_some() && k + 1 == self.files.len() {
            // The newest file is sealed: its successor is missing.
            return Err(Irregular);
        }
        if let Some((line, bytes)) = d.torn {
            self.torn_warning = Some(self.warning(
                k,
                line,
                format!("torn last line ({bytes} bytes) ignored: the writer was interrupted"),
            ));
        }
        self.repairs.extend(d.repairs.into_iter().map(|r| (k, r)));
        self.unadopted.extend(d.unadopted);
        if d.last_ts.is_some() {
            self.last_ts = d.last_ts;
        }
        self.records += d.lines;
        self.keyed |= d.keyed;
        self.checkpoints += d.checkpoints;
        self.checkpoint_after_side = match (self.checkpoint_after_side, d.checkpoint_after_side) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.prunes.extend(d.prunes);
        self.macs_wanted.extend(d.macs_wanted);
        self.summaries.push(FileSummary {
            name: self.files[k].name.clone(),
            lines: d.lines,
            first_seq: d.first_seq,
            last_seq: d.last_seq,
        });
        #[cfg(feature = "signed-seals")]
        if let Some(walk) = self.seal_walk.as_mut() {
            for item in d.epochs {
                let ok = match item {
                    EpochItem::Run(run) => walk.checked_run(&self.files[k].name, &run),
                    EpochItem::Seal { line_no, line } => {
                        walk.line(&self.files[k].name, line_no, &line);
                        !walk.stopped()
                    }
                };
                if !ok {
                    return Err(Irregular);
                }
            }
        }
        Ok(())
    }

    /// Applies the trust rule: prune and repair records that do not count are dropped, as the
    /// reference drops them (see [`super::trust`]). `keyed`: every record's HMAC was checked.
    fn judge_controls(&mut self, root: Root) {
        let mut trust = Trust::new(root);
        for &(from, to) in &self.unadopted {
            trust.disowned(from, to);
        }
        let keyed = root == Root::ChainKey;
        self.prunes
            .retain(|p| trust.judge("prune", p.2, keyed).is_ok());
        for (k, (line, seq, message)) in std::mem::take(&mut self.repairs) {
            if seq.is_none_or(|s| trust.judge("torn_tail repair", s, keyed).is_ok()) {
                let w = self.warning(k, line, message);
                self.repair_warnings.push(w);
            }
        }
    }

    fn pruned_through(&self) -> Option<u64> {
        self.prunes.iter().map(|p| p.0).max()
    }

    /// The reference's judgement of a lost head, where it is not a finding: a prune record of
    /// retention covers it and names the chain value the present head continues from.
    fn head_loss(&mut self) -> Result<Option<Warning>, Irregular> {
        let Some((seq, prev)) = self.head_loss else {
            return Ok(None);
        };
        let lost = seq.checked_sub(1).ok_or(Irregular)?;
        let exact = self.prunes.iter().find(|p| p.0 == lost);
        let prev_hex = prev.map(|p| check::hex(&p));
        let replaced =
            prev_hex.is_some() && exact.is_some_and(|p| p.1.as_deref() != prev_hex.as_deref());
        if replaced || !self.prunes.iter().any(|p| p.0 >= lost) {
            return Err(Irregular);
        }
        self.begins_at = Some(seq);
        Ok(Some(self.warning(
            0,
            1,
            format!("trail begins at sequence {seq}: older files were pruned by retention (a prune record covers records up to {lost})"),
        )))
    }

    fn present(&self, seq: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < seq);
        self.ranges.get(i).is_some_and(|r| r.0 <= seq)
    }

    /// The checkpoint files, as the reference checks them; only the findings an intact trail
    /// can have are produced here.
    fn checkpoints(&self, files: &[CheckpointFile]) -> Result<Vec<Warning>, Irregular> {
        let mut warnings = Vec::new();
        for cf in files {
            let Some(content) = cf.content.as_deref().filter(|_| cf.vacant().is_none()) else {
                if self.checkpoints > 0 {
                    return Err(Irregular);
                }
                continue;
            };
            let mut newest: Option<(u64, Option<String>)> = None;
            for line in
                crate::trail::read::split_lines(content).filter(|l| !l.trim_ascii().is_empty())
            {
                let line = line.trim_ascii_end();
                let tr = chain::parse_trailer_raw(line).ok_or(Irregular)?;
                if chain::control_kind(line) != Some(b"checkpoint".as_slice()) {
                    return Err(Irregular);
                }
                if newest.as_ref().is_none_or(|(s, _)| tr.seq > *s) {
                    let ts = match parse_control(b"checkpoint", line) {
                        Control::Checkpoint { ts } => ts,
                        _ => None,
                    };
                    newest = Some((tr.seq, ts));
                }
                if self.present(tr.seq) {
                    let i = self.macs_wanted.partition_point(|m| m.0 < tr.seq);
                    if self.macs_wanted.get(i) != Some(&(tr.seq, tr.mac)) {
                        return Err(Irregular);
                    }
                } else if self.min_seq.is_some_and(|m| tr.seq < m)
                    && self.begins_at.is_some()
                    && self.pruned_through().is_some_and(|p| p >= tr.seq)
                {
                    warnings.push(Warning {
                        file: Some(cf.name.clone()),
                        line: None,
                        message: format!(
                            "checkpoint at seq {} predates the pruned head of the trail (a prune record covers it)",
                            tr.seq
                        ),
                    });
                } else {
                    return Err(Irregular);
                }
            }
            if let (true, Some((_, Some(_)))) = (cf.side, &newest) {
                let last = self.last_ts.as_deref().and_then(check::parse_time);
                if let (Some(c), Some(last)) = (self.checkpoint_after_side, last) {
                    if last > c + SIDE_FILE_LAG {
                        return Err(Irregular);
                    }
                }
            }
        }
        Ok(warnings)
    }
}

/// Verifies the files of a trail by streaming them on `plan.threads` workers.
pub(crate) fn verify(
    files: &[TrailFile],
    plan: Plan<'_>,
    progress: &mut Option<Box<dyn FnMut(Progress) + '_>>,
) -> Outcome {
    let (judge, ctx) = (plan.judge(), plan.ctx());
    let threads = plan.threads.clamp(1, files.len().max(1));
    let mut join = Join::new(
        files,
        #[cfg(feature = "signed-seals")]
        plan.seal_walk,
    );
    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let bytes_total: u64 = files.iter().map(|f| f.len).sum();
    let mut bytes_read = 0u64;
    let mut bytes_done = 0u64;
    let mut regular = true;
    // Each worker's most held at once (read buffer plus the digest it built), summed: an upper
    // bound on what the workers held together; plus the most digests waiting to be joined.
    let mut worker_peaks = vec![0usize; threads];
    let mut waiting_peak = 0usize;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, usize, Result<FileDigest, Irregular>)>();
        for w in 0..threads {
            let tx = tx.clone();
            let (ctx, next, abort) = (&ctx, &next, &abort);
            s.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= files.len() || abort.load(Ordering::Relaxed) {
                    break;
                }
                let r = check_file(ctx, &files[k], k + 1 == files.len(), abort);
                if r.is_err() {
                    abort.store(true, Ordering::Relaxed);
                }
                if tx.send((w, k, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut waiting: BTreeMap<usize, FileDigest> = BTreeMap::new();
        let mut waiting_bytes = 0usize;
        let mut k = 0;
        for (w, i, r) in rx {
            let Ok(d) = r else {
                regular = false;
                abort.store(true, Ordering::Relaxed);
                continue;
            };
            bytes_read += d.disk_bytes;
            let held = d.buffer_peak + d.heap_bytes();
            worker_peaks[w] = worker_peaks[w].max(held);
            if !regular {
                continue;
            }
            waiting_bytes += d.heap_bytes();
            waiting.insert(i, d);
            waiting_peak = waiting_peak.max(waiting_bytes);
            while let Some(d) = waiting.remove(&k) {
                waiting_bytes -= d.heap_bytes();
                if join.add(k, d).is_err() {
                    regular = false;
                    abort.store(true, Ordering::Relaxed);
                    break;
                }
                bytes_done += files[k].len;
                k += 1;
                if let Some(p) = progress.as_mut() {
                    p(Progress {
                        files_done: k,
                        files_total: files.len(),
                        bytes_done,
                        bytes_total,
                    });
                }
            }
        }
        if k != files.len() {
            regular = false;
        }
    });
    if !regular {
        return Outcome::Irregular { bytes_read };
    }
    let stats = VerifyStats {
        streamed: true,
        threads,
        peak_buffered_bytes: (worker_peaks.iter().sum::<usize>() + waiting_peak) as u64,
        bytes_read,
    };
    finish(join, &judge, stats)
}

/// What the join's verdict needs from the plan besides the files.
struct Judge<'a> {
    keys_given: bool,
    checkpoints: &'a [CheckpointFile],
    #[cfg(feature = "signed-seals")]
    now: SystemTime,
    #[cfg(feature = "signed-seals")]
    expect_current: bool,
}

/// The report of a trail every file of which was regular, once the trust rule, the head and the
/// checkpoints agree; `Irregular` where they need the reference check.
fn finish(mut join: Join<'_>, plan: &Judge<'_>, stats: VerifyStats) -> Outcome {
    let bytes_read = stats.bytes_read;
    // The seals decide what is authenticated on a signed trail, so they are judged first.
    #[cfg(feature = "signed-seals")]
    let sealed = join
        .seal_walk
        .take()
        .map(|walk| walk.finish(plan.now, plan.expect_current));
    #[cfg(feature = "signed-seals")]
    let sealed_through = sealed.as_ref().map(|(s, _)| s.verified().map(|v| v.1));
    #[cfg(not(feature = "signed-seals"))]
    let sealed_through = None;
    join.judge_controls(Root::of(plan.keys_given, sealed_through));
    // In the reference's order: the head is judged before checkpoints are looked up.
    let Ok(head_warning) = join.head_loss() else {
        return Outcome::Irregular { bytes_read };
    };
    let Ok(checkpoint_warnings) = join.checkpoints(plan.checkpoints) else {
        return Outcome::Irregular { bytes_read };
    };
    let mut warnings: Vec<Warning> = join.torn_warning.take().into_iter().collect();
    warnings.append(&mut join.walk_warnings);
    warnings.extend(head_warning);
    warnings.append(&mut join.repair_warnings);
    warnings.extend(checkpoint_warnings);
    if !join.keyed && join.records > 0 {
        warnings.push(Warning {
            file: None,
            line: None,
            message: check::UNKEYED_WARNING.to_owned(),
        });
    }
    #[allow(unused_mut)]
    let mut report = Report {
        files: join.summaries,
        records: join.records,
        first_seq: join.min_seq,
        last_seq: join.max_seq,
        begins_at: join.begins_at,
        keyed: join.keyed,
        problems: Vec::new(),
        warnings,
        seals: None,
        stats,
    };
    #[cfg(feature = "signed-seals")]
    if let Some((summary, problems)) = sealed {
        report.problems.extend(problems);
        report.seals = Some(summary);
    }
    Outcome::Report(Box::new(report))
}
