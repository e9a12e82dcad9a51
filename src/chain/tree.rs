//! The writer's Merkle tree over the audit stream and the log key that signs its checkpoints.
//!
//! Leaf `i` is the audit line of sequence number `i`, exactly as written, without its newline
//! (control records included). The tree lives beside the chain state on the writer thread: a
//! [`Frontier`] (O(log n) per record), with every leaf hash and every full-tile root appended to
//! the trail's tile files ([`crate::tlog::tiles`]) after each batch, so a restart restores the
//! frontier from them in O(log n) reads and `prove` builds a proof without rehashing the trail.
//!
//! After a crash the tiles may lag the trail by a batch (replayed from the newest files) or run
//! ahead of it (cut back). Sequence numbers the trail skips (a `cut` repair renumbers past
//! records an attacker removed) get the leaf of the empty entry, which no line can have: the
//! tree keeps leaf index == seq, and its roots no longer match what witnesses saw for the
//! removed records, which is how they notice.

use super::LogKey;
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle::{leaf_hash, Frontier};
use crate::tlog::note::Note;
use crate::tlog::tiles::{tile_dir, TileWriter};
use crate::trail::read::LineReader;
use crate::trail::trailer::parse_seq;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// The writer's tree: frontier, tile store, and the key that signs checkpoints.
pub(crate) struct WriterTree {
    frontier: Frontier,
    tiles: Option<TileWriter>,
    trail: Option<(PathBuf, String)>,
    key: LogKey,
    /// The newest signed checkpoint note, not yet published to the side file.
    unpublished: Option<String>,
}

impl std::fmt::Debug for WriterTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterTree")
            .field("frontier", &self.frontier)
            .finish_non_exhaustive()
    }
}

impl WriterTree {
    pub(crate) fn new(key: LogKey) -> Self {
        WriterTree {
            frontier: Frontier::new(),
            tiles: None,
            trail: None,
            key,
            unpublished: None,
        }
    }

    /// The trail is files in `dir`: keep tiles beside them.
    pub(crate) fn attach(&mut self, dir: &Path, prefix: &str) {
        self.trail = Some((dir.to_owned(), prefix.to_owned()));
        self.tiles = TileWriter::open(&tile_dir(dir, prefix)).ok();
    }

    /// Appends the line of sequence number `seq` (without its newline), after placeholders for
    /// any seq numbers skipped since the last one.
    pub(crate) fn push(&mut self, seq: u64, line: &[u8]) {
        let leaf = leaf_hash(line);
        match self.tiles.as_mut() {
            Some(t) => self
                .frontier
                .push_at(seq, leaf, |level, _, h| t.completed(level, h)),
            None => self.frontier.push_at(seq, leaf, |_, _, _| {}),
        };
    }

    /// Writes the tile hashes of the lines framed since the last call (after every batch).
    pub(crate) fn flush(&mut self) {
        if let Some(t) = self.tiles.as_mut() {
            if t.flush().is_err() {
                // Nothing in the logging path may fail for derived data; the next start
                // replays what the files miss from the trail.
                self.tiles = None;
            }
        }
    }

    /// Restores the tree of every line up to `last_seq` (the last complete line on disk) at
    /// start: from the tile files, then from the trail for lines the tiles miss.
    pub(crate) fn recover(&mut self, last_seq: Option<u64>) {
        let target = last_seq.map_or(0, |s| s.saturating_add(1));
        let Some(tiles) = self.tiles.as_mut() else {
            return;
        };
        let reader = tiles.reader();
        let stored = reader.count(0).min(target);
        let (frontier, size) = match reader.frontier(stored) {
            Ok(f) => (f, stored),
            Err(_) => (Frontier::new(), 0),
        };
        if tiles.truncate(size).is_err() {
            self.tiles = None;
        }
        self.frontier = frontier;
        if size < target {
            self.replay(target);
        }
        self.flush();
    }

    /// Hashes the lines of seq `size..target` from the trail files (oldest file that has them
    /// first).
    fn replay(&mut self, target: u64) {
        let Some((dir, prefix)) = self.trail.clone() else {
            return;
        };
        let Ok(listing) = crate::trail::files::list(&dir, Some(&prefix)) else {
            return;
        };
        let reader = LineReader::new();
        let from = self.frontier.size();
        // The newest file whose first line is at or before the first seq missing.
        let start = listing
            .files
            .iter()
            .rposition(|f| first_seq(&reader, f).is_some_and(|s| s <= from))
            .unwrap_or(0);
        for file in &listing.files[start..] {
            reader.read_lines(file, |line| {
                match parse_seq(line) {
                    Some(seq) if seq >= target => return ControlFlow::Break(()),
                    Some(seq) => self.push(seq, line),
                    None => {}
                }
                ControlFlow::Continue(())
            });
            if self.frontier.size() >= target {
                break;
            }
        }
    }

    /// The signed checkpoint note of the tree as it is now, for a `tree_checkpoint` record at
    /// seq `next_seq`; `None` when the tree is not at that size (a gap it could not fill).
    pub(crate) fn signed_note(&self, next_seq: u64) -> Option<String> {
        if self.frontier.size() != next_seq {
            return None;
        }
        let cp = Checkpoint {
            origin: self.key.origin().to_owned(),
            size: self.frontier.size(),
            root: self.frontier.root(),
            extensions: Vec::new(),
        };
        let mut note = Note::new(&cp.body()).ok()?;
        note.add_signature(self.key.signer().sign(note.body()));
        Some(note.render())
    }
}

impl WriterTree {
    /// A checkpoint note was written into the trail: publish it at the next [`publish`].
    ///
    /// [`publish`]: WriterTree::publish
    pub(crate) fn signed(&mut self, note: String) {
        self.unpublished = Some(note);
    }

    /// Replaces `<dir>/<prefix>.tlog-checkpoint` with the newest signed checkpoint (for the
    /// witness client and `prove`; a copy of what the trail holds, so a failure only delays it).
    pub(crate) fn publish(&mut self) {
        let (Some(note), Some((dir, prefix))) = (self.unpublished.take(), self.trail.as_ref())
        else {
            return;
        };
        let name = crate::trail::naming::tlog_checkpoint(prefix);
        if crate::trail::write::replace_file(dir, &name, note.as_bytes(), 0o644).is_err() {
            self.unpublished = Some(note);
        }
    }
}

fn first_seq(reader: &LineReader, file: &crate::trail::TrailFile) -> Option<u64> {
    let mut seq = None;
    reader.read_lines(file, |line| {
        seq = parse_seq(line);
        ControlFlow::Break(())
    });
    seq
}
