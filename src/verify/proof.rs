//! Proofs for outsiders: one audit record, its Merkle inclusion proof and a signed (cosigned
//! when witnesses signed it) checkpoint, in the C2SP `tlog-proof` text form, checked with
//! nothing but the log's verifier key.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the record line, exactly as written: the leaf>
//! index <seq>
//! <base64 hash>            (the inclusion proof, leaf's sibling first)
//!
//! <checkpoint note>        (origin, size, root, blank line, signature lines)
//! ```
//!
//! The record rides in the `extra` line, which the spec leaves to the application and does not
//! trust: the checker hashes it into the leaf itself, so a changed record no longer leads to the
//! signed root. Building a proof reads the trail's tiles (derived, forgeable data); the proof is
//! checked against the signed checkpoint before it is handed out, so forged tiles make
//! `prove` fail, never hand out a false proof.

use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle::{inclusion_proof, leaf_hash, verify_inclusion, Hash};
use crate::tlog::note::{Note, Verifier};
use crate::tlog::tiles::{tile_dir, TileReader};
use crate::trail::read::LineReader;
use crate::trail::trailer::parse_seq;
use crate::trail::{Trail, TrailFile};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::fmt;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// First line of every proof.
const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Largest proof file read (a record of the readers' line limit, base64, plus a note).
pub const MAX_PROOF_BYTES: u64 = 12 << 20;

/// Reads a proof file: regular files only, opened without blocking, at most
/// [`MAX_PROOF_BYTES`], so a FIFO or a device given as the proof is refused at once.
///
/// # Errors
/// The file cannot be opened, is not a regular file, or is larger than the cap.
pub fn read_proof_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    crate::trail::open::read_capped(path, MAX_PROOF_BYTES)
}

/// Why a proof could not be built, read or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofFileError(String);

impl ProofFileError {
    /// An error saying `what`.
    pub fn new(what: impl Into<String>) -> Self {
        ProofFileError(what.into())
    }
}

impl fmt::Display for ProofFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProofFileError {}

/// One record with what proves it was logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProof {
    /// The record line as written (no newline): the Merkle leaf.
    pub record: Vec<u8>,
    /// Its leaf index (its `seq`).
    pub index: u64,
    /// Inclusion proof in the checkpoint's tree, the leaf's sibling first.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

/// What a checked proof established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// The checkpoint the record is included in.
    pub checkpoint: Checkpoint,
    /// Names of the witness keys whose cosignatures verified.
    pub witnesses: Vec<String>,
}

