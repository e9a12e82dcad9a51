//! A child process killed with SIGKILL in the middle of a flood: every record that `sync()`
//! acknowledged before the kill is in the files, and at most the last line is torn. Through a
//! chained `FileSink` (size-rotating) and through a `MakeWriter`.

use std::collections::HashSet;
mod support;

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tracing_audit::chain::ChainConfig;
use tracing_audit::sink::{testing, FileSink, Rotation, SinkGuard, SinkHandle};
use tracing_audit::Stream;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

const CHILD_ENV: &str = "TRACING_AUDIT_SIGKILL_CHILD";

fn writer_child(path: &str) -> (SinkHandle, SinkGuard) {
    let file = Arc::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap(),
    );
    let make_writer = BoxMakeWriter::new(move || support::SharedFile(Arc::clone(&file)));
    testing::spawn_writer(Stream::Audit, make_writer, 64 << 10, Duration::from_secs(5)).unwrap()
}

fn file_sink_child(dir: &str) -> (SinkHandle, SinkGuard) {
    let config = FileSink::new(dir)
        .rotation(Rotation::Never)
        .max_file_size(32 << 10);
    testing::spawn_files(Stream::Audit, config, Some(&ChainConfig::new())).unwrap()
}

fn flood_until_killed(handle: SinkHandle, _guard: SinkGuard) {
    // A second thread floods without syncing, so the kill lands amid unacknowledged writes.
    let flooder = handle.clone();
    std::thread::spawn(move || {
        for i in 0u64..20_000 {
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

fn child_role() -> Option<(String, String)> {
    let value = std::env::var(CHILD_ENV).ok()?;
    let (role, arg) = value.split_once(':')?;
    Some((role.to_owned(), arg.to_owned()))
}

/// Runs `test` as a child, kills it with SIGKILL once it acknowledged `until` records, and
/// returns the last acknowledged record number.
fn kill_child_after(test: &str, role: &str, arg: &std::path::Path, until: u64) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{role}:{}", arg.display()))
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
            if n >= until {
                // SAFETY: plain syscall on the child's pid.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed");
    acked.expect("the child acknowledged records before the kill")
}

/// Checks one file: complete lines are JSON, at most the last line is torn. Returns the `i`s.
fn records_in(bytes: &[u8], torn_lines: &mut usize) -> HashSet<u64> {
    let text = String::from_utf8_lossy(bytes);
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
    let tail = text[complete.len()..].trim_start_matches('\n');
    *torn_lines += tail.lines().count();
    seen
}

#[test]
fn records_acknowledged_by_sync_survive_sigkill_of_a_make_writer_sink() {
    if let Some((_, path)) = child_role() {
        let (handle, guard) = writer_child(&path);
        flood_until_killed(handle, guard);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let acked = kill_child_after(
        "records_acknowledged_by_sync_survive_sigkill_of_a_make_writer_sink",
        "writer",
        &path,
        2_000,
    );
    let mut torn = 0;
    let seen = records_in(&std::fs::read(&path).unwrap(), &mut torn);
    assert!(torn <= 1, "at most one torn last line");
    for i in 0..=acked {
        assert!(
            seen.contains(&i),
            "record {i} was acknowledged but is missing"
        );
    }
}

#[test]
fn records_acknowledged_by_sync_survive_sigkill_of_a_chained_file_sink() {
    if let Some((_, dir)) = child_role() {
        let (handle, guard) = file_sink_child(&dir);
        flood_until_killed(handle, guard);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let acked = kill_child_after(
        "records_acknowledged_by_sync_survive_sigkill_of_a_chained_file_sink",
        "files",
        dir.path(),
        300,
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("audit.") && n.ends_with(".jsonl") && !n.contains("current"))
        .collect();
    names.sort();
    assert!(
        names.len() > 1,
        "the flood crossed size rotations: {names:?}"
    );
    let mut seen = HashSet::new();
    let mut torn = 0;
    for (k, name) in names.iter().enumerate() {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        let before = torn;
        seen.extend(records_in(&bytes, &mut torn));
        if torn > before {
            assert_eq!(k + 1, names.len(), "only the newest file may end torn");
        }
    }
    assert!(torn <= 1, "at most one torn last line");
    for i in 0..=acked {
        assert!(
            seen.contains(&i),
            "record {i} was acknowledged but is missing"
        );
    }
}
