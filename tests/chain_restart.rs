//! The chain continues across restarts: a second run appends to the same trail.

mod chain_support;

use chain_support::*;
use tracing_audit::verify::Keys;

#[test]
fn chain_continues_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..30, 4096);
    let first = verify(dir.path(), &Keys::from(key())).unwrap();
    assert!(first.intact(), "{first}");
    write_trail(dir.path(), keyed(), 30..60, 4096);
    let r = verify(dir.path(), &Keys::from(key())).unwrap();
    assert!(r.intact(), "{r}");
    assert!(r.last_seq() > first.last_seq());
    assert_eq!(r.first_seq(), Some(0));
    // One chain: a single genesis, and sequence numbers without gaps or repeats.
    let mut seqs = Vec::new();
    let mut genesis = 0;
    for f in trail_files(dir.path()) {
        for l in read_lines(&f) {
            let v: serde_json::Value = serde_json::from_slice(&l).unwrap();
            seqs.push(v["seq"].as_u64().unwrap());
            genesis += usize::from(v["record"] == "genesis");
        }
    }
    assert_eq!(genesis, 1);
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
}
