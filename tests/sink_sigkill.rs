//! A child process killed with SIGKILL in the middle of a flood: every record that `sync()`
//! acknowledged before the kill is in the file, and at most the last line is torn.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tracing_audit::sink::testing;
use tracing_audit::Stream;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

const CHILD_ENV: &str = "TRACING_AUDIT_SIGKILL_CHILD";

struct SharedFile(Arc<File>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

fn child(path: &str) {
    let file = Arc::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap(),
    );
    let make_writer = BoxMakeWriter::new(move || SharedFile(Arc::clone(&file)));
    let (handle, _guard) =
        testing::spawn_writer(Stream::Audit, make_writer, 64 << 10, Duration::from_secs(5))
            .unwrap();
    // A second thread floods without syncing, so the kill lands amid unacknowledged writes.
    let flooder = handle.clone();
    std::thread::spawn(move || {
        for i in 0u64.. {
            testing::submit(&flooder, format!("{{\"bg\":{i}}}").as_bytes());
        }
    });
    let stdout = io::stdout();
    for i in 0u64.. {
        testing::submit(
            &handle,
            format!("{{\"i\":{i},\"pad\":\"abcdefghij\"}}").as_bytes(),
        );
        if i % 25 == 24 {
            handle.sync().unwrap();
            let mut out = stdout.lock();
            writeln!(out, "ACK {i}").unwrap();
            out.flush().unwrap();
        }
    }
}

#[test]
fn records_acknowledged_by_sync_survive_sigkill() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "records_acknowledged_by_sync_survive_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked: Option<u64> = None;
    let reader = BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            let n: u64 = n.parse().unwrap();
            acked = Some(n);
            if n >= 2_000 {
                // SAFETY: plain syscall on the child's pid.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed");
    let acked = acked.expect("the child acknowledged records before the kill");

    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let mut seen = HashSet::new();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    for line in complete.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("torn line in the middle of the file: {line:?}: {e}"));
        if let Some(i) = value["i"].as_u64() {
            seen.insert(i);
        }
    }
    let tail = &text[complete.len()..];
    assert!(
        tail.trim_start_matches('\n').lines().count() <= 1,
        "at most one torn last line"
    );
    for i in 0..=acked {
        assert!(
            seen.contains(&i),
            "record {i} was acknowledged but is missing"
        );
    }
}
