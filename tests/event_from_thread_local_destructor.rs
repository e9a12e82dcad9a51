//! An event emitted from a thread-local's destructor, after the layer's own thread-locals are
//! gone, must neither panic nor abort the process. Run in a child process: a panic in a
//! thread-local destructor aborts.

use std::process::Command;
use tracing_subscriber::prelude::*;

struct LogsOnDrop;

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        tracing::info!(target: "audit", actor = "worker", action = "shutdown", outcome = "success");
        tracing::warn!("worker thread going away");
    }
}

thread_local! {
    static LOGS_ON_DROP: LogsOnDrop = const { LogsOnDrop };
}

fn child(dir: &str) {
    let (layer, guard) = tracing_audit::layer::AuditLayer::builder()
        .audit_to_files(tracing_audit::sink::FileSink::new(format!("{dir}/audit")))
        .debug_to_files(tracing_audit::sink::FileSink::new(format!("{dir}/debug")))
        .debug_filter("trace")
        .build()
        .unwrap();
    tracing_subscriber::registry().with(layer).init();
    let worker = std::thread::spawn(|| {
        // Registered first, destroyed last: after the layer's caches, initialised below.
        LOGS_ON_DROP.with(|_| {});
        tracing::info!(target: "audit", actor = "worker", action = "start", outcome = "success");
        tracing::debug!("worker running");
    });
    worker
        .join()
        .expect("the worker thread ended without a panic");
    guard.handle().sync().unwrap();
    drop(guard);
    println!("CHILD OK");
}

#[test]
fn an_event_from_a_thread_local_destructor_does_not_panic_or_abort() {
    if let Ok(dir) = std::env::var("TLS_DTOR_CHILD_DIR") {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_event_from_a_thread_local_destructor_does_not_panic_or_abort",
            "--nocapture",
        ])
        .env("TLS_DTOR_CHILD_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    assert!(stdout.contains("CHILD OK"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let audit: String = std::fs::read_dir(dir.path().join("audit"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .collect();
    assert!(audit.contains("\"action\":\"start\""), "{audit}");
}
