//! What a verification found.

use crate::trail::Visible;
use std::fmt;

/// A class of problem; each has its own exit code in the `tracing-audit verify` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A record's bytes do not match its MAC (any field changed, or the MAC itself).
    Modified,
    /// A line that is not part of this trail (forged, unchained, or copied from elsewhere).
    Inserted,
    /// Records are missing between two present records.
    Deleted,
    /// Records are present but out of order.
    Reordered,
    /// A record appears more than once.
    Duplicated,
    /// A file named by the previous file's seal is missing while later files exist.
    MissingFile,
    /// Records from another trail or chain segment are mixed into this one.
    Spliced,
    /// The end of the trail is missing: a checkpoint or seal shows records beyond the last one.
    Truncated,
    /// A file is not sealed, or its seal does not match the file.
    BrokenSeal,
    /// Records could not be checked: no key for their key id, or unkeyed records where a key was
    /// given (an attacker could have rewritten them as an unkeyed chain), or records of a trail
    /// checked against a public key that carry no epoch (unsigned or downgraded).
    Unverifiable,
    /// An epoch of a signed trail has no valid seal (empty epochs are sealed too).
    MissingSeal,
    /// An epoch seal's signature does not verify (or is not canonical) under the key the
    /// previous epoch certified, or it certifies an unusable key.
    BadSignature,
    /// A record names an epoch other than the one it lies in: after its epoch's seal, or a seal
    /// duplicated or moved to another epoch.
    WrongEpoch,
    /// `--expect-current`: the newest seal is older than two epochs (the trail may have been cut
    /// back to an older seal, or the writer stopped).
    Stale,
    /// `--witness-key`: the trail does not extend the newest checkpoint its witnesses cosigned
    /// (its tail was cut, it was rolled back, forked, or another log's trail is in its place),
    /// or no checkpoint is cosigned by enough of them, or they cosigned two different trees of
    /// one size (a split view).
    WitnessMismatch,
    /// A `tree_checkpoint` record does not name the tree of the lines before it (size, root),
    /// names another log, or (given the log key) is not signed by it: what witnesses cosigned
    /// is not what the trail holds.
    CheckpointMismatch,
}

impl ProblemKind {
    /// A short lowercase name (`modified`, `missing_file`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Modified => "modified",
            ProblemKind::Inserted => "inserted",
            ProblemKind::Deleted => "deleted",
            ProblemKind::Reordered => "reordered",
            ProblemKind::Duplicated => "duplicated",
            ProblemKind::MissingFile => "missing_file",
            ProblemKind::Spliced => "spliced",
            ProblemKind::Truncated => "truncated",
            ProblemKind::BrokenSeal => "broken_seal",
            ProblemKind::Unverifiable => "unverifiable",
            ProblemKind::MissingSeal => "missing_seal",
            ProblemKind::BadSignature => "bad_signature",
            ProblemKind::WrongEpoch => "wrong_epoch",
            ProblemKind::Stale => "stale",
            ProblemKind::WitnessMismatch => "witness_mismatch",
            ProblemKind::CheckpointMismatch => "checkpoint_mismatch",
        }
    }

    /// The exit code `tracing-audit verify` uses when this is the first problem found.
    ///
    /// | class | code |
    /// |---|---|
    /// | modified | 10 |
    /// | inserted | 11 |
    /// | deleted | 12 |
    /// | reordered | 13 |
    /// | duplicated | 14 |
    /// | missing_file | 15 |
    /// | spliced | 16 |
    /// | truncated | 17 |
    /// | broken_seal | 18 |
    /// | unverifiable | 19 |
    /// | missing_seal | 20 |
    /// | bad_signature | 21 |
    /// | wrong_epoch | 22 |
    /// | stale | 23 |
    /// | witness_mismatch | 24 |
    /// | checkpoint_mismatch | 25 |
    pub fn exit_code(self) -> u8 {
        match self {
            ProblemKind::Modified => 10,
            ProblemKind::Inserted => 11,
            ProblemKind::Deleted => 12,
            ProblemKind::Reordered => 13,
            ProblemKind::Duplicated => 14,
            ProblemKind::MissingFile => 15,
            ProblemKind::Spliced => 16,
            ProblemKind::Truncated => 17,
            ProblemKind::BrokenSeal => 18,
            ProblemKind::Unverifiable => 19,
            ProblemKind::MissingSeal => 20,
            ProblemKind::BadSignature => 21,
            ProblemKind::WrongEpoch => 22,
            ProblemKind::Stale => 23,
            ProblemKind::WitnessMismatch => 24,
            ProblemKind::CheckpointMismatch => 25,
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding, with where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub(crate) kind: ProblemKind,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u64>,
    pub(crate) seq: Option<u64>,
    pub(crate) detail: String,
}

impl Problem {
    /// The class of problem.
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }
    /// The file it was found in (a name in the trail directory, or a checkpoint file's path).
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }
    /// The 1-based line number in that file (of the decompressed content for `.gz` files).
    pub fn line(&self) -> Option<u64> {
        self.line
    }
    /// The sequence number involved.
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }
    /// What is wrong, in words.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // File names and details come from the trail directory: shown escaped, so that a
        // planted name cannot draw over the verdict (trail::Visible).
        write!(f, "{}", self.kind)?;
        if let Some(file) = &self.file {
            write!(f, " {}", Visible::str(file))?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        if let Some(seq) = self.seq {
            write!(f, " seq {seq}")?;
        }
        write!(f, ": {}", Visible::str(&self.detail))
    }
}

