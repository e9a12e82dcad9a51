//! Following the epoch keys of a pruned signed trail from `pk0`, through its seals archive.
//!
//! Retention deletes a signed trail's oldest files, and with them the seals that certified
//! each epoch's key. Before it deletes them, the sink appends those seals, verbatim and in
//! order, to `<prefix>.seals.jsonl` beside the trail. When the first present record is of an
//! epoch after 0, the walk reads that archive and checks it as it would the trail: one seal per
//! epoch from 0, each record's MAC, each signature (strictly) under the key the previous seal
//! certified. The last archived seal must certify the key of the first present epoch, and
//! when it is the record right before the first present one, that record's `"prev"` must be
//! its MAC (records of the first present epoch deleted in between are retention's to account
//! for, with its chained prune records). A missing, truncated, reordered or edited archive is a
//! problem: without it, nothing certifies the keys of the present epochs.

use super::{ProblemKind, SealWalk};
use crate::chain::{self, ChainKey, Trailer};
use crate::trail::open;
use std::io;
use std::path::Path;

impl SealWalk<'_> {
    /// Starts the walk at the first present record `tr` (line `n` of `file`) of a trail whose
    /// head was pruned: the state after the archived seals of every epoch before `epoch`. False
    /// (with the walk stopped and the problem recorded) when that cannot be established.
    pub(super) fn resume_pruned(&mut self, file: &str, n: u64, tr: &Trailer, epoch: u64) -> bool {
        let Some(prev) = tr.prev else {
            self.stop(
                ProblemKind::Deleted,
                file,
                n,
                Some(tr.seq),
                "the trail does not begin with its genesis record and its first record names no predecessor: its head is missing".to_owned(),
            );
            return false;
        };
        self.resume_pruned_at(file, n, tr.seq, prev, epoch)
    }

    /// [`resume_pruned`](Self::resume_pruned) for a first present record of `seq` in `epoch`
    /// that names `prev`.
    pub(in crate::verify) fn resume_pruned_at(
        &mut self,
        file: &str,
        n: u64,
        seq: u64,
        prev: [u8; 32],
        epoch: u64,
    ) -> bool {
        if epoch > 0 && !self.replay_archive(file, n, seq, epoch, prev) {
            return false;
        }
        // The first present record chains from the `prev` it names (a pruned head is
        // retention's to account for) and is checked against it like any other record.
        self.last = Some((seq.saturating_sub(1), prev));
        true
    }

    /// Checks the archived seals of epochs `0..first_epoch` and moves the walk past them.
    fn replay_archive(
        &mut self,
        file: &str,
        n: u64,
        first_seq: u64,
        first_epoch: u64,
        prev: [u8; 32],
    ) -> bool {
        let Some(path) = self.archive.clone() else {
            self.stop(
                ProblemKind::MissingSeal,
                file,
                n,
                Some(first_seq),
                format!("the trail begins in epoch {first_epoch} and no seals archive was looked for: the keys of epochs 0..{first_epoch} cannot be followed from pk0"),
            );
            return false;
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let content = match open::read_capped(&path, open::SEALS_ARCHIVE_MAX) {
            Ok(c) => c,
            Err(e) => {
                let detail = if e.kind() == io::ErrorKind::NotFound {
                    format!("the trail begins in epoch {first_epoch} (its head was pruned) and the seals archive {name} is missing: the keys of the present epochs cannot be followed from pk0")
                } else {
                    format!("the seals archive {name} cannot be read ({e}): the keys of the present epochs cannot be followed from pk0")
                };
                self.stop(ProblemKind::MissingSeal, file, n, Some(first_seq), detail);
                return false;
            }
        };
        // The archive's seals count neither as present epochs nor as verified records.
        let summary = std::mem::take(&mut self.summary);
        let last = self.replay(&name, &content, first_epoch);
        self.summary = summary;
        let Some((seal_seq, seal_mac)) = last else {
            return false;
        };
        if self.epoch != first_epoch {
            self.stop(
                ProblemKind::MissingSeal,
                &name,
                0,
                None,
                format!(
                    "the seals archive ends with epoch {}, but the trail's first present record is of epoch {first_epoch}: seals are missing",
                    self.epoch.saturating_sub(1)
                ),
            );
            return false;
        }
        if first_seq <= seal_seq {
            self.stop(
                ProblemKind::Reordered,
                file,
                n,
                Some(first_seq),
                format!("the first present record (seq {first_seq}) is not after the last archived seal (seq {seal_seq})"),
            );
            return false;
        }
        if first_seq == seal_seq + 1 && prev != seal_mac {
            self.stop(
                ProblemKind::Spliced,
                file,
                n,
                Some(first_seq),
                "the first present record does not follow the last archived seal (its prev is not that seal's MAC)".to_owned(),
            );
            return false;
        }
        self.after_seal = first_seq == seal_seq + 1;
        true
    }

    /// Walks the archive's seals of epochs `0..first_epoch` (later ones are also in the present
    /// files: a crash between archiving and deleting). Returns the last one's `(seq, mac)`.
    fn replay(&mut self, name: &str, content: &[u8], first_epoch: u64) -> Option<(u64, [u8; 32])> {
        let complete = content
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        if complete < content.len() {
            self.stop(
                ProblemKind::MissingSeal,
                name,
                0,
                None,
                "the seals archive ends in a partial line: it was truncated".to_owned(),
            );
            return None;
        }
        let mut last = None;
        let body = content.strip_suffix(b"\n").unwrap_or(content);
        let lines = crate::trail::read::split_lines(body).filter(|_| !content.is_empty());
        for (i, line) in lines.enumerate() {
            let n = i as u64 + 1;
            let Some(tr) = chain::parse_trailer(line) else {
                self.stop(
                    ProblemKind::Modified,
                    name,
                    n,
                    chain::parse_seq(line),
                    "line of the seals archive is not a chained record".to_owned(),
                );
                return None;
            };
            let epoch = tr.epoch.unwrap_or(u64::MAX);
            if epoch >= first_epoch {
                break;
            }
            if chain::control_kind(line) != Some(b"epoch_seal".as_slice()) {
                self.stop(
                    ProblemKind::Inserted,
                    name,
                    n,
                    Some(tr.seq),
                    "the seals archive holds a record that is not an epoch seal".to_owned(),
                );
                return None;
            }
            if epoch != self.epoch {
                let kind = if epoch > self.epoch {
                    ProblemKind::MissingSeal
                } else {
                    ProblemKind::WrongEpoch
                };
                self.stop(
                    kind,
                    name,
                    n,
                    Some(tr.seq),
                    format!(
                        "the seals archive has the seal of epoch {epoch} where epoch {}'s belongs",
                        self.epoch
                    ),
                );
                return None;
            }
            if let Some((seq, _)) = last {
                if tr.seq <= seq {
                    self.stop(
                        ProblemKind::Reordered,
                        name,
                        n,
                        Some(tr.seq),
                        "the seals archive's seals are out of order".to_owned(),
                    );
                    return None;
                }
            }
            let Some(head) = seal_head(line) else {
                self.stop(
                    ProblemKind::Modified,
                    name,
                    n,
                    Some(tr.seq),
                    "archived seal is not a JSON object".to_owned(),
                );
                return None;
            };
            if !self.mac_ok(name, n, line, &tr, &head) {
                return None;
            }
            // The signature, the certified key and the epoch step, exactly as in the trail.
            self.seal(name, n, line, tr.seq, epoch, head);
            if self.stopped {
                return None;
            }
            last = Some((tr.seq, tr.mac));
        }
        if last.is_none() {
            self.stop(
                ProblemKind::MissingSeal,
                name,
                0,
                None,
                format!("the seals archive holds no seal of the epochs before {first_epoch}"),
            );
        }
        last
    }

    /// A seal's MAC, chained from the `head` it names (the record before it).
    fn mac_ok(&mut self, name: &str, n: u64, line: &[u8], tr: &Trailer, head: &[u8; 32]) -> bool {
        let Some(key) = self.key_for(name, n, tr) else {
            return false;
        };
        let mac_key = key.as_ref().map(ChainKey::mac);
        if chain::compute(mac_key.as_ref(), head, &line[..tr.signed_len]) != tr.mac {
            self.stop(
                ProblemKind::Modified,
                name,
                n,
                Some(tr.seq),
                "archived seal does not match its MAC".to_owned(),
            );
            return false;
        }
        true
    }
}

/// The `"head"` a seal names; a seal without one fails its own checks later, so any value will
/// do (zeros never verify).
fn seal_head(line: &[u8]) -> Option<[u8; 32]> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    Some(
        v.get("head")
            .and_then(serde_json::Value::as_str)
            .and_then(|h| chain::decode_hex32(h.as_bytes()))
            .unwrap_or([0; 32]),
    )
}

/// `<dir>/<prefix>.seals.jsonl`: where the sink archives the seals of pruned files.
pub(crate) fn path(dir: &Path, prefix: &str) -> std::path::PathBuf {
    dir.join(format!("{prefix}.seals.jsonl"))
}
