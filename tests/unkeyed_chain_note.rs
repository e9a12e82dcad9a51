//! The default audit chain (unkeyed SHA-256) only detects accidental damage; the layer says so
//! where the application can show it, and stops saying so once a key is configured.

use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::layer::AuditLayer;

#[test]
fn an_unkeyed_chain_comes_with_a_note_and_a_keyed_one_without() {
    let (_layer, guard) = AuditLayer::builder()
        .audit_to(std::io::sink)
        .debug_to(std::io::sink)
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    let notes = guard.handle().notes().to_vec();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("no key") && n.contains("accidental damage")),
        "{notes:?}"
    );
    drop(guard);

    let (_layer, guard) = AuditLayer::builder()
        .audit_to(std::io::sink)
        .debug_to(std::io::sink)
        .chain(ChainConfig::new().key(ChainKey::new("k1", b"a long random secret")))
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    assert!(guard.handle().notes().is_empty());
}
