//! A SIGKILLed writer leaves at most a torn last line; the next run sets it aside, writes a
//! repair record and continues the chain, and the trail verifies with a warning.

mod chain_support;

use chain_support::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tracing_audit::verify::Keys;
use tracing_subscriber::prelude::*;

const CHILD: &str = "TRACING_AUDIT_CHAIN_CRASH_CHILD";

/// The child: writes audit events across several files, says on stdout once they are durable,
/// then waits to be killed. Killed while idle, its newest file ends with a complete record (a
/// kill between a seal and the next file's creation is a different state, covered by
/// `sink_restart_after_seal`); the parent then tears the tail as a kill mid-write would.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let (layer, guard) = tracing_audit::layer::AuditLayer::builder()
        .audit_to_files(tracing_audit::sink::FileSink::new(&dir).max_file_size(4096))
        .debug_to(std::io::sink)
        .chain(keyed())
        .build()
        .unwrap();
    let handle = guard.handle();
    let handle_subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(handle_subscriber, || {
        emit(0..55);
        handle.sync().unwrap();
        println!("written");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    });
}

#[test]
fn chain_continues_after_sigkill_with_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 && !line.contains("written") {
        line.clear();
    }
    assert!(line.contains("written"), "child did not start: {line:?}");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    // A kill in the middle of a write leaves part of a line; make sure this run has one.
    let newest = trail_files(dir.path()).pop().unwrap();
    let mut content = std::fs::read(&newest).unwrap();
    if !content.ends_with(b"\n") {
        content.truncate(
            content
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1),
        );
    }
    content.extend_from_slice(br#"{"seq":999999,"ts":"2026-11-26T05:56:07.1"#);
    std::fs::write(&newest, &content).unwrap();

    let torn = verify(dir.path(), &Keys::from(key())).unwrap();
    assert!(torn.intact(), "a torn last line is not tampering: {torn}");
    assert!(
        torn.warnings().iter().any(|w| w.message().contains("torn")),
        "{torn}"
    );

    write_trail(dir.path(), keyed(), 1000..1020, 4096);
    let r = verify(dir.path(), &Keys::from(key())).unwrap();
    assert!(r.intact(), "{r}");
    assert!(
        r.warnings().iter().any(|w| w.message().contains("repair")),
        "the repair record is reported: {r}"
    );
    let partials = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".partial")
        })
        .count();
    assert_eq!(partials, 1, "the torn bytes were set aside, not deleted");
    let repair = trail_files(dir.path())
        .iter()
        .flat_map(|f| read_lines(f))
        .map(|l| serde_json::from_slice::<serde_json::Value>(&l).unwrap())
        .find(|v| v["record"] == "repair")
        .expect("repair record");
    assert_eq!(repair["repair"], "torn_tail");
    assert!(repair["bytes"].as_u64().unwrap() > 0);
}
