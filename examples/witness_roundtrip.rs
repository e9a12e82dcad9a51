//! Witness round trip per checkpoint on loopback: `add-checkpoint` with a consistency proof,
//! answered by a real witness (HTTP over 127.0.0.1, proof check, Ed25519 cosignature, state
//! persisted with fsync and rename before the answer), the cosignature checked by the client.
//!
//! `cargo run --release --example witness_roundtrip --features tlog [-- N] 2>/dev/null` (the
//! witness logs one line per request on stderr); `TMPDIR=/dev/shm` keeps its state in memory.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing_audit::tlog::checkpoint::Checkpoint;
use tracing_audit::tlog::cosignature::Cosigner;
use tracing_audit::tlog::merkle::MemoryHashes;
use tracing_audit::tlog::note::{Note, Signer};
use tracing_audit::tlog::submit::{Outcome, WitnessEndpoint, WitnessLink};
use tracing_audit::tlog::witness::{LogConfig, Witness};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let state = tempfile::tempdir().expect("tempdir");
    let log = Signer::generate("bench.example/audit").expect("log key");
    let cosigner = Cosigner::generate("bench.example/witness").expect("witness key");
    let vkey = cosigner.verifier().vkey();
    let config = LogConfig::new("bench.example/audit", vec![log.verifier()]);
    let witness = Arc::new(Witness::open(state.path(), cosigner, vec![config]).expect("witness"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || witness.serve(listener));

    let tree = Arc::new(std::sync::RwLock::new(MemoryHashes::new()));
    struct Shared(Arc<std::sync::RwLock<MemoryHashes>>);
    impl tracing_audit::tlog::merkle::HashReader for Shared {
        fn node(
            &self,
            level: u8,
            index: u64,
        ) -> Result<tracing_audit::tlog::merkle::Hash, tracing_audit::tlog::merkle::ProofError>
        {
            self.0.read().expect("lock").node(level, index)
        }
    }
    let reader = Shared(Arc::clone(&tree));
    let mut link = WitnessLink::new(WitnessEndpoint::new(&url, &vkey).expect("endpoint"), None);
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        {
            let mut t = tree.write().expect("lock");
            for j in 0..100 {
                t.push_entry(format!("{{\"seq\":{},\"n\":{i}}}", i * 100 + j).as_bytes());
            }
        }
        let (size, root) = {
            let t = tree.read().expect("lock");
            (t.size(), t.root())
        };
        let cp = Checkpoint {
            origin: "bench.example/audit".into(),
            size,
            root,
            extensions: vec![],
        };
        let mut note = Note::new(&cp.body()).expect("note");
        note.add_signature(log.sign(note.body()));
        let start = Instant::now();
        let outcome = link.submit(&note, &cp, &reader, Duration::from_secs(10));
        times.push(start.elapsed());
        assert!(matches!(outcome, Outcome::Cosigned(_)), "{outcome:?}");
    }
    times.sort();
    let pick = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{n} checkpoints (100 records apart, tree up to {} leaves): median {:?}, p99 {:?}, max {:?}",
        n * 100,
        pick(0.5),
        pick(0.99),
        times[times.len() - 1]
    );
}
