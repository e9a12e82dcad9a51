//! Every `tree_checkpoint` record the verifier meets, checked against the Merkle tree it
//! recomputes from the trail's lines: the checkpoint must name exactly the lines before it
//! (size = its own seq, root = their tree), all of one origin, and, given the log's verifier
//! key, be signed by it. A checkpoint that fails is what a witness would have cosigned for a
//! history the trail does not hold.
//!
//! The leaves are recomputed with the writer's rule ([`Frontier::push_at`]: leaf index = seq).
//! A trail whose head was pruned starts from the frontier its tiles give for the first present
//! seq; tiles are forgeable, so a forged one shows up as a mismatch, never as a pass.

use super::report::{Problem, ProblemKind};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle::{leaf_hash, Frontier};
use crate::tlog::note::{Note, Verifier};
use crate::tlog::tiles::{tile_dir, TileReader};
use crate::trail::read::LineReader;
use crate::trail::trailer::parse_seq;
use crate::trail::TrailFile;
use std::ops::ControlFlow;
use std::path::Path;

/// Walks the trail `files` of `prefix` in `dir`, returning the problems found in its
/// `tree_checkpoint` records, and how many were checked.
pub(crate) fn check(
    dir: &Path,
    prefix: &str,
    files: &[TrailFile],
    log: Option<&Verifier>,
) -> (Vec<Problem>, u64) {
    let mut walk = Walk {
        frontier: Frontier::new(),
        started: false,
        untracked: None,
        origin: log.map(|v| v.name().to_owned()),
        log,
        problems: Vec::new(),
        checked: 0,
    };
    let reader = LineReader::new();
    for file in files {
        reader.read_lines(file, |line| {
            walk.line(dir, prefix, file, line);
            ControlFlow::Continue(())
        });
    }
    (walk.problems, walk.checked)
}

struct Walk<'a> {
    frontier: Frontier,
    started: bool,
    /// Why the tree cannot be recomputed (a pruned head without usable tiles).
    untracked: Option<String>,
    /// The origin every checkpoint must name (the log key's, else the first one's).
    origin: Option<String>,
    log: Option<&'a Verifier>,
    problems: Vec<Problem>,
    checked: u64,
}

impl Walk<'_> {
    fn line(&mut self, dir: &Path, prefix: &str, file: &TrailFile, line: &[u8]) {
        let Some(seq) = parse_seq(line) else {
            return;
        };
        if !self.started {
            self.started = true;
            if seq > 0 {
                match TileReader::open(&tile_dir(dir, prefix)).frontier(seq) {
                    Ok(f) => self.frontier = f,
                    Err(e) => {
                        self.untracked = Some(format!(
                            "the trail begins at seq {seq} and its tiles do not hold the tree before it ({e})"
                        ))
                    }
                }
            }
        }
        if crate::chain::control_kind(line) == Some(b"tree_checkpoint".as_slice()) {
            if let Err(why) = self.checkpoint(seq, line) {
                self.problems.push(Problem {
                    kind: ProblemKind::CheckpointMismatch,
                    file: Some(file.name().to_owned()),
                    line: None,
                    seq: Some(seq),
                    detail: why,
                });
            }
        }
        self.frontier.push_at(seq, leaf_hash(line), |_, _, _| {});
    }

    /// Checks one `tree_checkpoint` record (at `seq`) against the tree of the lines before it.
    fn checkpoint(&mut self, seq: u64, line: &[u8]) -> Result<(), String> {
        self.checked += 1;
        let v: serde_json::Value = serde_json::from_slice(line)
            .map_err(|_| "the checkpoint record is not JSON".to_owned())?;
        let text = v
            .get("note")
            .and_then(|n| n.as_str())
            .ok_or("the checkpoint record holds no note")?;
        let note = Note::parse(text).map_err(|e| format!("its note: {e}"))?;
        let cp = Checkpoint::parse_body(note.body()).map_err(|e| format!("its checkpoint: {e}"))?;
        if let Some(log) = self.log {
            note.verify(std::slice::from_ref(log))
                .map_err(|e| format!("not signed by the log key: {e}"))?;
        }
        match &self.origin {
            Some(o) if *o != cp.origin => {
                return Err(format!(
                    "it names log {}, the trail is log {o}",
                    crate::trail::Visible::str(&cp.origin)
                ))
            }
            Some(_) => {}
            None => self.origin = Some(cp.origin.clone()),
        }
        if cp.size != seq || v.get("tree_size").and_then(|s| s.as_u64()) != Some(seq) {
            return Err(format!(
                "it claims a tree of {} records, but {seq} lines come before it",
                cp.size
            ));
        }
        if let Some(why) = &self.untracked {
            return Err(format!("its root cannot be checked: {why}"));
        }
        if self.frontier.size() != seq || self.frontier.root() != cp.root {
            return Err(format!(
                "its root is not the tree of the {seq} lines before it: lines were changed, removed or inserted after it was signed, or the tree was forged"
            ));
        }
        Ok(())
    }
}
