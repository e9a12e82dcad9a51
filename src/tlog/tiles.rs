//! Stored subtree hashes of a trail's Merkle tree: C2SP tlog-tiles (height 8) kept as one
//! append-only file per tile level in `<dir>/<prefix>.tiles/`.
//!
//! File `<L>` holds, in order, the hashes of every *complete* subtree of height `8 * L`: file
//! `0` every leaf hash, file `1` the root of every full 256-leaf tile, and so on. C2SP tile
//! `tile/<L>/<N>` is bytes `N * 8192 .. (N + 1) * 8192` of file `<L>` (a partial tile is the
//! shorter rest), so the files can be served as tlog-tiles as they are; `tests/tlog_interop.rs`
//! reads them through Cloudflare's `tlog_tiles` reader. About 32 bytes per record, written by
//! the audit writer after every batch.
//!
//! Tiles are derived data in a directory an attacker can write: nothing here is trusted. A
//! proof built from them ([`super::merkle::inclusion_proof`]) is checked against the signed
//! checkpoint's root before it is handed out, and a writer that restarts from them produces
//! checkpoints that witnesses and `verify` check against the records.

use super::merkle::{node_hash, Frontier, Hash, HashReader, ProofError};
use crate::trail::write::{context, create_new, ensure_dir, open_existing};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Tile height: each tile level spans 8 tree levels (256 hashes per full tile), as in C2SP.
pub const TILE_HEIGHT: u8 = 8;
/// Levels of tile files (8 * 8 = 64 tree levels: every `u64` size).
const LEVELS: usize = 8;

/// The tile directory of the trail `prefix` in `dir`.
pub fn tile_dir(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}.tiles"))
}

/// Reads stored subtree hashes from a tile directory (untrusted; see the module doc).
#[derive(Debug)]
pub struct TileReader {
    files: Vec<Option<File>>,
}

impl TileReader {
    /// Opens the tile files in `dir` that exist (none is an empty store). Files are opened
    /// without following symlinks.
    pub fn open(dir: &Path) -> TileReader {
        let files = (0..LEVELS)
            .map(|l| crate::trail::open::open_in_trail(&dir.join(l.to_string())).ok())
            .collect();
        TileReader { files }
    }

    /// How many hashes tile level `level` holds (whole hashes only).
    pub fn count(&self, level: usize) -> u64 {
        self.files
            .get(level)
            .and_then(Option::as_ref)
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len() / 32)
    }

    /// Reads `n` consecutive hashes of tile level `level` from hash index `start`.
    fn read(&self, level: usize, start: u64, n: usize) -> Result<Vec<Hash>, ProofError> {
        let file = self.files.get(level).and_then(Option::as_ref);
        let missing = ProofError::MissingHash {
            level: (level as u8) * TILE_HEIGHT,
            index: start,
        };
        let file = file.ok_or_else(|| missing.clone())?;
        let mut buf = vec![0u8; n * 32];
        match file.read_exact_at(&mut buf, start.saturating_mul(32)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(missing),
            Err(e) => return Err(ProofError::Io(e.to_string())),
        }
        Ok(buf
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect())
    }

    /// The frontier of the first `size` leaves, from stored hashes (O(log n) reads).
    ///
    /// # Errors
    /// A hash is missing or unreadable.
    pub fn frontier(&self, size: u64) -> Result<Frontier, ProofError> {
        let mut hashes = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size >> level & 1 == 1 {
                hashes.push(self.node(level, start >> level)?);
                start += 1 << level;
            }
        }
        Frontier::from_parts(size, hashes).ok_or(ProofError::OutOfRange)
    }
}

impl HashReader for TileReader {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let tile_level = usize::from(level / TILE_HEIGHT);
        let below = level % TILE_HEIGHT;
        // A subtree of height 8L + r is the tree over 2^r consecutive stored hashes of level L.
        let mut hashes = self.read(tile_level, index << below, 1 << below)?;
        while hashes.len() > 1 {
            hashes = hashes
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
        }
        hashes.pop().ok_or(ProofError::MissingHash { level, index })
    }
}

/// Appends subtree hashes to a tile directory as the writer's tree grows.
#[derive(Debug)]
pub struct TileWriter {
    dir: PathBuf,
    files: Vec<Option<File>>,
    /// Hashes completed since the last flush, per tile level.
    pending: Vec<Vec<u8>>,
}

