//! Export throughput: a chained audit trail of about 1 GB (rotated files, closed ones gzipped)
//! is written through the layer, then exported to OCSF and to ECS into a discarding writer.
//!
//! ```text
//! cargo bench --bench export --features export            # 1 GiB trail
//! EXPORT_BENCH_MIB=64 cargo bench --bench export --features export
//! ```
//!
//! Prints records/s and MB/s (of uncompressed trail) for each format; results go into
//! docs/benchmarks.md.

use std::time::Instant;
use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::export::{export_trail, ExportOptions, Format};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::{Durability, FileSink, Rotation};
use tracing_subscriber::prelude::*;

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let mib: u64 = std::env::var("EXPORT_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("audit");

    let started = Instant::now();
    let (records, bytes) = write_trail(&dir, mib << 20);
    let files = std::fs::read_dir(&dir).expect("trail").count();
    let gz = std::fs::read_dir(&dir)
        .expect("trail")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".gz"))
        })
        .count();
    println!(
        "trail: {records} audit records, {:.0} MB uncompressed, {files} files ({gz} gzipped), written in {:.1} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    for format in [Format::Ocsf, Format::Ecs] {
        let start = Instant::now();
        let summary =
            export_trail(&dir, ExportOptions::new(format), std::io::sink()).expect("export");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "export {format}: {} records in {secs:.2} s = {:.0} records/s, {:.1} MB/s of trail",
            summary.exported,
            summary.exported as f64 / secs,
            bytes as f64 / 1e6 / secs
        );
    }
}

/// Writes audit records until the trail holds `target` bytes; returns (records, bytes).
fn write_trail(dir: &std::path::Path, target: u64) -> (u64, u64) {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(
            FileSink::new(dir)
                .rotation(Rotation::Never)
                .max_file_size(64 << 20)
                .compress(true)
                .durability(Durability::Never),
        )
        .debug_to(std::io::sink)
        .chain(ChainConfig::new().key(ChainKey::new("k1", b"bench chain key, 32 bytes long..")))
        .build()
        .expect("layer builds");
    let handle = guard.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut records = 0u64;
    let mut wanted = u64::MAX;
    tracing::subscriber::with_default(subscriber, || {
        let actions = [
            "login",
            "document.read",
            "document.update",
            "logout",
            "approve",
        ];
        let outcomes = ["success", "success", "denied", "failure"];
        while records < wanted {
            for i in 0..10_000u64 {
                let n = records + i;
                let _s = tracing::info_span!("request", request_id = n, src_ip = "203.0.113.7")
                    .entered();
                tracing::info!(
                    target: "audit",
                    actor = "alice",
                    action = actions[(n % 5) as usize],
                    resource = %format!("/documents/{}", n % 1000),
                    outcome = outcomes[(n % 4) as usize],
                    rows = n % 97,
                    "document access"
                );
            }
            records += 10_000;
            if wanted == u64::MAX {
                // Calibrate on the first batch: still one plain file.
                handle.sync().expect("sync");
                let on_disk: u64 = std::fs::read_dir(dir)
                    .expect("trail")
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum();
                wanted = target / (on_disk / records).max(1);
            }
        }
    });
    drop(guard);
    // The exact uncompressed size, read back through the trail reader.
    let mut bytes = 0u64;
    tracing_audit::trail::Trail::open(dir, None)
        .expect("trail")
        .for_each_line(|_, line| {
            bytes += line.len() as u64 + 1;
            std::ops::ControlFlow::Continue(())
        })
        .expect("read back");
    (records, bytes)
}
