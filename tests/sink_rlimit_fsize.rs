//! A child process under `RLIMIT_FSIZE`: writes past the limit fail with EFBIG instead of the
//! process being killed by SIGXFSZ, the failures are counted, `sync()` fails closed, and the
//! `written` counter equals the complete lines actually in the file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tracing_audit::sink::testing;
use tracing_audit::Stream;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

const CHILD_ENV: &str = "TRACING_AUDIT_FSIZE_CHILD";
const LIMIT: u64 = 8192;
const RECORDS: u64 = 500;

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
    let limit = libc::rlimit {
        rlim_cur: LIMIT as libc::rlim_t,
        rlim_max: LIMIT as libc::rlim_t,
    };
    // SAFETY: plain syscall with a valid, initialised struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);
    let file = Arc::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap(),
    );
    let make_writer = BoxMakeWriter::new(move || SharedFile(Arc::clone(&file)));
    let (handle, guard) = testing::spawn_writer(
        Stream::Audit,
        make_writer,
        1 << 20,
        Duration::from_millis(200),
    )
    .unwrap();
    for i in 0..RECORDS {
        testing::submit(
            &handle,
            format!("{{\"i\":{i},\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}")
                .as_bytes(),
        );
    }
    let err = handle.sync().expect_err("the file size limit must surface");
    println!("CHILD sync_errno={}", err.raw_os_error().unwrap_or(-1));
    drop(guard);
    let h = handle.health();
    println!(
        "CHILD written={} failed={} retried={} last_error={}",
        h.written,
        h.failed,
        h.retried,
        h.last_error.unwrap_or_default()
    );
}

#[test]
fn audit_sink_under_rlimit_fsize_reports_efbig_and_counts_only_lines_on_disk() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "audit_sink_under_rlimit_fsize_reports_efbig_and_counts_only_lines_on_disk",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child died ({:?}): {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| -> String {
        stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_owned()
    };
    assert_eq!(field("sync_errno"), libc::EFBIG.to_string());
    let written: u64 = field("written").parse().unwrap();
    let failed: u64 = field("failed").parse().unwrap();
    let retried: u64 = field("retried").parse().unwrap();
    assert!(stdout.contains("File too large"), "{stdout}");

    let on_disk = std::fs::read(&path).unwrap();
    assert!(on_disk.len() as u64 <= LIMIT);
    let complete_lines = on_disk.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(written, complete_lines, "written equals the lines on disk");
    assert!(written < RECORDS);
    assert_eq!(
        written + failed,
        RECORDS,
        "every record is written or counted"
    );
    assert!(retried >= 1);
}