/// Something worth knowing that is not tampering: a torn last line, a repair record, a pruned
/// head, an unkeyed chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u64>,
    pub(crate) message: String,
}

impl Warning {
    /// The file concerned.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }
    /// The 1-based line number concerned.
    pub fn line(&self) -> Option<u64> {
        self.line
    }
    /// What happened.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", Visible::str(file))?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        write!(f, "{}", Visible::str(&self.message))
    }
}

/// One file of the trail as verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    pub(crate) name: String,
    pub(crate) lines: u64,
    pub(crate) first_seq: Option<u64>,
    pub(crate) last_seq: Option<u64>,
}

impl FileSummary {
    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Complete lines in the file.
    pub fn lines(&self) -> u64 {
        self.lines
    }
    /// Sequence number of its first record.
    pub fn first_seq(&self) -> Option<u64> {
        self.first_seq
    }
    /// Sequence number of its last record.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }
}

/// The result of verifying a trail.
///
/// [`intact`](Report::intact) is the answer; [`problems`](Report::problems) say what is wrong and
/// where; [`warnings`](Report::warnings) say what happened that is not tampering.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub(crate) files: Vec<FileSummary>,
    pub(crate) records: u64,
    pub(crate) first_seq: Option<u64>,
    pub(crate) last_seq: Option<u64>,
    pub(crate) begins_at: Option<u64>,
    pub(crate) keyed: bool,
    pub(crate) problems: Vec<Problem>,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) seals: Option<SealSummary>,
    pub(crate) stats: VerifyStats,
}

/// How a verification ran: which path produced the report and how much memory it held.
///
/// Not a finding: two runs over the same trail give the same [`Report`] findings whatever these
/// say.
///
/// ```no_run
/// use tracing_audit::verify::{verify, Keys};
/// let report = verify(std::path::Path::new("logs/audit"), &Keys::none())?;
/// let s = report.stats();
/// println!(
///     "streamed: {}, {} threads, at most {} bytes held",
///     s.streamed(),
///     s.threads(),
///     s.peak_buffered_bytes()
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyStats {
    pub(crate) streamed: bool,
    pub(crate) threads: usize,
    pub(crate) peak_buffered_bytes: u64,
    pub(crate) bytes_read: u64,
}

impl VerifyStats {
    /// True when the streaming check produced the report (every file regular and every seam
    /// joined): memory bounded by the files' read buffers, not by the trail. False when the
    /// reference check built it (asked for, or something in the trail needed a full
    /// diagnosis): memory then grows with the trail.
    pub fn streamed(&self) -> bool {
        self.streamed
    }
    /// Worker threads the streaming check used (1 for the reference check).
    pub fn threads(&self) -> usize {
        self.threads
    }
    /// An upper bound on the bytes of trail data and per-record or per-file state the verifier
    /// held at once: read buffers, file digests waiting to be joined and, for the reference
    /// check, a whole file's content plus the model of every record (about 140 bytes each).
    pub fn peak_buffered_bytes(&self) -> u64 {
        self.peak_buffered_bytes
    }
    /// Bytes read from disk (compressed bytes for `.gz` files), counting a second pass when the
    /// streaming check handed over to the reference check.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
}

/// What the signed epoch seals of a trail cover, when it was verified with a public key.
///
/// Only records up to the last valid seal are verified; records after it are *not yet sealed*
/// (the current epoch, or a tail an attacker with the current key could have rewritten).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealSummary {
    pub(crate) epochs: u64,
    pub(crate) verified: Option<(u64, u64)>,
    pub(crate) last_seal_epoch: Option<u64>,
    pub(crate) last_seal_ts: Option<String>,
    pub(crate) last_seal_age: Option<std::time::Duration>,
    pub(crate) epoch_secs: Option<u64>,
    pub(crate) unsealed: u64,
    pub(crate) unsealed_span: Option<(String, String)>,
}

