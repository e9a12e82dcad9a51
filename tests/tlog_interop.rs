//! Our Merkle proofs, tiles, signed notes and checkpoints, checked by an implementation that is
//! not ours: Cloudflare's `signed_note` and `tlog_tiles` crates (ports of Go's
//! `golang.org/x/mod/sumdb/note` and `sumdb/tlog`). If these pass, the formats are the C2SP
//! ones, not look-alikes.

use signed_note::{Note as CfNote, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::{
    check_record, check_tree, prove_record, prove_tree, split_stored_hash_index, Hash as CfHash,
    HashReader as CfHashReader, Tile, TileHashReader, TileReader as CfTileReader,
};
use tracing_audit::tlog::checkpoint::Checkpoint;
use tracing_audit::tlog::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, tree_root, verify_consistency, verify_inclusion,
    Frontier, Hash, HashReader, MemoryHashes,
};
use tracing_audit::tlog::note::{Note, Signer, Verifier};
use tracing_audit::tlog::tiles::{TileReader, TileWriter};

fn cf(h: &Hash) -> CfHash {
    CfHash(*h)
}

/// Cloudflare's reader of stored hashes (Go's "stored hash index" numbering) over our tree.
struct Stored<'a>(&'a MemoryHashes);

impl CfHashReader for Stored<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<CfHash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                let (level, n) = split_stored_hash_index(i);
                self.0
                    .node(level, n)
                    .map(CfHash)
                    .map_err(|_| tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

fn tree(n: u64) -> MemoryHashes {
    let mut t = MemoryHashes::new();
    for i in 0..n {
        t.push_entry(format!("{{\"seq\":{i},\"actor\":\"a{i}\"}}").as_bytes());
    }
    t
}

#[test]
fn our_proofs_pass_their_checks_and_theirs_pass_ours() {
    let t = tree(1000);
    for size in [1u64, 2, 3, 7, 8, 9, 255, 256, 257, 511, 999, 1000] {
        let root = tree_root(size, &t).unwrap();
        for index in [0, size / 2, size - 1] {
            let leaf = t.node(0, index).unwrap();
            let ours = inclusion_proof(index, size, &t).unwrap();
            let cf_ours: Vec<CfHash> = ours.iter().map(cf).collect();
            check_record(&cf_ours, size, cf(&root), index, cf(&leaf))
                .unwrap_or_else(|e| panic!("tlog_tiles rejects our proof {index}/{size}: {e}"));
            let theirs = prove_record(size, index, &Stored(&t)).unwrap();
            let theirs: Vec<Hash> = theirs.iter().map(|h| h.0).collect();
            assert_eq!(theirs, ours, "inclusion {index}/{size}");
            verify_inclusion(index, size, &leaf, &theirs, &root).unwrap();
        }
        for old in [1u64, size / 3, size - 1] {
            if old == 0 || old >= size {
                continue;
            }
            let old_root = tree_root(old, &t).unwrap();
            let ours = consistency_proof(old, size, &t).unwrap();
            let cf_ours: Vec<CfHash> = ours.iter().map(cf).collect();
            check_tree(&cf_ours, size, cf(&root), old, cf(&old_root))
                .unwrap_or_else(|e| panic!("tlog_tiles rejects our proof {old}->{size}: {e}"));
            let theirs: Vec<Hash> = prove_tree(size, old, &Stored(&t))
                .unwrap()
                .iter()
                .map(|h| h.0)
                .collect();
            assert_eq!(theirs, ours, "consistency {old}->{size}");
            verify_consistency(old, size, &old_root, &root, &theirs).unwrap();
        }
    }
}

/// Cloudflare's tile reader over our tile files: tile `L/N` is a slice of our file `L`.
struct OurTiles(std::path::PathBuf);

impl CfTileReader for OurTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                assert!(!t.is_data());
                let bytes = std::fs::read(self.0.join(t.level().to_string()))
                    .map_err(|_| tlog_tiles::Error::IndexesNotInTree)?;
                let start = (t.level_index() * 256 * 32) as usize;
                let end = start + t.width() as usize * 32;
                bytes
                    .get(start..end)
                    .map(<[u8]>::to_vec)
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }

    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

#[test]
fn our_tile_files_are_read_and_authenticated_by_their_tile_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = TileWriter::open(dir.path()).unwrap();
    let mut f = Frontier::new();
    let size = 70_000u64;
    for i in 0..size {
        f.push_observed(leaf_hash(&i.to_be_bytes()), |l, _, h| w.completed(l, h));
    }
    w.flush().unwrap();
    let root = f.root();
    let reader = OurTiles(dir.path().to_owned());
    let hashes = TileHashReader::new(size, cf(&root), &reader);
    for index in [0u64, 255, 256, 65_535, 69_999] {
        let theirs = prove_record(size, index, &hashes)
            .unwrap_or_else(|e| panic!("their reader refuses our tiles at {index}: {e}"));
        let ours = inclusion_proof(index, size, &TileReader::open(dir.path())).unwrap();
        assert_eq!(theirs.iter().map(|h| h.0).collect::<Vec<_>>(), ours);
    }
    let theirs = prove_tree(size, 1000, &hashes).unwrap();
    let ours = consistency_proof(1000, size, &TileReader::open(dir.path())).unwrap();
    assert_eq!(theirs.iter().map(|h| h.0).collect::<Vec<_>>(), ours);
}

#[test]
fn our_signed_checkpoint_is_verified_by_signed_note_and_theirs_by_us() {
    let signer = Signer::from_seed("host.example/audit", &[42; 32]).unwrap();
    let t = tree(12);
    let cp = Checkpoint {
        origin: "host.example/audit".into(),
        size: t.size(),
        root: t.root(),
        extensions: vec![],
    };
    let mut note = Note::new(&cp.body()).unwrap();
    note.add_signature(signer.sign(note.body()));
    let text = note.render();

    // Our vkey parsed by them, our note verified by them.
    let v = StandardVerifier::new(&signer.verifier().render()).unwrap();
    let parsed = CfNote::from_bytes(text.as_bytes()).unwrap();
    let (ok, _) = parsed
        .verify(&VerifierList::new(vec![Box::new(v)]))
        .expect("signed_note verifies our checkpoint");
    assert_eq!(ok.len(), 1);
    let theirs = tlog_tiles::Checkpoint::from_bytes(parsed.text()).unwrap();
    assert_eq!(theirs.size(), cp.size);
    assert_eq!(theirs.hash().0, cp.root);

    // Our skey in Go's form is accepted by their signer; their signature verifies with us.
    let cf_signer = StandardSigner::new(&signer.render_secret()).unwrap();
    let mut cf_note = CfNote::new(cp.body().as_bytes(), &[]).unwrap();
    cf_note.add_sigs(&[&cf_signer]).unwrap();
    let back = Note::parse(std::str::from_utf8(&cf_note.to_bytes()).unwrap()).unwrap();
    assert_eq!(back.body(), cp.body());
    back.verify(&[signer.verifier()]).unwrap();
    assert_eq!(
        back.render(),
        text,
        "same key, same text: same signature (Ed25519)"
    );

    // A changed byte fails with them too.
    let forged = text.replacen("\n12\n", "\n13\n", 1);
    let forged = CfNote::from_bytes(forged.as_bytes()).unwrap();
    let v = StandardVerifier::new(
        &Verifier::parse(&signer.verifier().render())
            .unwrap()
            .render(),
    )
    .unwrap();
    assert!(forged
        .verify(&VerifierList::new(vec![Box::new(v)]))
        .is_err());
}
