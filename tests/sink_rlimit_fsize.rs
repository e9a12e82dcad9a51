//! A child process under `RLIMIT_FSIZE`: writes past the limit fail with EFBIG instead of the
//! process being killed by SIGXFSZ, the failures are counted, `sync()` fails closed, and the
//! `written` counter equals the complete lines actually in the file. Both through a `FileSink`
//! and through a `MakeWriter` that writes a file.

mod support;

use std::fs::OpenOptions;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tracing_audit::sink::{testing, FileSink, Rotation};
use tracing_audit::Stream;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

const CHILD_ENV: &str = "TRACING_AUDIT_FSIZE_CHILD";
const LIMIT: u64 = 8192;
const RECORDS: u64 = 500;

fn limit_file_size() {
    let limit = libc::rlimit {
        rlim_cur: LIMIT as libc::rlim_t,
        rlim_max: LIMIT as libc::rlim_t,
    };
    // SAFETY: plain syscall with a valid, initialised struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);
}

fn flood_and_report(
    handle: &tracing_audit::sink::SinkHandle,
    guard: tracing_audit::sink::SinkGuard,
) {
    for i in 0..RECORDS {
        testing::submit(
            handle,
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

fn writer_child(path: &str) {
    testing::ignore_sigxfsz();
    limit_file_size();
    let file = Arc::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap(),
    );
    let make_writer = BoxMakeWriter::new(move || support::SharedFile(Arc::clone(&file)));
    let (handle, guard) = testing::spawn_writer(
        Stream::Audit,
        make_writer,
        1 << 20,
        Duration::from_millis(200),
    )
    .unwrap();
    flood_and_report(&handle, guard);
}

fn file_sink_child(dir: &str) {
    limit_file_size();
    let config = FileSink::new(dir).rotation(Rotation::Never);
    let (handle, guard) =
        testing::spawn_files_draining(Stream::Audit, config, None, Duration::from_millis(200))
            .unwrap();
    flood_and_report(&handle, guard);
}

/// Runs this test binary's `test` in a child with `role` set, returns (child stdout, field getter).
fn run_child(test: &str, role: &str, arg: &std::path::Path) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{role}:{}", arg.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "child died ({:?}): {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn field(stdout: &str, name: &str) -> u64 {
    let value = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {stdout}"));
    value.parse().unwrap()
}

fn check(stdout: &str, on_disk: &[u8]) {
    assert_eq!(field(stdout, "sync_errno"), libc::EFBIG as u64);
    assert!(stdout.contains("File too large"), "{stdout}");
    let written = field(stdout, "written");
    let failed = field(stdout, "failed");
    assert!(on_disk.len() as u64 <= LIMIT);
    let complete_lines = on_disk.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(written, complete_lines, "written equals the lines on disk");
    assert!(written < RECORDS);
    assert_eq!(
        written + failed,
        RECORDS,
        "every record is written or counted"
    );
    assert!(field(stdout, "retried") >= 1);
}

fn child_role() -> Option<(String, String)> {
    let value = std::env::var(CHILD_ENV).ok()?;
    let (role, arg) = value.split_once(':')?;
    Some((role.to_owned(), arg.to_owned()))
}

#[test]
fn file_sink_under_rlimit_fsize_reports_efbig_and_counts_only_lines_on_disk() {
    if let Some((_, dir)) = child_role() {
        file_sink_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stdout = run_child(
        "file_sink_under_rlimit_fsize_reports_efbig_and_counts_only_lines_on_disk",
        "files",
        dir.path(),
    );
    let data: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("audit.") && name.ends_with(".jsonl") && !name.contains("current")
        })
        .collect();
    assert_eq!(data.len(), 1, "{data:?}");
    check(&stdout, &std::fs::read(&data[0]).unwrap());
}

#[test]
fn make_writer_under_rlimit_fsize_reports_efbig_and_counts_only_lines_on_disk() {
    if let Some((_, path)) = child_role() {
        writer_child(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let stdout = run_child(
        "make_writer_under_rlimit_fsize_reports_efbig_and_counts_only_lines_on_disk",
        "writer",
        &path,
    );
    check(&stdout, &std::fs::read(&path).unwrap());
}
