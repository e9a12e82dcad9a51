//! Verifying the copy a central receiver wrote: the audit records in the order they arrived,
//! with the duplicates that resends after a reconnection cause.
//!
//! Unlike a trail directory, a received file has no seals or file boundaries, and may hold a
//! record twice when a session ended before its acknowledgement arrived. The walk is the
//! streaming verifier's, on one stream: the file is read in chunks by the crate's
//! [`LineReader`], each line is framed and chained to the one before it with the same key
//! lookup ([`KeyCache`]), and memory stays bounded: only the last [`DUPLICATE_WINDOW`] records
//! are remembered, which is what telling a resend from a forgery needs (a resend repeats a
//! bounded, recent window: RELP's is 128 frames by default).
//!
//! What it reports:
//! - every record chains to the one before it by `seq` and MAC, `seq` has no gap, an exact
//!   repeat of a recent record is tolerated and counted, anything else (a different record
//!   under a `seq` already seen, a line that is not a chained record, a MAC that does not match,
//!   a gap, a `seq` going backwards) is a problem;
//! - a **cut head**: the copy must begin with the chain's start (`genesis`, seq 0), or with the
//!   first record retention kept, covered by an authenticated `prune` record in the copy (the
//!   trust rule of [`super::trust`], the same as the trail walks');
//! - a **cut tail**, against what the operator holds: the sender's checkpoint file
//!   ([`ReceivedVerifier::checkpoint`]) and the shipper's cursor
//!   ([`ReceivedVerifier::cursor`]) each name a record (seq and MAC) the copy must hold.

use super::check::{parse_control, Control};
use super::report::{Problem, ProblemKind, Warning};
use super::streaming::{KeyCache, LineKey};
use super::trust::{Root, Trust};
use super::{Keys, VerifyError};
use crate::chain::{self, Alg, GENESIS_PREV};
use crate::trail::{open, FileProblemKind, LineReader, TrailFile};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// How many of the most recent records the received walk remembers to tell an exact resend
/// from a different record under the same `seq` (about 50 bytes each).
pub const DUPLICATE_WINDOW: usize = 1 << 14;

/// What [`verify_received`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceivedReport {
    records: u64,
    duplicates: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
    peak_window: usize,
}

impl ReceivedReport {
    /// True when no problem was found (duplicates are not problems).
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
    /// Distinct records received.
    pub fn records(&self) -> u64 {
        self.records
    }
    /// Exact repeats of records already received (resends after a reconnection).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
    /// The first received record's `seq`.
    pub fn first_seq(&self) -> Option<u64> {
        self.first_seq
    }
    /// The highest `seq` received.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }
    /// Tampering or loss, in file order, then what the head and the references show.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
    /// Things worth knowing that are not tampering.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
    /// The most records the walk remembered at once (at most [`DUPLICATE_WINDOW`]): its memory
    /// does not grow with the copy.
    pub fn peak_window(&self) -> usize {
        self.peak_window
    }
}

/// Verifies a file written by a central receiver (rsyslog's `omfile` with the raw `%msg%`
/// template): one audit record per line, in arrival order, duplicates allowed. The same as
/// `ReceivedVerifier::new(file).keys(keys.clone()).verify()`.
///
/// ```no_run
/// use std::path::Path;
/// use tracing_audit::verify::{verify_received, Keys};
///
/// let report = verify_received(Path::new("/var/log/central/myapp-audit.log"), &Keys::none())?;
/// println!("{} records, {} duplicates", report.records(), report.duplicates());
/// for p in report.problems() {
///     eprintln!("{p}");
/// }
/// # Ok::<(), tracing_audit::verify::VerifyError>(())
/// ```
pub fn verify_received(file: &Path, keys: &Keys) -> Result<ReceivedReport, VerifyError> {
    ReceivedVerifier::new(file).keys(keys.clone()).verify()
}