impl RecordProof {
    /// The C2SP `tlog-proof` text.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{HEADER}\nextra {}\nindex {}\n",
            STANDARD.encode(&self.record),
            self.index
        );
        for h in &self.proof {
            out.push_str(&STANDARD.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a `tlog-proof` whose `extra` line holds the record.
    ///
    /// # Errors
    /// Not the format, or no record in it.
    pub fn parse(text: &str) -> Result<RecordProof, ProofFileError> {
        let bad = |what: &str| ProofFileError::new(format!("not a tlog-proof: {what}"));
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad("first line is not c2sp.org/tlog-proof@v1"));
        }
        let extra = lines
            .next()
            .and_then(|l| l.strip_prefix("extra "))
            .ok_or_else(|| bad("no extra line holding the record"))?;
        let record = crate::tlog::note::decode_canonical(extra)
            .ok_or_else(|| bad("the extra line is not base64"))?;
        let index = lines
            .next()
            .and_then(|l| l.strip_prefix("index "))
            .filter(|d| !d.is_empty() && (d == &"0" || !d.starts_with('0')))
            .and_then(|d| d.bytes().all(|b| b.is_ascii_digit()).then_some(d))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| bad("no valid index line"))?;
        let mut proof = Vec::new();
        for l in lines {
            let h = crate::tlog::note::decode_canonical(l)
                .and_then(|raw| <Hash>::try_from(raw.as_slice()).ok())
                .ok_or_else(|| bad("a proof line is not a base64 SHA-256 hash"))?;
            proof.push(h);
            if proof.len() > 64 {
                return Err(bad("more than 64 proof hashes"));
            }
        }
        Ok(RecordProof {
            record,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Checks the proof (C2SP tlog-proof, "Verifying"): the checkpoint is signed by `log`, its
    /// origin is the log key's name, and the record hashes to a leaf the inclusion proof leads
    /// from to the checkpoint's root. `witness` keys are checked by `cosigned`, which returns
    /// the names of those whose cosignatures verify.
    ///
    /// # Errors
    /// Any of these fails.
    pub fn check(
        &self,
        log: &Verifier,
        cosigned: impl FnOnce(&Note) -> Result<Vec<String>, ProofFileError>,
    ) -> Result<CheckedProof, ProofFileError> {
        let note = Note::parse(&self.checkpoint)
            .map_err(|e| ProofFileError::new(format!("checkpoint: {e}")))?;
        note.verify(std::slice::from_ref(log)).map_err(|e| {
            ProofFileError::new(format!("checkpoint not signed by the log key: {e}"))
        })?;
        let cp = Checkpoint::parse_body(note.body())
            .map_err(|e| ProofFileError::new(format!("checkpoint: {e}")))?;
        if cp.origin != log.name() {
            return Err(ProofFileError::new(
                "the checkpoint's origin is not the log key's name",
            ));
        }
        let witnesses = cosigned(&note)?;
        verify_inclusion(
            self.index,
            cp.size,
            &leaf_hash(&self.record),
            &self.proof,
            &cp.root,
        )
        .map_err(|e| {
            ProofFileError::new(format!(
                "the record is not in the checkpointed tree at index {}: {e}",
                self.index
            ))
        })?;
        Ok(CheckedProof {
            checkpoint: cp,
            witnesses,
        })
    }
}

/// Builds proofs for the records of one trail.
#[derive(Debug)]
pub struct Prover {
    trail: Trail,
    tiles: TileReader,
    note: Note,
    checkpoint: Checkpoint,
}

impl Prover {
    /// Opens the trail in `dir` and picks the newest checkpoint: the trail's last
    /// `tree_checkpoint` record, `<prefix>.tlog-checkpoint`, or a note of `<prefix>.cosigned`
    /// (the witnesses' cosignatures), whichever is newest, and of those the one with the most
    /// signatures. With `log`, a checkpoint not signed by it is
    /// never used.
    ///
    /// # Errors
    /// The trail cannot be listed or has no usable checkpoint.
    pub fn open(
        dir: &Path,
        prefix: Option<&str>,
        log: Option<&Verifier>,
    ) -> Result<Prover, ProofFileError> {
        let trail = Trail::open(dir, prefix).map_err(|e| ProofFileError::new(e.to_string()))?;
        let prefix = match prefix {
            Some(p) => p.to_owned(),
            None => trail
                .files()
                .first()
                .map(|f| f.prefix().to_owned())
                .ok_or_else(|| ProofFileError::new("the directory holds no trail"))?,
        };
        let mut candidates: Vec<Note> = newest_in_trail(&trail)
            .and_then(|text| Note::parse(&text).ok())
            .into_iter()
            .collect();
        let side = dir.join(crate::trail::naming::tlog_checkpoint(&prefix));
        if let Ok(text) = crate::trail::open::read_capped_to_string(&side, 1 << 20) {
            candidates.extend(Note::parse(&text).ok());
        }
        // What the witnesses cosigned (kept by the submission thread).
        let cosigned = dir.join(format!("{prefix}.cosigned"));
        candidates.extend(crate::tlog::submit::read_notes(&cosigned).unwrap_or_default());
        let mut best: Option<(Note, Checkpoint)> = None;
        for note in candidates {
            if log.is_some_and(|v| note.verify(std::slice::from_ref(v)).is_err()) {
                continue;
            }
            let Ok(cp) = Checkpoint::parse_body(note.body()) else {
                continue;
            };
            let better = best.as_ref().is_none_or(|(n, b)| {
                cp.size > b.size || (cp == *b && note.signatures().len() > n.signatures().len())
            });
            if better {
                best = Some((note, cp));
            }
        }
        let (note, checkpoint) = best.ok_or_else(|| {
            ProofFileError::new(match log {
                Some(_) => "no checkpoint signed by the log key in the trail or beside it",
                None => "no checkpoint in the trail or beside it (is the tree kept: ChainConfig::log_key?)",
            })
        })?;
        Ok(Prover {
            tiles: TileReader::open(&tile_dir(dir, &prefix)),
            trail,
            note,
            checkpoint,
        })
    }

    /// The checkpoint proofs are built against.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The proof of the record with sequence number `seq`.
    ///
    /// # Errors
    /// The checkpoint does not cover `seq`, the record is not in the trail, or the tiles do not
    /// give a proof that leads to the signed root (missing, or forged).
    pub fn prove(&self, seq: u64) -> Result<RecordProof, ProofFileError> {
        if seq >= self.checkpoint.size {
            return Err(ProofFileError::new(format!(
                "the newest checkpoint covers records 0..{}; {seq} is not in it yet (it will be after the next epoch seal)",
                self.checkpoint.size
            )));
        }
        let record = find_record(self.trail.files(), seq)
            .ok_or_else(|| ProofFileError::new(format!("record {seq} is not in the trail")))?;
        self.prove_line(seq, record)
    }

    /// The proof of `line` as record `seq` (already read from the trail).
    ///
    /// # Errors
    /// As [`Prover::prove`].
    pub fn prove_line(&self, seq: u64, line: Vec<u8>) -> Result<RecordProof, ProofFileError> {
        let size = self.checkpoint.size;
        let proof = inclusion_proof(seq, size, &self.tiles).map_err(|e| {
            ProofFileError::new(format!("the trail's tiles cannot prove record {seq}: {e}"))
        })?;
        // Tiles are forgeable: hand out only a proof that leads to the signed root.
        verify_inclusion(seq, size, &leaf_hash(&line), &proof, &self.checkpoint.root).map_err(
            |_| {
                ProofFileError::new(format!(
                    "record {seq} and the trail's tiles do not lead to the signed checkpoint's root: the record or the tiles were changed"
                ))
            },
        )?;
        Ok(RecordProof {
            record: line,
            index: seq,
            proof,
            checkpoint: self.note.render(),
        })
    }

    /// Every record (not control record) whose `actor` is `actor`, with its seq, among those
    /// the checkpoint covers, in trail order.
    ///
    /// # Errors
    /// A file cannot be read.
    pub fn records_of(&self, actor: &str) -> Result<Vec<(u64, Vec<u8>)>, ProofFileError> {
        let mut out = Vec::new();
        let size = self.checkpoint.size;
        self.trail
            .for_each_line(|_, line| {
                let Some(seq) = parse_seq(line) else {
                    return ControlFlow::Continue(());
                };
                if seq >= size {
                    return ControlFlow::Break(());
                }
                if crate::chain::control_kind(line).is_none() && actor_is(line, actor) {
                    out.push((seq, line.to_vec()));
                }
                ControlFlow::Continue(())
            })
            .map_err(|e| ProofFileError::new(e.to_string()))?;
        Ok(out)
    }
}

fn actor_is(line: &[u8], actor: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("actor").and_then(|a| a.as_str().map(|a| a == actor)))
        .unwrap_or(false)
}

