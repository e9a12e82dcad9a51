//! The flood claims through the real layer and file sinks: every audit event emitted is a line
//! on disk; every debug event is either a line on disk or counted as dropped, and the drops are
//! reported in the debug stream itself.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use tracing::Dispatch;
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_audit::Stream;
use tracing_subscriber::prelude::*;

const THREADS: u64 = 4;
const EVENTS: u64 = 20_000;

/// (records, drops reported in-stream) over the plain and gzipped files of one sink directory.
fn read_stream(dir: &Path) -> (u64, u64) {
    let (mut records, mut reported) = (0, 0);
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains(".current.") {
            continue;
        }
        let file = fs::File::open(&path).unwrap();
        let reader: Box<dyn Read> = if name.ends_with(".jsonl.gz") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else if name.ends_with(".jsonl") {
            Box::new(file)
        } else {
            continue;
        };
        for line in BufReader::new(reader).lines() {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if v.get("record").is_some() {
                continue; // the chain's own lines
            }
            if v["target"] == "tracing_audit::sink" {
                assert_eq!(v["level"], "WARN");
                reported += v["fields"]["dropped"].as_u64().unwrap();
            } else {
                records += 1;
            }
        }
    }
    (records, reported)
}

#[test]
fn flood_through_the_layer_loses_no_audit_event_and_accounts_for_every_debug_event() {
    let dir = tempfile::tempdir().unwrap();
    let (audit_dir, debug_dir) = (dir.path().join("audit"), dir.path().join("debug"));
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(
            FileSink::new(&audit_dir)
                .max_file_size(256 << 10)
                .compress(true),
        )
        .debug_to_files(FileSink::new(&debug_dir))
        // A tiny debug queue forces drops; a small audit queue forces back-pressure.
        .audit(|a| a.queue_capacity(4096))
        .debug(|d| d.queue_capacity(2048))
        .debug_filter("info")
        .build()
        .unwrap();
    let handle = guard.handle();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                let _default = tracing::dispatcher::set_default(&dispatch);
                for request_id in (t..EVENTS).step_by(THREADS as usize) {
                    let span = tracing::info_span!("request", request_id, user = "alice");
                    let _entered = span.enter();
                    tracing::info!(target: "audit", actor = "alice", action = "read", resource = "doc", outcome = "success");
                    if request_id % 2 == 1 {
                        tracing::info!(target: "flood", n = request_id, "debug detail");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    drop(guard);

    let (audit_records, _) = read_stream(&audit_dir);
    assert_eq!(audit_records, EVENTS, "AUDIT is lossless");
    let audit = handle.health(Stream::Audit);
    assert_eq!((audit.written, audit.dropped, audit.failed), (EVENTS, 0, 0));

    let (debug_records, reported) = read_stream(&debug_dir);
    let debug = handle.health(Stream::Debug);
    assert!(debug.dropped > 0, "the tiny debug queue must drop");
    assert_eq!(debug_records + debug.dropped, EVENTS / 2);
    assert_eq!(
        reported, debug.dropped,
        "every drop is reported in the debug stream"
    );
}