/// Verifies a received copy against references the operator holds, beyond
/// [`verify_received`]'s checks.
///
/// | setting | default |
/// |---|---|
/// | [`keys`](ReceivedVerifier::keys) | none (unkeyed copies) |
/// | [`checkpoint`](ReceivedVerifier::checkpoint) | none |
/// | [`cursor`](ReceivedVerifier::cursor) (feature `ship`) | none |
/// | [`prefix`](ReceivedVerifier::prefix) | the cursor's only stream |
///
/// ```no_run
/// use tracing_audit::verify::ReceivedVerifier;
/// let report = ReceivedVerifier::new("/var/log/central/myapp-audit.log")
///     .checkpoint("/srv/offhost/myapp/audit.checkpoint")
///     .verify()?;
/// assert!(report.intact(), "cut, changed or forged on the way");
/// # Ok::<(), tracing_audit::verify::VerifyError>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct ReceivedVerifier {
    file: PathBuf,
    keys: Keys,
    checkpoints: Vec<PathBuf>,
    cursor: Option<PathBuf>,
    prefix: Option<String>,
}

/// A record the operator knows the sender wrote: the copy must hold it, unchanged.
struct Reference {
    /// The file that names it, for the report.
    file: String,
    what: &'static str,
    seq: u64,
    mac: [u8; 32],
}

impl ReceivedVerifier {
    /// A verifier for the copy in `file`.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        ReceivedVerifier {
            file: file.into(),
            keys: Keys::none(),
            checkpoints: Vec::new(),
            cursor: None,
            prefix: None,
        }
    }

    /// The keys to check MACs with.
    pub fn keys(mut self, keys: Keys) -> Self {
        self.keys = keys;
        self
    }

    /// A copy of the sender's checkpoint side file: every checkpoint it names must be in the
    /// copy, unchanged (a tail cut before it shows). May be given several times.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoints.push(path.into());
        self
    }

    /// The shipper's cursor file: the last record it saw acknowledged must be in the copy,
    /// unchanged (a tail cut after delivery shows).
    #[cfg(feature = "ship")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ship")))]
    pub fn cursor(mut self, path: impl Into<PathBuf>) -> Self {
        self.cursor = Some(path.into());
        self
    }

    /// The stream to take from the cursor file (its prefix), when it holds several.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_owned());
        self
    }

    /// Reads and checks the copy.
    pub fn verify(self) -> Result<ReceivedReport, VerifyError> {
        let mut problems = Vec::new();
        let mut references = Vec::new();
        for path in &self.checkpoints {
            checkpoint_references(path, &mut references, &mut problems)?;
        }
        if let Some(path) = &self.cursor {
            references.push(self.cursor_reference(path)?);
        }
        let mut wanted: Vec<u64> = references.iter().map(|r| r.seq).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let file = TrailFile::named(&self.file);
        let mut w = Walk::new(file.name(), &self.keys, &wanted);
        w.report.problems = problems;
        w.read(&file)?;
        Ok(w.finish(&references))
    }

    #[cfg(feature = "ship")]
    fn cursor_reference(&self, path: &Path) -> Result<Reference, VerifyError> {
        let name = path.display().to_string();
        let bytes = open::read_capped(path, open::SMALL_FILE_MAX)
            .map_err(|e| VerifyError::io(format!("cannot read {name}"), e))?;
        let not = |why: &str| {
            VerifyError::new(
                super::VerifyErrorKind::Io,
                format!("{name} is not a usable shipping cursor: {why}"),
            )
        };
        let streams = crate::trail::cursor::parse(&bytes).ok_or_else(|| not("not a cursor"))?;
        let pos = match (&self.prefix, streams.len()) {
            (Some(p), _) => streams
                .get(p)
                .ok_or_else(|| not("no stream of that prefix"))?,
            (None, 1) => streams.values().next().ok_or_else(|| not("no stream"))?,
            (None, _) => return Err(not("it holds several streams; choose one with a prefix")),
        };
        let seq = pos.seq.ok_or_else(|| not("no audit record acknowledged"))?;
        let mac = pos
            .mac
            .as_deref()
            .and_then(|m| m.rsplit(':').next())
            .and_then(|h| crate::trail::hex::decode_hex32(h.as_bytes()))
            .ok_or_else(|| not("its MAC cannot be read"))?;
        Ok(Reference {
            file: name,
            what: "the shipping cursor",
            seq,
            mac,
        })
    }

    #[cfg(not(feature = "ship"))]
    fn cursor_reference(&self, path: &Path) -> Result<Reference, VerifyError> {
        // `cursor` is only settable with the feature; this answers rather than panics.
        Err(VerifyError::new(
            super::VerifyErrorKind::Io,
            format!("{} cannot be read: built without shipping", path.display()),
        ))
    }
}