impl SealSummary {
    /// Epochs whose seal verified, from epoch 0 on.
    pub fn epochs_sealed(&self) -> u64 {
        self.epochs
    }
    /// The sequence numbers (inclusive) the seals authenticate.
    pub fn verified(&self) -> Option<(u64, u64)> {
        self.verified
    }
    /// The epoch of the newest valid seal.
    pub fn last_seal_epoch(&self) -> Option<u64> {
        self.last_seal_epoch
    }
    /// The time the newest valid seal was written (RFC 3339, as signed).
    pub fn last_seal_time(&self) -> Option<&str> {
        self.last_seal_ts.as_deref()
    }
    /// How old the newest valid seal was when the trail was verified.
    pub fn last_seal_age(&self) -> Option<std::time::Duration> {
        self.last_seal_age
    }
    /// Records after the newest valid seal: present, chained, but not verified.
    pub fn unsealed(&self) -> u64 {
        self.unsealed
    }
    /// Timestamps of the first and last unsealed record.
    pub fn unsealed_span(&self) -> Option<(&str, &str)> {
        self.unsealed_span
            .as_ref()
            .map(|(a, b)| (a.as_str(), b.as_str()))
    }
}

impl fmt::Display for SealSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verified {
            Some((a, b)) => write!(
                f,
                "sealed: seq {a}..={b} verified by {} epoch seals",
                self.epochs
            )?,
            None => f.write_str("sealed: nothing yet")?,
        }
        if let (Some(e), Some(ts)) = (self.last_seal_epoch, &self.last_seal_ts) {
            write!(f, "; last seal: epoch {e} at {}", Visible::str(ts))?;
            if let Some(age) = self.last_seal_age {
                write!(f, " ({} s ago)", age.as_secs())?;
            }
        }
        if self.unsealed > 0 {
            write!(f, "; {} records not yet sealed", self.unsealed)?;
            if let Some((a, b)) = &self.unsealed_span {
                write!(f, " ({} .. {})", Visible::str(a), Visible::str(b))?;
            }
        }
        Ok(())
    }
}

impl Report {
    /// How this verification ran (path, threads, memory): see [`VerifyStats`].
    pub fn stats(&self) -> &VerifyStats {
        &self.stats
    }

    /// With a public key: what the epoch seals verified (`None` when no public key was given).
    pub fn seals(&self) -> Option<&SealSummary> {
        self.seals.as_ref()
    }

    /// True when no problem was found.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
    /// Every problem found, in trail order (checkpoint findings last).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
    /// Findings that are not tampering.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
    /// The files verified, in order.
    pub fn files(&self) -> &[FileSummary] {
        &self.files
    }
    /// Chained records present (including seal, checkpoint and repair records).
    pub fn records(&self) -> u64 {
        self.records
    }
    /// Lowest sequence number present.
    pub fn first_seq(&self) -> Option<u64> {
        self.first_seq
    }
    /// Highest sequence number present.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }
    /// When the oldest files were pruned by retention: the sequence number the trail now begins
    /// at. `None` when the trail still starts with its genesis record.
    pub fn begins_at(&self) -> Option<u64> {
        self.begins_at
    }
    /// Whether the trail's records are keyed (HMAC-SHA256) rather than a plain SHA-256 chain.
    pub fn keyed(&self) -> bool {
        self.keyed
    }

    /// The report as one JSON object (for `tracing-audit verify --json`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        json!({
            "intact": self.intact(),
            "records": self.records,
            "files": self.files.iter().map(|f| json!({
                "name": f.name, "lines": f.lines, "first_seq": f.first_seq, "last_seq": f.last_seq,
            })).collect::<Vec<_>>(),
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "begins_at": self.begins_at,
            "keyed": self.keyed,
            "problems": self.problems.iter().map(|p| json!({
                "kind": p.kind.as_str(), "exit_code": p.kind.exit_code(), "file": p.file,
                "line": p.line, "seq": p.seq, "detail": p.detail,
            })).collect::<Vec<_>>(),
            "warnings": self.warnings.iter().map(|w| json!({
                "file": w.file, "line": w.line, "message": w.message,
            })).collect::<Vec<_>>(),
            "seals": self.seals.as_ref().map(|s| json!({
                "epochs_sealed": s.epochs,
                "verified_first_seq": s.verified.map(|v| v.0),
                "verified_last_seq": s.verified.map(|v| v.1),
                "last_seal_epoch": s.last_seal_epoch,
                "last_seal_time": s.last_seal_ts,
                "last_seal_age_secs": s.last_seal_age.map(|a| a.as_secs()),
                "unsealed": s.unsealed,
                "unsealed_first_time": s.unsealed_span.as_ref().map(|s| &s.0),
                "unsealed_last_time": s.unsealed_span.as_ref().map(|s| &s.1),
            })),
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        if let Some(n) = self.begins_at {
            writeln!(f, "trail begins at sequence {n} (older files were pruned)")?;
        }
        if let Some(s) = &self.seals {
            writeln!(f, "{s}")?;
        }
        let range = match (self.first_seq, self.last_seq) {
            (Some(a), Some(b)) => format!(", seq {a}..={b}"),
            _ => String::new(),
        };
        if self.intact() {
            write!(
                f,
                "OK: {} records in {} files{range}",
                self.records,
                self.files.len()
            )
        } else {
            write!(
                f,
                "NOT INTACT: {} problems in {} records, {} files{range}",
                self.problems.len(),
                self.records,
                self.files.len()
            )
        }
    }
}
