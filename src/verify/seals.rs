//! The strict walk of a signed trail: every epoch sealed once, in order, each seal signed by the
//! key the previous one certified, starting from `pk0`.
//!
//! It is independent of the detailed chain walk in `check`: that one explains *what* changed;
//! this one decides what is *verified*, and it stops at the first line it cannot account for.
//! Nothing after that point counts as verified.

use super::report::{Problem, ProblemKind, SealSummary};
use super::Keys;
use crate::chain::{self, Alg, ChainKey, PublicKey, SigCheck, Trailer, GENESIS_PREV};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

// A child module (its own file beside this one) so that it can resume the walk's state.
#[path = "seal_archive.rs"]
pub(super) mod seal_archive;

/// The walk's state, fed file by file.
#[derive(Clone)]
pub(crate) struct SealWalk<'k> {
    keys: &'k Keys,
    /// The epoch the next records must name, and its public key.
    epoch: u64,
    pk: [u8; 32],
    last: Option<(u64, [u8; 32])>,
    /// The line before was a valid seal (a new chain segment may start there).
    after_seal: bool,
    /// Set at the first line that cannot be accounted for; the walk stops verifying there.
    stopped: bool,
    first_seq: Option<u64>,
    summary: SealSummary,
    problems: Vec<Problem>,
    /// The seals archive of a pruned trail (`<prefix>.seals.jsonl`), read when the first
    /// present record is of an epoch after 0.
    archive: Option<PathBuf>,
}

fn ts_of(line: &[u8]) -> Option<String> {
    record_ts(line).map(str::to_owned)
}

impl<'k> SealWalk<'k> {
    pub(crate) fn new(pk0: &PublicKey, keys: &'k Keys) -> Self {
        SealWalk {
            keys,
            epoch: 0,
            pk: *pk0.bytes(),
            last: None,
            after_seal: false,
            stopped: false,
            first_seq: None,
            summary: SealSummary::default(),
            problems: Vec::new(),
            archive: None,
        }
    }

    /// Where the seals of pruned files were archived (see [`seal_archive`]).
    pub(crate) fn archive(mut self, path: PathBuf) -> Self {
        self.archive = Some(path);
        self
    }

    fn stop(&mut self, kind: ProblemKind, file: &str, line: u64, seq: Option<u64>, detail: String) {
        self.problems.push(Problem {
            kind,
            file: Some(file.to_owned()),
            line: Some(line),
            seq,
            detail,
        });
        self.stopped = true;
    }

    /// Adds one file's (decompressed) content. `newest` allows a torn last line, which is never
    /// counted as a record.
    pub(crate) fn add_file(&mut self, file: &str, content: &[u8], newest: bool) {
        let complete = content
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let torn = &content[complete..];
        let mut n = 0u64;
        if let Some(body) = content[..complete].strip_suffix(b"\n") {
            for line in crate::trail::read::split_lines(body) {
                if self.stopped {
                    return;
                }
                n += 1;
                self.line(file, n, line);
            }
        }
        if !torn.is_empty() && !self.stopped {
            n += 1;
            if !newest {
                self.stop(
                    ProblemKind::Modified,
                    file,
                    n,
                    chain::parse_seq(torn),
                    "file ends in a partial line but is not the newest file".to_owned(),
                );
            } else if !chain::plausibly_torn(torn) {
                self.stop(
                    ProblemKind::Inserted,
                    file,
                    n,
                    chain::parse_seq(torn),
                    "the last line lacks its newline but is not the start of a record cut short by a crash: it was added".to_owned(),
                );
            }
        }
    }