/// The checkpoints a checkpoint file names; lines that are not checkpoint records, and an empty
/// file (which names nothing, like a deleted one), are problems.
fn checkpoint_references(
    path: &Path,
    out: &mut Vec<Reference>,
    problems: &mut Vec<Problem>,
) -> Result<(), VerifyError> {
    let name = path.display().to_string();
    let content = open::read_capped(path, open::CHECKPOINT_FILE_MAX)
        .map_err(|e| VerifyError::io(format!("cannot read {name}"), e))?;
    let problem = |kind, line, seq, detail: &str| Problem {
        kind,
        file: Some(name.clone()),
        line,
        seq,
        detail: detail.to_owned(),
    };
    let before = out.len();
    for (n, line) in crate::trail::read::split_lines(&content).enumerate() {
        let line = line.trim_ascii_end();
        if line.is_empty() {
            continue;
        }
        let at = Some(n as u64 + 1);
        match chain::parse_trailer_raw(line) {
            Some(tr) if chain::control_kind(line) == Some(b"checkpoint".as_slice()) => {
                out.push(Reference {
                    file: name.clone(),
                    what: "the checkpoint",
                    seq: tr.seq,
                    mac: tr.mac,
                });
            }
            Some(tr) => problems.push(problem(
                ProblemKind::Inserted,
                at,
                Some(tr.seq),
                "checkpoint file line is a chained record but not a checkpoint",
            )),
            None => problems.push(problem(
                ProblemKind::Modified,
                at,
                None,
                "checkpoint file line is not a chained record",
            )),
        }
    }
    if out.len() == before && problems.is_empty() {
        problems.push(problem(
            ProblemKind::Deleted,
            None,
            None,
            "the checkpoint file is empty: it names no record to check the copy's tail against",
        ));
    }
    Ok(())
}

/// The first record of the copy, judged at the end (a prune record covering it comes later).
struct Head {
    line: u64,
    seq: u64,
    genesis: bool,
    prev: Option<[u8; 32]>,
}

/// A prune record of the copy: its seq, `through_seq`, `through_mac`, and whether its HMAC was
/// checked with a key.
struct Prune {
    seq: u64,
    through: u64,
    through_mac: Option<String>,
    key_checked: bool,
}

struct Walk<'a> {
    name: &'a str,
    keys: KeyCache<'a>,
    keys_given: bool,
    report: ReceivedReport,
    /// The last [`DUPLICATE_WINDOW`] records: seq -> (line, first 16 bytes of its SHA-256).
    seen: BTreeMap<u64, (u64, [u8; 16])>,
    /// The highest seq forgotten from `seen`.
    forgotten: Option<u64>,
    /// The next seq expected and the MAC it must chain to.
    next: Option<(u64, [u8; 32])>,
    unverifiable: u64,
    head: Option<Head>,
    prunes: Vec<Prune>,
    unadopted: Vec<(u64, u64)>,
    /// The seqs references name, and the MACs found there.
    wanted: &'a [u64],
    found: BTreeMap<u64, [u8; 32]>,
}

impl<'a> Walk<'a> {
    fn new(name: &'a str, keys: &'a Keys, wanted: &'a [u64]) -> Self {
        Walk {
            name,
            keys: KeyCache::new(keys),
            keys_given: !keys.is_empty(),
            report: ReceivedReport::default(),
            seen: BTreeMap::new(),
            forgotten: None,
            next: None,
            unverifiable: 0,
            head: None,
            prunes: Vec::new(),
            unadopted: Vec::new(),
            wanted,
            found: BTreeMap::new(),
        }
    }

