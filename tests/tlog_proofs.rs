//! Property tests of the Merkle proofs: for random tree sizes, every inclusion and consistency
//! proof verifies, and any single-byte change to the proof, the leaf or either root fails it.

use proptest::prelude::*;
use tracing_audit::tlog::merkle::{
    consistency_proof, inclusion_proof, tree_root, verify_consistency, verify_inclusion,
    HashReader, MemoryHashes,
};

fn tree(n: u64) -> MemoryHashes {
    let mut t = MemoryHashes::new();
    for i in 0..n {
        t.push_entry(format!("{{\"seq\":{i}}}").as_bytes());
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn inclusion_proofs_verify_and_any_changed_byte_fails(
        size in 1u64..3000,
        at in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let t = tree(size);
        let index = at.index(size as usize) as u64;
        let root = tree_root(size, &t).unwrap();
        let leaf = t.node(0, index).unwrap();
        let proof = inclusion_proof(index, size, &t).unwrap();
        prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_ok());
        // One byte of the proof, the leaf or the root changed.
        let total = proof.len() * 32 + 64;
        let b = byte.index(total);
        let (mut proof2, mut leaf2, mut root2) = (proof.clone(), leaf, root);
        match b {
            b if b < proof.len() * 32 => proof2[b / 32][b % 32] ^= 1 << bit,
            b if b < proof.len() * 32 + 32 => leaf2[b % 32] ^= 1 << bit,
            b => root2[b % 32] ^= 1 << bit,
        }
        prop_assert!(verify_inclusion(index, size, &leaf2, &proof2, &root2).is_err());
        // A proof with a hash missing or added fails too.
        if !proof.is_empty() {
            prop_assert!(verify_inclusion(index, size, &leaf, &proof[1..], &root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_any_changed_byte_fails(
        size in 2u64..3000,
        at in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let t = tree(size);
        let old = 1 + at.index(size as usize - 1) as u64;
        let (old_root, new_root) = (tree_root(old, &t).unwrap(), tree_root(size, &t).unwrap());
        let proof = consistency_proof(old, size, &t).unwrap();
        prop_assert!(verify_consistency(old, size, &old_root, &new_root, &proof).is_ok());
        if old == size {
            return Ok(());
        }
        let total = proof.len() * 32 + 64;
        let b = byte.index(total);
        let (mut proof2, mut old2, mut new2) = (proof.clone(), old_root, new_root);
        match b {
            b if b < proof.len() * 32 => proof2[b / 32][b % 32] ^= 1 << bit,
            b if b < proof.len() * 32 + 32 => old2[b % 32] ^= 1 << bit,
            b => new2[b % 32] ^= 1 << bit,
        }
        prop_assert!(verify_consistency(old, size, &old2, &new2, &proof2).is_err());
    }
}
