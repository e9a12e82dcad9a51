//! Verification throughput: `verify` over a real trail written through the layer
//! (50,000 audit records, size-rotated files). Figures quoted in docs/verification.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use tracing_audit::sink::FileSink;
use tracing_audit::verify::{verify, Keys};
use tracing_audit::AuditLayer;
use tracing_subscriber::prelude::*;

const RECORDS: u64 = 50_000;

fn trail() -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(dir.path().join("audit")).max_file_size(4 << 20))
        .debug_to(std::io::sink)
        .debug_filter("off")
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
    let (dir, bytes) = trail();
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
        })
    });
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