/// The note of the newest `tree_checkpoint` record, reading the files backward from the end.
fn newest_in_trail(trail: &Trail) -> Option<String> {
    let reader = LineReader::new();
    for file in trail.files().iter().rev() {
        let mut found = None;
        reader.read_lines_backward(file, file.len_on_disk(), |line| {
            if crate::chain::control_kind(line) == Some(b"tree_checkpoint".as_slice()) {
                found = serde_json::from_slice::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("note").and_then(|n| n.as_str().map(str::to_owned)));
                if found.is_some() {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The line of record `seq`: the file whose first record is the last at or before it, then a
/// binary search by byte offset (plain files) or a scan (compressed ones).
fn find_record(files: &[TrailFile], seq: u64) -> Option<Vec<u8>> {
    let reader = LineReader::new();
    let firsts: Vec<Option<u64>> = files.iter().map(|f| first_seq(&reader, f)).collect();
    let start = firsts
        .iter()
        .rposition(|s| s.is_some_and(|s| s <= seq))
        .unwrap_or(0);
    for file in &files[start..] {
        let offset = if file.is_compressed() {
            0
        } else {
            seek_before(file, seq).unwrap_or(0)
        };
        let mut found = None;
        reader.read_lines_from(file, offset, |line| match parse_seq(line) {
            Some(s) if s == seq => {
                found = Some(line.to_vec());
                ControlFlow::Break(())
            }
            Some(s) if s > seq => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

fn first_seq(reader: &LineReader, file: &TrailFile) -> Option<u64> {
    let mut seq = None;
    reader.read_lines(file, |line| {
        seq = parse_seq(line);
        ControlFlow::Break(())
    });
    seq
}

/// A line start in a plain file at or before the line of `seq` (binary search on the seq of
/// the first line starting after a probe offset). Seq numbers only grow along a file; where
/// they do not (a damaged file), the scan from the offset found simply does not find it.
fn seek_before(file: &TrailFile, seq: u64) -> Option<u64> {
    let f = crate::trail::open::open_in_trail(file.path()).ok()?;
    let len = f.metadata().ok()?.len();
    let (mut lo, mut hi) = (0u64, len);
    let mut buf = vec![0u8; 4096];
    // Invariant: the line starting at `lo` has seq <= `seq` (or lo is 0).
    while hi - lo > 64 * 1024 {
        let mid = lo + (hi - lo) / 2;
        let n = f.read_at(&mut buf, mid).ok()?;
        let nl = buf[..n].iter().position(|&b| b == b'\n')?;
        let start = mid + nl as u64 + 1;
        let m = f.read_at(&mut buf, start).ok()?;
        match parse_seq(&buf[..m]) {
            Some(s) if s <= seq => lo = start,
            _ => hi = mid,
        }
    }
    Some(lo)
}