    /// Checks line `n` of `file` (without its newline).
    pub(crate) fn line(&mut self, file: &str, n: u64, line: &[u8]) {
        let Some(tr) = chain::parse_trailer(line) else {
            let kind = if line.windows(7).any(|w| w == b"\"mac\":\"") {
                ProblemKind::Modified
            } else {
                ProblemKind::Inserted
            };
            self.stop(
                kind,
                file,
                n,
                chain::parse_seq(line),
                "line is not a chained record".to_owned(),
            );
            return;
        };
        let seq = Some(tr.seq);
        let Some(epoch) = tr.epoch else {
            self.stop(
                ProblemKind::Unverifiable,
                file,
                n,
                seq,
                "record names no epoch: the trail is not signed, or was rewritten unsigned"
                    .to_owned(),
            );
            return;
        };
        let Some(key) = self.key_for(file, n, &tr) else {
            return;
        };
        let kind = chain::control_kind(line);
        let genesis = kind == Some(b"genesis".as_slice());
        match self.last {
            None => {
                // A pruned head: resume from the seals archive.
                if (!genesis || tr.seq != 0) && !self.resume_pruned(file, n, &tr, epoch) {
                    return;
                }
            }
            Some((last_seq, _)) => {
                if tr.seq != last_seq.saturating_add(1) {
                    let kind = if tr.seq > last_seq {
                        ProblemKind::Deleted
                    } else {
                        ProblemKind::Reordered
                    };
                    self.stop(
                        kind,
                        file,
                        n,
                        seq,
                        format!(
                            "expected seq {}, found {}",
                            last_seq.saturating_add(1),
                            tr.seq
                        ),
                    );
                    return;
                }
                if genesis && !self.after_seal {
                    self.stop(
                        ProblemKind::Spliced,
                        file,
                        n,
                        seq,
                        "a new chain starts inside an epoch: the records before it would not be covered by the seal".to_owned(),
                    );
                    return;
                }
            }
        }
        if epoch != self.epoch {
            let (kind, detail) = if epoch < self.epoch {
                (
                    ProblemKind::WrongEpoch,
                    format!("record of epoch {epoch} after that epoch's seal"),
                )
            } else {
                (
                    ProblemKind::MissingSeal,
                    format!(
                        "epoch {} has no seal (next record is of epoch {epoch})",
                        self.epoch
                    ),
                )
            };
            self.stop(kind, file, n, seq, detail);
            return;
        }
        let prev = match (genesis, self.last) {
            (true, _) | (_, None) => GENESIS_PREV,
            (false, Some((_, mac))) => mac,
        };
        let mac_key = key.as_ref().map(ChainKey::mac);
        if chain::compute(mac_key.as_ref(), &prev, &line[..tr.signed_len]) != tr.mac {
            self.stop(
                ProblemKind::Modified,
                file,
                n,
                seq,
                "record does not match its MAC".to_owned(),
            );
            return;
        }
        self.first_seq.get_or_insert(tr.seq);
        self.last = Some((tr.seq, tr.mac));
        self.after_seal = false;
        if kind == Some(b"epoch_seal".as_slice()) {
            self.seal(file, n, line, tr.seq, epoch, prev);
        } else {
            self.summary.unsealed += 1;
            if let Some(ts) = ts_of(line) {
                match &mut self.summary.unsealed_span {
                    Some((_, last)) => *last = ts,
                    None => self.summary.unsealed_span = Some((ts.clone(), ts)),
                }
            }
        }
    }

    /// The key a record's MAC is checked with: `Some(None)` for an unkeyed record; `None`,
    /// with the walk stopped, when no key was given for its key id.
    fn key_for(&mut self, file: &str, n: u64, tr: &Trailer) -> Option<Option<ChainKey>> {
        match tr.alg {
            Alg::Sha256 => Some(None),
            Alg::HmacSha256 => {
                let kid = tr.kid.as_deref().unwrap_or_default();
                if let Some(k) = self.keys.lookup(kid) {
                    return Some(Some(k.clone()));
                }
                self.stop(
                    ProblemKind::Unverifiable,
                    file,
                    n,
                    Some(tr.seq),
                    format!("no HMAC key given for key id {kid:?}"),
                );
                None
            }
        }
    }