    fn problem(&mut self, kind: ProblemKind, line: Option<u64>, seq: Option<u64>, detail: String) {
        self.report.problems.push(Problem {
            kind,
            file: Some(self.name.to_owned()),
            line,
            seq,
            detail,
        });
    }

    fn warn(&mut self, line: Option<u64>, message: String) {
        self.report.warnings.push(Warning {
            file: Some(self.name.to_owned()),
            line,
            message,
        });
    }

    /// Reads the copy in chunks, line by line.
    fn read(&mut self, file: &TrailFile) -> Result<(), VerifyError> {
        let mut n = 0u64;
        let mut read = LineReader::new()
            .long_line_is_damage()
            .read_chunks(file, |chunk| {
                let mut start = 0;
                for nl in memchr::memchr_iter(b'\n', chunk) {
                    n += 1;
                    self.line(n, &chunk[start..nl]);
                    start = nl + 1;
                }
                ControlFlow::Continue(())
            });
        match read.take_problem() {
            None => {}
            Some(p) if p.kind() == FileProblemKind::Damaged => {
                let detail = format!("the copy cannot be read past this line: {p}");
                self.problem(ProblemKind::Modified, Some(n + 1), None, detail);
            }
            Some(p) => {
                let context = format!("cannot read {}", file.path().display());
                return Err(VerifyError::io(context, p.into_io_error()));
            }
        }
        if read.torn_tail {
            n += 1;
            let message = "the last line has no newline (the receiver may still be writing it)";
            self.warn(Some(n), message.to_owned());
            let tail = std::mem::take(&mut read.tail);
            self.line(n, &tail);
        }
        Ok(())
    }

    /// Remembers record `seq` for duplicate detection, forgetting the oldest beyond the window.
    fn remember(&mut self, seq: u64, line: u64, digest: [u8; 16]) {
        self.seen.insert(seq, (line, digest));
        while self.seen.len() > DUPLICATE_WINDOW {
            if let Some((old, _)) = self.seen.pop_first() {
                self.forgotten = self.forgotten.max(Some(old));
            }
        }
        self.report.peak_window = self.report.peak_window.max(self.seen.len());
    }

    /// A seq seen before: an exact resend is counted, anything else is a problem. False when
    /// the seq is new.
    fn repeat(&mut self, n: u64, seq: u64, digest: &[u8; 16]) -> bool {
        if let Some(&(first, d)) = self.seen.get(&seq) {
            if d == *digest {
                self.report.duplicates += 1;
            } else {
                let detail = format!("differs from the record with the same seq at line {first}");
                self.problem(ProblemKind::Modified, Some(n), Some(seq), detail);
            }
            return true;
        }
        if self.forgotten.is_some_and(|f| seq <= f) {
            let detail = format!(
                "record {seq} arrived again more than {DUPLICATE_WINDOW} records after it was first received: too far back to be a resend"
            );
            self.problem(ProblemKind::Reordered, Some(n), Some(seq), detail);
            return true;
        }
        false
    }

    /// What record `seq` must chain to, reporting a gap or a step back.
    fn predecessor(
        &mut self,
        n: u64,
        seq: u64,
        genesis: bool,
        prev: Option<[u8; 32]>,
    ) -> Option<[u8; 32]> {
        let own = if genesis { Some(GENESIS_PREV) } else { prev };
        match self.next {
            Some((want, mac)) if want == seq => {
                if prev.is_some_and(|p| p != mac) {
                    let detail =
                        "its prev key names another predecessor than the record received before it";
                    self.problem(ProblemKind::Spliced, Some(n), Some(seq), detail.to_owned());
                }
                Some(mac)
            }
            Some((want, _)) => {
                if seq > want {
                    let detail = if seq - want == 1 {
                        format!("record {want} was never received")
                    } else {
                        format!("records {want} to {} were never received", seq - 1)
                    };
                    self.problem(ProblemKind::Deleted, Some(n), Some(seq), detail);
                } else {
                    let detail = format!("arrived after seq {}", want - 1);
                    self.problem(ProblemKind::Reordered, Some(n), Some(seq), detail);
                }
                own
            }
            None => {
                self.report.first_seq = Some(seq);
                self.head = Some(Head {
                    line: n,
                    seq,
                    genesis,
                    prev,
                });
                own
            }
        }
    }

