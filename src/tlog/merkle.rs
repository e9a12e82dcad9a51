//! The RFC 6962 / 9162 Merkle tree over the audit stream: hashing, the writer's compact range,
//! and inclusion and consistency proofs (building them from stored subtree hashes, checking them
//! with nothing but the two roots).
//!
//! Building and checking follow RFC 9162 §2.1.3 and §2.1.4 literally, so any other
//! implementation (Go's `sumdb/tlog`, Cloudflare's `tlog_tiles`, sigstore) reads the same
//! proofs; `tests/tlog_interop.rs` checks that against Cloudflare's crate.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 hash: a leaf hash, an interior node, or a tree's root.
pub type Hash = [u8; 32];

/// The leaf hash of one entry: `SHA-256(0x00 || entry)` (RFC 6962 §2.1).
///
/// The 0x00 prefix keeps a leaf from ever being mistaken for an interior node (second
/// pre-image attacks on the tree).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)` (RFC 6962 §2.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()` of nothing (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Why a proof could not be built or did not check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The index or sizes do not describe a proof (index past the size, old size past the new).
    OutOfRange,
    /// The proof has the wrong number of hashes for these sizes.
    WrongLength,
    /// The hashes do not lead to the root (or roots) given.
    Mismatch,
    /// A stored subtree hash the proof needs is not available (missing or short tile).
    MissingHash {
        /// Height of the subtree (0 = a leaf).
        level: u8,
        /// Index of the subtree among those of its height.
        index: u64,
    },
    /// Reading stored hashes failed.
    Io(String),
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::OutOfRange => f.write_str("index or tree sizes out of range"),
            ProofError::WrongLength => f.write_str("proof has the wrong number of hashes"),
            ProofError::Mismatch => f.write_str("proof does not lead to the root hash"),
            ProofError::MissingHash { level, index } => {
                write!(
                    f,
                    "stored subtree hash missing (level {level}, index {index})"
                )
            }
            ProofError::Io(e) => write!(f, "reading stored hashes: {e}"),
        }
    }
}

impl std::error::Error for ProofError {}

/// The largest gap in leaf indexes [`Frontier::push_at`] fills.
pub const MAX_GAP: u64 = 1 << 20;

/// The compact range of an append-only tree: one hash per complete subtree on the right edge
/// (one per set bit of the size), so appending is O(log n) amortized (O(1) on average) and
/// the root is O(log n), whatever the size of the tree.
///
/// ```
/// use tracing_audit::tlog::merkle::{leaf_hash, node_hash, Frontier};
/// let mut f = Frontier::new();
/// f.push(leaf_hash(b"a"));
/// f.push(leaf_hash(b"b"));
/// assert_eq!(f.root(), node_hash(&leaf_hash(b"a"), &leaf_hash(b"b")));
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    /// Roots of the complete subtrees, largest (leftmost) first.
    hashes: Vec<Hash>,
}

impl fmt::Debug for Frontier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frontier")
            .field("size", &self.size)
            .field("root", &crate::trail::hex::to_hex(&self.root()))
            .finish()
    }
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// A frontier from its stored parts: the size and one hash per set bit of the size,
    /// largest subtree first; `None` when the count does not match.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Frontier> {
        (hashes.len() == size.count_ones() as usize).then_some(Frontier { size, hashes })
    }

    /// The subtree roots, largest first (what [`Frontier::from_parts`] takes back).
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_observed(leaf, |_, _, _| {});
    }

    /// Appends one leaf hash and reports every subtree it completes, leaf first:
    /// `(level, index, hash)` where the subtree covers leaves `index << level ..
    /// (index + 1) << level`. The tile writer keeps some of them.
    pub fn push_observed(&mut self, leaf: Hash, mut completed: impl FnMut(u8, u64, &Hash)) {
        let index = self.size;
        let mut hash = leaf;
        let mut level = 0u8;
        completed(0, index, &hash);
        // A set low bit of the old size means a complete subtree of that height waits on the
        // right edge: merge it with the new one, exactly like a binary carry.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                break; // unreachable: one hash per set bit
            };
            hash = node_hash(&left, &hash);
            level += 1;
            completed(level, index >> level, &hash);
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// Appends `leaf` as leaf number `index`, after the leaf of the empty entry (which no audit
    /// line can be) for every index skipped since the last one, so leaf index stays equal to
    /// the record's seq across a gap in the numbering. Refuses (false) an index already in the
    /// tree, or a gap larger than [`MAX_GAP`] (a forged seq must not cost hours of hashing).
    /// The writer, the verifier and the witness check share this rule.
    pub fn push_at(
        &mut self,
        index: u64,
        leaf: Hash,
        mut completed: impl FnMut(u8, u64, &Hash),
    ) -> bool {
        let size = self.size;
        if index < size || index - size > MAX_GAP {
            return false;
        }
        for _ in size..index {
            self.push_observed(leaf_hash(b""), &mut completed);
        }
        self.push_observed(leaf, completed);
        true
    }

    /// The root hash (RFC 6962 MTH of all leaves so far).
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// Where proofs read stored subtree hashes from (tiles on disk, or memory).
///
/// Whatever a reader returns is untrusted: a proof built from it must be checked against a
/// signed root before anyone relies on it.
pub trait HashReader {
    /// The hash of the complete subtree of height `level` covering leaves
    /// `index << level .. (index + 1) << level`.
    ///
    /// # Errors
    /// The hash is not stored ([`ProofError::MissingHash`]) or cannot be read.
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError>;
}

