//! Verification throughput: `verify` over a real trail written through the layer
//! (50,000 audit records, size-rotated files), streaming on every core (the default), streaming
//! on one thread, and the reference check (`streaming(false)`). Figures in docs/benchmarks.md;
//! each group also prints the verifier's own memory accounting (`Report::stats`).
//!
//! With `--features signed-seals`: the same trail signed (1-second epochs), verified with the
//! public key alone (strict walk plus the chain walk), and the cost of one epoch seal
//! (signature and key evolution, without the fsyncs) on the writer thread.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_audit::verify::{verify, Keys, Verifier};
use tracing_subscriber::prelude::*;

const RECORDS: u64 = 50_000;

fn trail(
    chain: tracing_audit::chain::ChainConfig,
    dir: tempfile::TempDir,
) -> (tempfile::TempDir, u64) {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(dir.path().join("audit")).max_file_size(4 << 20))
        .debug_to(std::io::sink)
        .debug_filter("off")
        .chain(chain)
        .build()
        .expect("layer");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..RECORDS {
            let _span = tracing::info_span!("request", request_id = i, user = "alice").entered();
            tracing::info!(target: "audit", actor = "alice", action = "read", resource = "/reports/q3", outcome = "success", "document read");
        }
    });
    drop(guard);
    let bytes = std::fs::read_dir(dir.path().join("audit"))
        .expect("trail dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    (dir, bytes)
}

fn bench_verify(c: &mut Criterion) {
    let (dir, bytes) = trail(
        tracing_audit::chain::ChainConfig::new(),
        tempfile::tempdir().expect("temp dir"),
    );
    let audit = dir.path().join("audit");
    let mut group = c.benchmark_group("verify");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("50k_records_unkeyed", |b| {
        b.iter(|| {
            let report = verify(&audit, &Keys::none()).expect("verify runs");
            assert!(report.intact());
            assert!(report.stats().streamed());
        })
    });
    for (name, threads, streaming) in [
        ("50k_records_unkeyed_1_thread", 1, true),
        ("50k_records_unkeyed_reference", 1, false),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = Verifier::new(&audit)
                    .threads(threads)
                    .streaming(streaming)
                    .verify()
                    .expect("verify runs");
                assert!(report.intact());
            })
        });
    }
    group.finish();
    for streaming in [true, false] {
        let r = Verifier::new(&audit)
            .streaming(streaming)
            .verify()
            .expect("verify runs");
        eprintln!(
            "verify (streaming: {streaming}): {} records, {} files, peak buffered {} bytes, {} threads",
            r.records(),
            r.files().len(),
            r.stats().peak_buffered_bytes(),
            r.stats().threads()
        );
    }
}

#[cfg(feature = "signed-seals")]
fn bench_signed(c: &mut Criterion) {
    use tracing_audit::chain::{ChainConfig, SigningState};
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("audit.signing");
    let pk0 = SigningState::generate(&state).expect("keygen");
    let chain = ChainConfig::new()
        .signing(SigningState::load(&state).expect("state"))
        .epoch(Duration::from_secs(1));
    let (dir, bytes) = trail(chain, dir);
    let audit = dir.path().join("audit");
    let mut group = c.benchmark_group("verify_signed");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(bytes));
    for (name, threads, streaming) in [
        ("50k_records_public_key", 0, true),
        ("50k_records_public_key_1_thread", 1, true),
        ("50k_records_public_key_reference", 1, false),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut v = Verifier::new(&audit).public_key(pk0).streaming(streaming);
                if threads > 0 {
                    v = v.threads(threads);
                }
                let report = v.verify().expect("verify runs");
                assert!(report.intact(), "{report}");
                assert_eq!(report.stats().streamed(), streaming);
                assert!(report.seals().expect("seals").epochs_sealed() >= 1);
            })
        });
    }
    group.finish();
}

#[cfg(not(feature = "signed-seals"))]
fn bench_signed(_: &mut Criterion) {}

criterion_group!(benches, bench_verify, bench_signed);
criterion_main!(benches);