    fn line(&mut self, n: u64, line: &[u8]) {
        let Some(t) = chain::parse_trailer_raw(line) else {
            let detail = "not a chained audit record".to_owned();
            self.problem(ProblemKind::Inserted, Some(n), None, detail);
            return;
        };
        let digest: [u8; 16] = Sha256::digest(line)[..16].try_into().unwrap_or_default();
        if self.repeat(n, t.seq, &digest) {
            return;
        }
        let key = match self.keys.get(t.alg, t.kid) {
            LineKey::Unkeyed => Some(None),
            LineKey::Key(k) => Some(Some(k.clone())),
            LineKey::Unverifiable => None,
        };
        if key.is_none() && (t.alg == Alg::HmacSha256 || self.keys_given) {
            self.unverifiable += 1;
        }
        let kind = chain::control_kind(line);
        let genesis = kind == Some(b"genesis".as_slice());
        let pred = self.predecessor(n, t.seq, genesis, t.prev);
        let mut chained = false;
        if let (Some(key), Some(pred)) = (&key, pred) {
            chained = chain::compute(key.as_ref(), &pred, &line[..t.signed_len]) == t.mac;
            if !chained {
                let detail = "the MAC does not match: changed, forged, or not chained to the record before it";
                self.problem(
                    ProblemKind::Modified,
                    Some(n),
                    Some(t.seq),
                    detail.to_owned(),
                );
            }
        }
        if let Some(k @ (b"genesis" | b"seal")) = kind {
            if let Control::NewerFormat(format) = parse_control(k, line) {
                let detail = super::check::newer_format(format);
                self.problem(ProblemKind::Unverifiable, Some(n), Some(t.seq), detail);
            }
        }
        if let Some(k @ (b"prune" | b"repair")) = kind {
            self.control(k, line, t.seq, chained, matches!(key, Some(Some(_))));
        }
        if self.wanted.binary_search(&t.seq).is_ok() {
            self.found.entry(t.seq).or_insert(t.mac);
        }
        self.remember(t.seq, n, digest);
        self.report.records += 1;
        self.report.last_seq = Some(self.report.last_seq.map_or(t.seq, |l| l.max(t.seq)));
        if self.next.is_none_or(|(want, _)| t.seq >= want) {
            self.next = Some((t.seq.saturating_add(1), t.mac));
        }
    }

    /// Keeps what the head's judgement needs from a prune or repair record.
    fn control(&mut self, kind: &[u8], line: &[u8], seq: u64, chained: bool, keyed: bool) {
        match parse_control(kind, line) {
            Control::Prune {
                through_seq: Some(through),
                through_mac,
            } if chained => self.prunes.push(Prune {
                seq,
                through,
                through_mac,
                key_checked: keyed,
            }),
            Control::Repair {
                unadopted: Some(range),
                ..
            } => self.unadopted.push(range),
            _ => {}
        }
    }

    fn finish(mut self, references: &[Reference]) -> ReceivedReport {
        if self.unverifiable > 0 {
            let detail = if self.keys_given {
                format!(
                    "{} records with no matching key, or unkeyed where a key was given",
                    self.unverifiable
                )
            } else {
                format!("{} keyed records, and no key was given", self.unverifiable)
            };
            self.problem(ProblemKind::Unverifiable, None, None, detail);
        }
        let mut trust = Trust::new(Root::of(self.keys_given, None));
        for &(from, to) in &self.unadopted {
            trust.disowned(from, to);
        }
        let pruned_through = self.judge_head(&trust);
        for r in references {
            self.judge_reference(r, pruned_through);
        }
        if self.report.duplicates > 0 {
            let d = self.report.duplicates;
            let message =
                format!("{d} exact duplicates (resent after a reconnection) were skipped");
            self.warn(None, message);
        }
        self.report
    }

