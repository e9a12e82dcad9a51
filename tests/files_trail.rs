//! A chained audit trail written through the real writer thread into rotating, compressed files,
//! across restarts and a crash mid-record, still verifies: the files' rotation, restart and
//! recovery keep the chain intact.

#![cfg(feature = "gzip")]

use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::sink::testing;
use tracing_audit::sink::{Clock, FileSink, Rotation};
use tracing_audit::verify::{Keys, Verifier};
use tracing_audit::Stream;

#[derive(Debug)]
struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

fn key() -> ChainKey {
    ChainKey::new("k1", b"a key only the auditors know")
}

/// Writes records `from..to` through a fresh sink, one clock minute apart, then shuts it down.
fn run(dir: &Path, clock: &Arc<ManualClock>, from: u64, to: u64) {
    let files = FileSink::new(dir)
        .rotation(Rotation::Hourly)
        .max_file_size(8 << 10)
        .compress(true)
        .clock(Arc::clone(clock) as Arc<dyn Clock>);
    let chain = ChainConfig::new().key(key());
    let (handle, guard) = testing::spawn_files(Stream::Audit, files, Some(&chain)).unwrap();
    for n in from..to {
        let record = format!(
            "{{\"stream\":\"audit\",\"action\":\"login\",\"n\":{n},\"pad\":\"{}\"}}",
            "x".repeat((n % 7 * 40) as usize)
        );
        testing::submit(&handle, record.as_bytes());
        if n % 50 == 49 {
            handle.sync().unwrap();
            clock.advance(Duration::from_secs(7 * 60));
        }
    }
    handle.sync().unwrap();
    drop(guard);
    let health = handle.health();
    assert_eq!(health.failed, 0, "{health:?}");
}

/// The `n` of every application record in the trail, in file order.
fn record_numbers(dir: &Path) -> Vec<u64> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("audit.20") && (n.ends_with(".jsonl") || n.ends_with(".gz")))
        .collect();
    names.sort();
    let mut numbers = Vec::new();
    for name in names {
        let mut text = String::new();
        let file = fs::File::open(dir.join(&name)).unwrap();
        if name.ends_with(".gz") {
            flate2::read::GzDecoder::new(file)
                .read_to_string(&mut text)
                .unwrap();
        } else {
            (&file).read_to_string(&mut text).unwrap();
        }
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(n) = v["n"].as_u64() {
                numbers.push(n);
            }
        }
    }
    numbers
}

fn verify(dir: &Path) -> tracing_audit::verify::Report {
    let report = report(dir);
    assert!(report.intact(), "{:#?}", report.problems());
    report
}

fn report(dir: &Path) -> tracing_audit::verify::Report {
    Verifier::new(dir)
        .prefix("audit")
        .keys(Keys::none().key(key()))
        .verify()
        .unwrap()
}

fn start() -> Arc<ManualClock> {
    // 2026-11-26T05:56:07Z
    Arc::new(ManualClock(Mutex::new(
        UNIX_EPOCH + Duration::from_secs(1_795_672_567),
    )))
}

#[test]
fn rotated_compressed_and_restarted_trail_verifies_intact() {
    let dir = tempfile::tempdir().unwrap();
    let clock = start();
    run(dir.path(), &clock, 0, 400);
    // The second run continues the newest file; hours passed meanwhile, so it rotates first.
    clock.advance(Duration::from_secs(3 * 3600));
    run(dir.path(), &clock, 400, 700);

    assert_eq!(record_numbers(dir.path()), (0..700).collect::<Vec<_>>());
    let report = verify(dir.path());
    assert!(report.files().len() > 10, "{:?}", report.files().len());
    // Every closed file was compressed; only the newest stays plain.
    let plain: Vec<_> = report
        .files()
        .iter()
        .filter(|f| f.name().ends_with(".jsonl"))
        .collect();
    assert_eq!(plain.len(), 1, "{plain:?}");
}

#[test]
fn restart_after_a_torn_record_verifies_intact_with_the_tear_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let clock = start();
    run(dir.path(), &clock, 0, 120);
    // What a crash in the middle of a write leaves behind.
    let current = dir.path().join("audit.current.jsonl");
    let torn = b"{\"stream\":\"audit\",\"n\":120,\"pa";
    let mut content = fs::read(&current).unwrap();
    content.extend_from_slice(torn);
    fs::write(&current, &content).unwrap();

    run(dir.path(), &clock, 120, 200);

    assert_eq!(record_numbers(dir.path()), (0..200).collect::<Vec<_>>());
    let report = verify(dir.path());
    assert!(!report.warnings().is_empty(), "the repair is reported");
    let aside: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(fs::read(&aside[0]).unwrap(), torn);
}

/// The side file through the real writer: it always holds the newest checkpoint, so putting an
/// older one back (to hide a cut tail) or deleting it is found; the untouched trail is intact.
#[test]
fn the_side_file_put_back_or_deleted_is_found_on_a_real_trail() {
    let dir = tempfile::tempdir().unwrap();
    let clock = start();
    let files = || {
        FileSink::new(dir.path())
            .rotation(Rotation::Hourly)
            .clock(Arc::clone(&clock) as Arc<dyn Clock>)
    };
    let chain = ChainConfig::new().key(key()).checkpoint_every(10);
    let (handle, guard) = testing::spawn_files(Stream::Audit, files(), Some(&chain)).unwrap();
    let side = dir.path().join("audit.checkpoint");
    let mut older = None;
    for n in 0..60u64 {
        let record = format!("{{\"stream\":\"audit\",\"action\":\"login\",\"n\":{n}}}");
        testing::submit(&handle, record.as_bytes());
        if n % 10 == 9 {
            handle.sync().unwrap();
            clock.advance(Duration::from_secs(5));
        }
        if n == 29 {
            older = Some(fs::read(&side).expect("a checkpoint was published"));
        }
    }
    handle.sync().unwrap();
    drop(guard);
    let older = older.unwrap();
    let newest = fs::read(&side).unwrap();
    assert_ne!(older, newest, "the writer replaced the side file");
    let found = report(dir.path());
    assert!(found.intact(), "{found}");

    fs::write(&side, &older).unwrap();
    let found = report(dir.path());
    assert!(
        !found.intact(),
        "an older side file put back went unnoticed"
    );
    assert!(
        found.to_string().contains("replaced with an older line"),
        "{found}"
    );

    fs::remove_file(&side).unwrap();
    let found = report(dir.path());
    assert!(!found.intact(), "a deleted side file went unnoticed");
    assert!(
        found.to_string().contains("side file is missing"),
        "{found}"
    );

    fs::write(&side, &newest).unwrap();
    assert!(report(dir.path()).intact());
}