    /// Whether the walk stopped at a line it could not account for.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Accounts for `run` (in `file`) as [`line`](SealWalk::line) would, record by record.
    /// Returns false, changing nothing, where `line` would have stopped: the caller then needs
    /// the lines.
    pub(crate) fn checked_run(&mut self, file: &str, run: &CheckedRun) -> bool {
        if self.last.is_none() && !(run.genesis_first && run.first_seq == 0) {
            // A pruned head: `line` resumes from the seals archive at the first record. Tried
            // on a copy, so that a walk that would stop there is left unchanged.
            let Some(prev) = run.first_prev else {
                return false;
            };
            let mut resumed = self.clone();
            if !resumed.resume_pruned_at(file, 1, run.first_seq, prev, run.epoch) || resumed.stopped
            {
                return false;
            }
            *self = resumed;
        }
        let in_order = match self.last {
            None => run.genesis_first && run.first_seq == 0,
            Some((last_seq, _)) => {
                run.first_seq == last_seq.saturating_add(1)
                    && (!run.genesis_first || self.after_seal)
            }
        };
        if self.stopped || !in_order || run.epoch != self.epoch {
            return false;
        }
        self.first_seq.get_or_insert(run.first_seq);
        self.last = Some((run.last_seq, run.last_mac));
        self.after_seal = false;
        self.summary.unsealed += run.count;
        if let Some((first, last)) = &run.ts {
            match &mut self.summary.unsealed_span {
                Some((_, l)) => l.clone_from(last),
                None => self.summary.unsealed_span = Some((first.clone(), last.clone())),
            }
        }
        true
    }

    fn seal(&mut self, file: &str, n: u64, line: &[u8], seq: u64, epoch: u64, head: [u8; 32]) {
        let bad = |detail: &str| (ProblemKind::BadSignature, detail.to_owned());
        let checked = (|| {
            let at =
                chain::rfind(line, chain::SIG_SEP).ok_or_else(|| bad("seal has no signature"))?;
            let rest = &line[at + chain::SIG_SEP.len()..];
            let hex = rest
                .strip_prefix(chain::PK_LABEL.as_bytes())
                .filter(|r| r.len() > 129 && r[128] == b'"' && r[129..].starts_with(b",\"epoch\":"))
                .ok_or_else(|| bad("seal's signature is malformed"))?;
            let sig =
                decode_hex64(&hex[..128]).ok_or_else(|| bad("seal's signature is malformed"))?;
            let v: serde_json::Value =
                serde_json::from_slice(line).map_err(|_| bad("seal is not a JSON object"))?;
            let last_seq = v.get("last_seq").and_then(serde_json::Value::as_u64);
            if last_seq != seq.checked_sub(1) {
                return Err((
                    ProblemKind::BrokenSeal,
                    "seal's last_seq is not the record before it".to_owned(),
                ));
            }
            let head_ok = v
                .get("head")
                .and_then(serde_json::Value::as_str)
                .and_then(|h| chain::decode_hex32(h.as_bytes()))
                == Some(head);
            if !head_ok {
                return Err((
                    ProblemKind::BrokenSeal,
                    "seal's chain head is not the MAC of the record before it".to_owned(),
                ));
            }
            let next_pk = v
                .get("next_pk")
                .and_then(serde_json::Value::as_str)
                .and_then(|p| PublicKey::parse(p).ok())
                .filter(|p| chain::key_ok(p.bytes()))
                .ok_or_else(|| bad("seal certifies no usable next key"))?;
            let message = chain::seal_message(epoch, &line[..at]);
            match chain::verify_signature(&self.pk, &message, &sig) {
                SigCheck::Ok => {}
                SigCheck::WeakKey => return Err(bad("epoch key is not a usable Ed25519 key")),
                SigCheck::Invalid => return Err(bad(
                    "seal's signature does not verify (strictly) under the epoch's certified key",
                )),
            }
            let epoch_secs = v.get("epoch_secs").and_then(serde_json::Value::as_u64);
            Ok((next_pk, epoch_secs, ts_of(line)))
        })();
        match checked {
            Ok((next_pk, epoch_secs, ts)) => {
                self.pk = *next_pk.bytes();
                self.epoch = epoch + 1;
                self.after_seal = true;
                let s = &mut self.summary;
                s.epochs += 1;
                s.verified = Some((self.first_seq.unwrap_or(0), seq));
                s.last_seal_epoch = Some(epoch);
                s.last_seal_ts = ts;
                s.epoch_secs = epoch_secs;
                s.unsealed = 0;
                s.unsealed_span = None;
            }
            Err((kind, detail)) => self.stop(kind, file, n, Some(seq), detail),
        }
    }