    /// A copy must begin where the chain does, or where retention's authenticated prune record
    /// says the kept records begin. Returns the highest `through_seq` of the prune records that
    /// count.
    fn judge_head(&mut self, trust: &Trust) -> Option<u64> {
        let counted: Vec<&Prune> = self
            .prunes
            .iter()
            .filter(|p| trust.judge("prune", p.seq, p.key_checked).is_ok())
            .collect();
        let through = counted.iter().map(|p| p.through).max();
        let head = self.head.take()?;
        let (seq, at) = (head.seq, Some(head.line));
        if head.genesis && seq == 0 {
            return through;
        }
        let Some(lost) = seq.checked_sub(1) else {
            let detail =
                "the copy's first record (seq 0) is not the chain's start: it was replaced";
            self.problem(ProblemKind::Deleted, at, Some(0), detail.to_owned());
            return through;
        };
        let exact = counted.iter().find(|p| p.through == lost);
        let prev_hex = head.prev.map(|p| super::check::hex(&p));
        let replaced = prev_hex.is_some()
            && exact.is_some_and(|p| p.through_mac.as_deref() != prev_hex.as_deref());
        if replaced {
            let detail = format!("the copy begins at seq {seq}, but the record before it is not the one retention's prune record names (through_mac differs): its head was replaced");
            self.problem(ProblemKind::Spliced, at, Some(seq), detail);
        } else if through.is_some_and(|t| t >= lost) {
            let message = format!("the copy begins at sequence {seq}: older records were pruned by retention before they were shipped (a prune record covers records up to {lost})");
            self.warn(at, message);
        } else {
            let why = self
                .prunes
                .iter()
                .filter(|p| p.through >= lost)
                .find_map(|p| trust.judge("prune", p.seq, p.key_checked).err())
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            let detail = format!("the copy begins at seq {seq}: records 0..={lost} are missing from its head (cut) and no authenticated prune record covers them{why}");
            self.problem(ProblemKind::Deleted, at, Some(seq), detail);
        }
        through
    }