impl TileWriter {
    /// Opens (creating, 0700/0600, never through a symlink) the tile directory `dir`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(dir: &Path) -> io::Result<TileWriter> {
        ensure_dir(dir, 0o700)?;
        Ok(TileWriter {
            dir: dir.to_owned(),
            files: (0..LEVELS).map(|_| None).collect(),
            pending: vec![Vec::new(); LEVELS],
        })
    }

    /// The store's reader (for restoring the frontier).
    pub fn reader(&self) -> TileReader {
        TileReader::open(&self.dir)
    }

    /// Notes one completed subtree (as [`Frontier::push_observed`] reports it); only those of
    /// a height that is a multiple of 8 are stored.
    pub fn completed(&mut self, level: u8, hash: &Hash) {
        if level % TILE_HEIGHT == 0 {
            if let Some(p) = self.pending.get_mut(usize::from(level / TILE_HEIGHT)) {
                p.extend_from_slice(hash);
            }
        }
    }

    fn file(&mut self, level: usize) -> io::Result<&mut File> {
        let path = self.dir.join(level.to_string());
        let slot = &mut self.files[level];
        if slot.is_none() {
            let f = match open_existing(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => create_new(&path, 0o600)?,
                Err(e) => return Err(e),
            };
            *slot = Some(f);
        }
        slot.as_mut()
            .ok_or_else(|| io::Error::other("tile file not open"))
    }

    /// Writes the pending hashes (one append per level that has any).
    ///
    /// # Errors
    /// A write failed; the pending hashes are dropped, and the store is behind the tree (the
    /// next restart replays from the trail).
    pub fn flush(&mut self) -> io::Result<()> {
        for level in 0..LEVELS {
            if self.pending[level].is_empty() {
                continue;
            }
            let bytes = std::mem::take(&mut self.pending[level]);
            let path = self.dir.join(level.to_string());
            let result = self.file(level).and_then(|f| f.write_all(&bytes));
            let mut bytes = bytes;
            bytes.clear();
            self.pending[level] = bytes;
            result.map_err(|e| context("cannot append to", &path, e))?;
        }
        Ok(())
    }

    /// Cuts every level back to what a tree of `size` leaves holds (tiles written after the
    /// last record that reached the disk, or for records an attacker removed).
    ///
    /// # Errors
    /// A file cannot be truncated.
    pub fn truncate(&mut self, size: u64) -> io::Result<()> {
        for level in 0..LEVELS {
            self.pending[level].clear();
            let keep = (size >> (level * 8)).saturating_mul(32);
            let path = self.dir.join(level.to_string());
            match open_existing(&path) {
                Ok(f) if f.metadata()?.len() > keep => {
                    f.set_len(keep)
                        .map_err(|e| context("cannot truncate", &path, e))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.files[level] = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::{inclusion_proof, leaf_hash, tree_root, MemoryHashes};

    #[test]
    fn tiles_give_the_same_nodes_and_proofs_as_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TileWriter::open(dir.path()).unwrap();
        let mut f = Frontier::new();
        let mut mem = MemoryHashes::new();
        for i in 0..70_000u32 {
            let e = i.to_be_bytes();
            mem.push_entry(&e);
            f.push_observed(leaf_hash(&e), |level, _, h| w.completed(level, h));
            if i % 1000 == 0 {
                w.flush().unwrap();
            }
        }
        w.flush().unwrap();
        let r = w.reader();
        assert_eq!(r.count(0), 70_000);
        assert_eq!(r.count(1), 70_000 / 256);
        assert_eq!(r.count(2), 1);
        for size in [1u64, 255, 256, 257, 65_536, 69_999, 70_000] {
            assert_eq!(tree_root(size, &r).unwrap(), tree_root(size, &mem).unwrap());
            assert_eq!(
                r.frontier(size).unwrap().root(),
                tree_root(size, &mem).unwrap()
            );
            let i = size / 3;
            assert_eq!(
                inclusion_proof(i, size, &r).unwrap(),
                inclusion_proof(i, size, &mem).unwrap()
            );
        }
        w.truncate(300).unwrap();
        let r = w.reader();
        assert_eq!((r.count(0), r.count(1), r.count(2)), (300, 1, 0));
        assert_eq!(
            r.frontier(300).unwrap().root(),
            tree_root(300, &mem).unwrap()
        );
    }
}
