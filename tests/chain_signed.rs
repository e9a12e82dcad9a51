//! Signed epoch seals through the real layer, file sink and writer thread; verified with `pk0`
//! alone.

mod chain_support;

use chain_support::*;
use std::fs;
use std::time::Duration;
use tracing_audit::chain::{ChainConfig, PublicKey, SigningState};
use tracing_audit::verify::{ProblemKind, Verifier};

fn signed(state: &std::path::Path) -> ChainConfig {
    ChainConfig::new()
        .signing(SigningState::load(state).unwrap())
        .epoch(Duration::from_secs(1))
        .checkpoint_every(25)
}

#[test]
fn a_signed_trail_written_across_restarts_verifies_with_pk0_only() {
    let d = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let state = keys.path().join("audit.signing");
    let pk0 = SigningState::generate(&state).unwrap();
    write_trail(d.path(), signed(&state), 0..40, 4 * 1024);
    assert_eq!(
        SigningState::load(&state).unwrap().epoch(),
        1,
        "the clean shutdown sealed epoch 0"
    );
    write_trail(d.path(), signed(&state), 40..80, 4 * 1024);
    let pk_file = keys.path().join("audit.pk0");
    fs::write(&pk_file, format!("{pk0}\n")).unwrap();
    let now = std::time::SystemTime::now();
    let r = every_way(|| {
        Verifier::new(d.path())
            .public_key(PublicKey::from_file(&pk_file).unwrap())
            .expect_current(true)
            .at(now)
    })
    .unwrap();
    assert!(r.intact(), "{r}");
    let seals = r.seals().unwrap();
    assert_eq!(seals.epochs_sealed(), 2, "{r}");
    assert_eq!(seals.unsealed(), 0, "{r}");
    assert_eq!(seals.verified().map(|v| v.1), r.last_seq());
    // Every record names its epoch.
    for f in trail_files(d.path()) {
        for l in read_lines(&f) {
            let v: serde_json::Value = serde_json::from_slice(&l).unwrap();
            assert!(v["epoch"].is_u64(), "{v}");
        }
    }
    // The state file holds the next epoch's seed only: the sealed ones are gone from disk.
    let text = fs::read_to_string(&state).unwrap();
    assert!(text.contains("\"epoch\":2"), "{text}");
}

#[test]
fn an_unsigned_trail_fails_with_a_public_key() {
    let d = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let pk0 = SigningState::generate(keys.path().join("s")).unwrap();
    write_trail(d.path(), keyed(), 0..10, 64 * 1024);
    let now = std::time::SystemTime::now();
    let r = every_way(|| {
        Verifier::new(d.path())
            .keys(tracing_audit::verify::Keys::from(key()))
            .public_key(pk0)
            .at(now)
    })
    .unwrap();
    assert!(
        r.problems()
            .iter()
            .any(|p| p.kind() == ProblemKind::Unverifiable),
        "{r}"
    );
}