    /// A record a reference names must be in the copy, unchanged.
    fn judge_reference(&mut self, r: &Reference, pruned_through: Option<u64>) {
        let (seq, what) = (r.seq, r.what);
        let found = self.found.get(&seq).copied();
        let (kind, detail) = match (self.report.first_seq, self.report.last_seq, found) {
            (_, _, Some(mac)) if mac == r.mac => return,
            (_, _, Some(_)) => (
                ProblemKind::Modified,
                format!("{what} names record {seq}, and the copy's record {seq} differs from it"),
            ),
            (_, None, None) => (
                ProblemKind::Truncated,
                format!("{what} names record {seq}, and the copy holds no record"),
            ),
            (_, Some(last), None) if seq > last => (
                ProblemKind::Truncated,
                format!("{what} names record {seq}, but the copy ends at {last}: its tail was cut"),
            ),
            (Some(first), _, None) if seq < first && pruned_through.is_some_and(|p| p >= seq) => {
                return;
            }
            (Some(first), _, None) if seq < first => (
                ProblemKind::Deleted,
                format!(
                    "{what} names record {seq}, but the copy begins at {first}: its head was cut"
                ),
            ),
            _ => (
                ProblemKind::Deleted,
                format!("{what} names record {seq}, which the copy lacks"),
            ),
        };
        self.report.problems.push(Problem {
            kind,
            file: Some(r.file.clone()),
            line: None,
            seq: Some(seq),
            detail,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainKey;

    /// A keyed chain of `n` records from its genesis record (seq 0), the way the framer writes
    /// them.
    fn chain_lines(key: &ChainKey, n: u64) -> Vec<Vec<u8>> {
        let mut prev = GENESIS_PREV;
        let mut out = Vec::new();
        for seq in 0..n {
            let mut signed = format!(
                "{{\"seq\":{seq},\"ts\":\"2026-12-01T00:00:00.000000000Z\",\"stream\":\"audit\""
            );
            if seq == 0 {
                signed.push_str(",\"record\":\"genesis\",\"chain\":\"c\"");
            } else {
                signed.push_str(&format!(",\"msg\":\"m{seq}\""));
            }
            signed.push_str(",\"kid\":\"k1\"");
            let mac = chain::compute(Some(&key.mac()), &prev, signed.as_bytes());
            out.push(format!("{signed},\"mac\":\"hmac-sha256:{}\"}}", hex(&mac)).into_bytes());
            prev = mac;
        }
        out
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn check(lines: &[&Vec<u8>], keys: &Keys) -> ReceivedReport {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        std::fs::write(&path, out).unwrap();
        verify_received(&path, keys).unwrap()
    }

    #[test]
    fn resent_duplicates_are_counted_not_reported() {
        let key = ChainKey::new("k1", b"secret");
        let l = chain_lines(&key, 6);
        let r = check(
            &[&l[0], &l[1], &l[2], &l[3], &l[2], &l[3], &l[4], &l[5]],
            &Keys::from(key),
        );
        assert!(r.intact(), "{:?}", r.problems());
        assert_eq!((r.records(), r.duplicates()), (6, 2));
        assert_eq!((r.first_seq(), r.last_seq()), (Some(0), Some(5)));
    }

    #[test]
    fn a_gap_a_changed_duplicate_and_a_changed_record_are_reported() {
        let key = ChainKey::new("k1", b"secret");
        let l = chain_lines(&key, 6);
        let mut changed = l[1].clone();
        let at = changed.iter().position(|&b| b == b'm').unwrap();
        changed[at + 1] = b'X';
        let r = check(
            &[&l[0], &l[1], &changed, &l[2], &l[4], &l[5]],
            &Keys::from(key.clone()),
        );
        let kinds: Vec<_> = r.problems().iter().map(|p| (p.kind(), p.seq())).collect();
        assert_eq!(
            kinds,
            [
                (ProblemKind::Modified, Some(1)),
                (ProblemKind::Deleted, Some(4))
            ]
        );
        // Without the key, keyed records cannot be checked: said so, not passed.
        let r = check(&[&l[0]], &Keys::none());
        assert_eq!(r.problems()[0].kind(), ProblemKind::Unverifiable);
    }

    #[test]
    fn a_copy_starting_mid_chain_is_a_cut_head() {
        let key = ChainKey::new("k1", b"secret");
        let l = chain_lines(&key, 5);
        // It used to pass with a warning: a copy whose head was cut said "intact".
        let r = check(&[&l[2], &l[3], &l[4]], &Keys::from(key.clone()));
        let kinds: Vec<_> = r.problems().iter().map(|p| (p.kind(), p.seq())).collect();
        assert_eq!(kinds, [(ProblemKind::Deleted, Some(2))]);
        let mut forged = l[3].clone();
        let len = forged.len();
        forged[len - 3] = if forged[len - 3] == b'0' { b'1' } else { b'0' };
        let r = check(&[&l[0], &l[1], &l[2], &forged, &l[4]], &Keys::from(key));
        assert_eq!(r.problems()[0].kind(), ProblemKind::Modified);
        let r = check(&[&b"hello".to_vec()], &Keys::none());
        assert_eq!(r.problems()[0].kind(), ProblemKind::Inserted);
    }

    #[test]
    fn memory_is_bounded_by_the_duplicate_window() {
        let key = ChainKey::new("k1", b"secret");
        let n = DUPLICATE_WINDOW as u64 + 500;
        let l = chain_lines(&key, n);
        let refs: Vec<&Vec<u8>> = l.iter().collect();
        let r = check(&refs, &Keys::from(key));
        assert!(r.intact(), "{:?}", r.problems());
        assert_eq!(r.records(), n);
        assert_eq!(r.peak_window(), DUPLICATE_WINDOW);
    }
}