    /// The summary and the problems; with `expect_current`, a newest seal older than two
    /// epochs at `now` is a problem.
    pub(crate) fn finish(
        mut self,
        now: SystemTime,
        expect_current: bool,
    ) -> (SealSummary, Vec<Problem>) {
        let sealed_at = self.summary.last_seal_ts.as_deref().and_then(parse_time);
        self.summary.last_seal_age = sealed_at.map(|t| now.duration_since(t).unwrap_or_default());
        if expect_current && !self.stopped {
            let epoch = Duration::from_secs(self.summary.epoch_secs.unwrap_or(60).max(1));
            let reference = sealed_at.or_else(|| {
                self.summary
                    .unsealed_span
                    .as_ref()
                    .and_then(|(a, _)| parse_time(a))
            });
            let age = reference.map(|t| now.duration_since(t).unwrap_or_default());
            if age.is_none_or(|a| a > 2 * epoch) {
                self.problems.push(Problem {
                    kind: ProblemKind::Stale,
                    file: None,
                    line: None,
                    seq: self.summary.verified.map(|v| v.1),
                    detail: match age {
                        Some(a) => format!(
                            "the newest seal is {} s old, more than two epochs ({} s each): the trail was cut back or the writer stopped",
                            a.as_secs(),
                            epoch.as_secs()
                        ),
                        None => "no seal and no record to date the trail by".to_owned(),
                    },
                });
            }
        }
        (self.summary, self.problems)
    }
}

/// Ordinary (not `epoch_seal`) records of one epoch, consecutive in one file, that the caller
/// has checked the way [`SealWalk::line`] would: each is a framed line naming `epoch`, keyed by a
/// known key (or unkeyed), with consecutive seqs, chaining to the record before it (the first
/// to the walk's last record, or to the zero MAC when it is a genesis record); only the first
/// may be a genesis record.
#[derive(Clone, Debug)]
pub(crate) struct CheckedRun {
    pub(crate) epoch: u64,
    pub(crate) count: u64,
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
    pub(crate) last_mac: [u8; 32],
    pub(crate) genesis_first: bool,
    /// The `prev` the first record names when it is the first line of its file and not a
    /// genesis record (what the walk resumes from when the trail's head was pruned).
    pub(crate) first_prev: Option<[u8; 32]>,
    /// The first and last timestamp among the run's records (`ts_of`), if any has one.
    pub(crate) ts: Option<(String, String)>,
}

/// The timestamp [`SealWalk`] dates a record by.
pub(crate) fn record_ts(line: &[u8]) -> Option<&str> {
    let at = memchr::memmem::find(line, b",\"ts\":\"")? + 7;
    let end = line[at..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&line[at..at + end]).ok()
}

fn decode_hex64(hex: &[u8]) -> Option<[u8; 64]> {
    let a = chain::decode_hex32(&hex[..64])?;
    let b = chain::decode_hex32(&hex[64..])?;
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&a);
    out[32..].copy_from_slice(&b);
    Some(out)
}

fn parse_time(s: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| SystemTime::from(t.with_timezone(&chrono::Utc)))
}
