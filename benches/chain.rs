//! The chain's cost on the audit writer thread, per record and per epoch seal (issue 12).
//!
//! - `chain_record/*`: framing one ~300-byte record body: unkeyed (`sha256`), keyed
//!   (HMAC-SHA-256), and keyed with signed epoch seals (the record also names its epoch). The
//!   signature is per epoch, not per record, so the last two should be the same.
//! - `epoch_seal/sign`: one epoch seal: the seal record, its Ed25519 signature, deriving the
//!   next epoch's key and erasing the old one, in memory.
//! - `epoch_seal/sign_and_commit`: the same plus replacing the signing state file on disk
//!   (temporary file, fsync, rename, directory fsync), as the writer does once per epoch.
//!
//! `cargo bench --features _test-hooks,signed-seals --bench chain`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant, SystemTime};
use tracing_audit::chain::testing::Framer;
use tracing_audit::chain::{ChainConfig, ChainKey, SigningState};

const BODY: &[u8] = br#"{"ts":"2026-12-02T05:56:07.123456789Z","stream":"audit","level":"INFO","target":"audit","actor":"alice","action":"read","resource":"/reports/q3","outcome":"success","src_ip":"10.0.0.7","message":"document read","fields":{},"spans":[{"name":"request","fields":{"request_id":42,"user":"alice"}}]}"#;

fn key() -> ChainKey {
    ChainKey::new("k1", b"a key only the auditors know")
}

fn bench_record(c: &mut Criterion) {
    let now = SystemTime::now();
    let mut group = c.benchmark_group("chain_record");
    group.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.signing");
    SigningState::generate(&path).expect("keygen");
    let configs = [
        ("unkeyed", ChainConfig::new()),
        ("keyed", ChainConfig::new().key(key())),
        (
            "keyed_signed",
            ChainConfig::new()
                .key(key())
                .signing(SigningState::load(&path).expect("state"))
                .epoch(Duration::from_secs(60)),
        ),
    ];
    for (name, config) in configs {
        let mut out = Vec::with_capacity(1 << 20);
        let mut framer = Framer::new(&config, now, &mut out);
        group.bench_function(name, |b| {
            b.iter(|| {
                if out.len() > (1 << 20) - 1024 {
                    out.clear();
                }
                framer.frame(BODY, &mut out);
            })
        });
    }
    group.finish();
}

fn bench_seal(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.signing");
    SigningState::generate(&path).expect("keygen");
    let config = ChainConfig::new()
        .key(key())
        .signing(SigningState::load(&path).expect("state"))
        .epoch(Duration::from_secs(1));
    let mut now = SystemTime::now();
    let mut out = Vec::new();
    let mut framer = Framer::new(&config, now, &mut out);
    let mut group = c.benchmark_group("epoch_seal");
    group.throughput(Throughput::Elements(1));
    // One record per epoch before each seal (framed outside the timing), as a writer sees it.
    let mut seal = |commit: bool, iters: u64| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            out.clear();
            framer.frame(BODY, &mut out);
            now += Duration::from_secs(1);
            let start = Instant::now();
            assert!(framer.seal_epoch(now, &mut out));
            if commit {
                framer.commit_epoch().expect("state replaced");
            }
            total += start.elapsed();
        }
        total
    };
    group.bench_function("sign", |b| b.iter_custom(|iters| seal(false, iters)));
    group.sample_size(20);
    group.bench_function("sign_and_commit", |b| {
        b.iter_custom(|iters| seal(true, iters))
    });
    group.finish();
}

criterion_group!(benches, bench_record, bench_seal);
criterion_main!(benches);
