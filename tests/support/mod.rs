//! Shared test fixtures: an in-memory `MakeWriter` and a layer wired to two of them.
#![allow(dead_code)]

pub mod canaries;

use std::io;
use std::sync::{Arc, Mutex};
use tracing_audit::layer::{AuditGuard, AuditHandle, AuditLayer, AuditLayerBuilder};
use tracing_subscriber::fmt::MakeWriter;

/// Collects everything written to it.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.bytes()).expect("output is UTF-8")
    }

    /// Every line parsed as JSON; panics on a line that is not exactly one JSON object.
    pub fn records(&self) -> Vec<serde_json::Value> {
        let text = self.text();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "output ends mid-line"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
            .collect()
    }
}

/// A `Write` over one shared file handle (`&File` is `Write`), for `MakeWriter` closures.
pub struct SharedFile(pub Arc<std::fs::File>);

impl io::Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> CaptureWriter {
        CaptureWriter(self.0.clone())
    }
}

/// A layer writing to two captures, configured further by `configure`.
pub struct Harness {
    pub audit: Capture,
    pub debug: Capture,
    pub handle: AuditHandle,
    guard: Option<AuditGuard>,
    dispatch: tracing::Dispatch,
}

impl Harness {
    pub fn new(configure: impl FnOnce(AuditLayerBuilder) -> AuditLayerBuilder) -> Harness {
        Self::with_registry(configure, |layer| {
            use tracing_subscriber::prelude::*;
            tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
        })
    }

    /// Like `new`, with control over how the subscriber is assembled around the layer.
    pub fn with_registry(
        configure: impl FnOnce(AuditLayerBuilder) -> AuditLayerBuilder,
        assemble: impl FnOnce(AuditLayer<tracing_subscriber::Registry>) -> tracing::Dispatch,
    ) -> Harness {
        let audit = Capture::default();
        let debug = Capture::default();
        let builder = AuditLayer::builder()
            .audit_to(audit.clone())
            .debug_to(debug.clone())
            .debug_filter("trace");
        let (layer, guard) = configure(builder).build().expect("layer builds");
        let handle = guard.handle();
        let dispatch = assemble(layer);
        Harness {
            audit,
            debug,
            handle,
            guard: Some(guard),
            dispatch,
        }
    }

    /// The subscriber, to install on other threads.
    pub fn dispatch(&self) -> tracing::Dispatch {
        self.dispatch.clone()
    }

    /// Runs `f` with this harness's subscriber as the default.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// Flushes both streams (drops the guard): outputs are complete afterwards.
    pub fn finish(&mut self) {
        drop(self.guard.take());
    }

    /// The audit stream's event records, without the chain's control records (genesis,
    /// checkpoint, seal, repair).
    pub fn audit_records(&mut self) -> Vec<serde_json::Value> {
        self.finish();
        self.audit
            .records()
            .into_iter()
            .filter(|r| r.get("record").is_none())
            .collect()
    }

    pub fn debug_records(&mut self) -> Vec<serde_json::Value> {
        self.finish();
        self.debug.records()
    }
}

/// Builds (if needed) and runs `examples/quickstart.rs` writing into `dir`, with this test's
/// features and profile so that the library already built for the test is reused.
pub fn run_quickstart(dir: &std::path::Path) {
    let mut features = vec!["cli"];
    if cfg!(feature = "gzip") {
        features.push("gzip");
    }
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args([
        "run",
        "--quiet",
        "--example",
        "quickstart",
        "--no-default-features",
    ])
    .arg(format!("--features={}", features.join(",")));
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let status = cmd
        .arg("--")
        .arg(dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AUDIT_CHAIN_KEY")
        .env_remove("AUDIT_HASH_KEY")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("cargo run --example quickstart");
    assert!(status.success());
}

/// A child process's stdout, line by line, through a channel (so a test can wait for a line
/// with a timeout instead of blocking on the pipe).
pub fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let out = std::io::BufReader::new(child.stdout.take().expect("stdout is piped"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