/// Every node of a tree kept in memory; for tests and small trees.
#[derive(Debug, Clone, Default)]
pub struct MemoryHashes {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryHashes {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one entry (hashing it as a leaf).
    pub fn push_entry(&mut self, entry: &[u8]) {
        let levels = &mut self.levels;
        self.frontier
            .push_observed(leaf_hash(entry), |level, index, hash| {
                let level = usize::from(level);
                if levels.len() <= level {
                    levels.resize(level + 1, Vec::new());
                }
                debug_assert_eq!(levels[level].len() as u64, index);
                levels[level].push(*hash);
            });
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
}

impl HashReader for MemoryHashes {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        self.levels
            .get(usize::from(level))
            .and_then(|l| usize::try_from(index).ok().and_then(|i| l.get(i)))
            .copied()
            .ok_or(ProofError::MissingHash { level, index })
    }
}

/// The largest power of two strictly below `n` (`n >= 2`): where RFC 6962 splits a tree.
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[lo:hi]) for a range that the RFC 6962 recursion produces (`lo` a multiple of a power of
/// two at least `hi - lo`), from complete subtrees only: O(log n) reads.
fn range_hash(lo: u64, hi: u64, r: &impl HashReader) -> Result<Hash, ProofError> {
    let n = hi - lo;
    if n.is_power_of_two() && lo % n == 0 {
        let level = n.trailing_zeros() as u8;
        return r.node(level, lo >> level);
    }
    let k = split(n);
    let left = range_hash(lo, lo + k, r)?;
    let right = range_hash(lo + k, hi, r)?;
    Ok(node_hash(&left, &right))
}

/// The root of the first `size` leaves, from stored hashes.
///
/// # Errors
/// A stored hash is missing or unreadable.
pub fn tree_root(size: u64, hashes: &impl HashReader) -> Result<Hash, ProofError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(0, size, hashes)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1 PATH),
/// the leaf's sibling first.
///
/// # Errors
/// `index >= size`, or a stored hash is missing or unreadable.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    hashes: &impl HashReader,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange);
    }
    let mut proof = Vec::new();
    // Walk down from the root, collecting the sibling at each split, then reverse: the RFC
    // lists the proof from the leaf up.
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            proof.push(range_hash(lo + k, hi, hashes)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(lo, lo + k, hashes)?);
            lo += k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof from the tree of `old_size` leaves to the tree of `new_size` leaves
/// (RFC 6962 §2.1.2 PROOF). Empty when `old_size` is 0 or equals `new_size`.
///
/// # Errors
/// `old_size > new_size`, or a stored hash is missing or unreadable.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    hashes: &impl HashReader,
) -> Result<Vec<Hash>, ProofError> {
    if old_size > new_size {
        return Err(ProofError::OutOfRange);
    }
    let mut proof = Vec::new();
    if old_size == 0 || old_size == new_size {
        return Ok(proof);
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled: each step descends into one half and records the
    // other; it ends where the old tree is a complete subtree of the current range.
    let (mut lo, mut hi, mut m) = (0u64, new_size, old_size);
    let mut whole_old_tree = true;
    loop {
        let n = hi - lo;
        if m == n {
            if !whole_old_tree {
                proof.push(range_hash(lo, hi, hashes)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(range_hash(lo + k, hi, hashes)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(lo, lo + k, hashes)?);
            lo += k;
            m -= k;
            whole_old_tree = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError::OutOfRange`] when `index >= size`, [`ProofError::WrongLength`] or
/// [`ProofError::Mismatch`] when the proof does not lead from `leaf` to `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange);
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): the tree of `new_size` leaves with root
/// `new_root` extends the tree of `old_size` leaves with root `old_root`.
///
/// # Errors
/// [`ProofError::OutOfRange`] when `old_size > new_size`, [`ProofError::WrongLength`] or
/// [`ProofError::Mismatch`] when the proof does not connect the two roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OutOfRange);
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    if old_size == 0 {
        // Every tree extends the empty one; RFC 9162 has no proof for it.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof.iter());
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (**first, **first);
    for c in rest {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != old_root || &sr != new_root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(n: u64) -> MemoryHashes {
        let mut t = MemoryHashes::new();
        for i in 0..n {
            t.push_entry(format!("entry {i}").as_bytes());
        }
        t
    }

    /// MTH straight from the RFC's recursive definition, as the reference.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn frontier_root_matches_the_recursive_definition() {
        let mut leaves = Vec::new();
        let mut f = Frontier::new();
        for i in 0..70u32 {
            assert_eq!(f.root(), reference_root(&leaves), "size {i}");
            let h = leaf_hash(&i.to_be_bytes());
            leaves.push(h);
            f.push(h);
        }
        let again = Frontier::from_parts(f.size(), f.hashes().to_vec());
        assert_eq!(again.as_ref(), Some(&f));
        assert!(Frontier::from_parts(3, vec![[0; 32]]).is_none());
    }

    #[test]
    fn every_proof_of_small_trees_verifies_and_a_wrong_one_does_not() {
        let t = tree(40);
        for size in 1..=40u64 {
            let root = tree_root(size, &t).unwrap();
            assert_eq!(root, tree(size).root());
            for i in 0..size {
                let leaf = t.node(0, i).unwrap();
                let p = inclusion_proof(i, size, &t).unwrap();
                verify_inclusion(i, size, &leaf, &p, &root).unwrap();
                assert!(verify_inclusion(i, size, &leaf, &p, &[0; 32]).is_err());
            }
            for old in 0..=size {
                let old_root = tree_root(old, &t).unwrap();
                let p = consistency_proof(old, size, &t).unwrap();
                verify_consistency(old, size, &old_root, &root, &p).unwrap();
                if old > 0 && old < size {
                    assert!(verify_consistency(old, size, &root, &root, &p).is_err());
                }
            }
        }
    }

    #[test]
    fn known_answer_for_the_empty_tree() {
        // RFC 6962 test vector: the empty tree's hash is SHA-256 of the empty string.
        assert_eq!(
            crate::trail::hex::to_hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
