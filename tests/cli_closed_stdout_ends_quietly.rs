//! `tracing-audit CMD | head -1`: a reader that closes the pipe early ends the command quietly,
//! with the exit code of what it found, never a panic (exit 101) or an error about the pipe.
//!
//! Each command runs as the real binary with its stdout a real pipe whose read end the test
//! closes: at once (the command's first write fails), or after one line (`| head -1` over an
//! output larger than the pipe's buffer).

mod chain_support;

use chain_support::*;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Runs the tool with stdout a pipe the test closes before the tool writes; its exit status
/// and stderr. Killed (and failed) after a minute.
fn closed_at_once(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tracing-audit");
    drop(child.stdout.take());
    finish(child)
}

/// Reads one line of the tool's stdout, then closes the pipe (`| head -1`).
fn head_1(args: &[&str]) -> (String, ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tracing-audit");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let (status, err) = finish(child);
    (first, status, err)
}

fn finish(mut child: std::process::Child) -> (ExitStatus, String) {
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after a minute with its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().unwrap())
}

fn assert_quiet(what: &str, err: &str) {
    for noise in ["panicked", "Broken pipe", "broken pipe", "os error 32"] {
        assert!(
            !err.contains(noise),
            "{what}: stderr mentions {noise:?}:\n{err}"
        );
    }
}

/// A keyed trail of 40 records over several files, with a line of 9 MiB at the start of the
/// oldest file and at the end of the newest: lines the readers skip, so each read command has
/// a finding (exit 4) before its first record is written (searches and `export` read from the
/// oldest file, `tail` from the end of the newest).
fn trail_with_giant_lines(dir: &Path) {
    write_trail(dir, keyed(), 0..40, 4096);
    let files = trail_files(dir);
    let mut giant = br#"{"actor":"user1","message":""#.to_vec();
    giant.resize(9 << 20, b'x');
    giant.extend_from_slice(b"\"}\n");
    let oldest = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], [giant.as_slice(), &oldest].concat()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&files[files.len() - 1])
        .unwrap();
    f.write_all(&giant).unwrap();
}

#[test]
fn verify_with_its_stdout_closed_exits_with_the_findings_code() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..40, 4096);
    let d = dir.path().to_str().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("k");
    std::fs::write(&key, b"integration test chain key\n").unwrap();
    let k = key.to_str().unwrap();
    let (status, err) = closed_at_once(&["verify", d, "--key-file", k], &[]);
    assert_eq!(status.code(), Some(0), "an intact trail: {err}");
    assert_quiet("verify", &err);

    // One record changed: `modified` (exit 10) whether or not anyone reads the report.
    let files = trail_files(dir.path());
    let mut lines = read_lines(&files[1]);
    lines[2] = String::from_utf8(lines[2].clone())
        .unwrap()
        .replace("\"read\"", "\"wipe\"")
        .into_bytes();
    write_lines(&files[1], &lines);
    for json in [false, true] {
        let mut args = vec!["verify", d, "--key-file", k];
        if json {
            args.push("--json");
        }
        let (status, err) = closed_at_once(&args, &[]);
        assert_eq!(status.code(), Some(10), "{args:?}: {err}");
        assert_quiet("verify", &err);
    }
}

#[test]
fn searches_with_their_stdout_closed_still_report_what_they_skipped() {
    let dir = tempfile::tempdir().unwrap();
    trail_with_giant_lines(dir.path());
    let d = dir.path().to_str().unwrap();
    let id = {
        let o = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
            .args(["query", d, "--actor", "user3"])
            .output()
            .unwrap();
        let first = String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap()
            .to_owned();
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        v["correlation_id"].as_str().unwrap().to_owned()
    };
    for args in [
        vec!["query", d],
        vec!["tail", d, "-n", "20"],
        vec!["report", d],
        vec!["report", d, "--json"],
        vec!["export", "--format", "ocsf", d],
        vec!["correlate", "--audit", d, &id],
        vec!["correlate", "--audit", d, &id, "--human"],
    ] {
        let (status, err) = closed_at_once(&args, &[]);
        assert_eq!(status.code(), Some(4), "{args:?}: {err}");
        assert!(
            err.contains("1 line skipped as longer than the line limit"),
            "{args:?}: {err}"
        );
        assert_quiet(&format!("{args:?}"), &err);
    }
}

#[test]
fn head_1_over_a_long_output_ends_quietly_with_the_findings_code() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..2_000, 1 << 20);
    let d = dir.path().to_str().unwrap();
    for args in [vec!["query", d], vec!["tail", d, "-n", "2000"]] {
        let (first, status, err) = head_1(&args);
        assert!(first.contains("user"), "{args:?}: {first}");
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert_quiet(&format!("{args:?}"), &err);
    }
    // Every record changed: a report of 2,000 findings, far more than a pipe holds.
    for file in trail_files(dir.path()) {
        let lines: Vec<Vec<u8>> = read_lines(&file)
            .into_iter()
            .map(|l| {
                String::from_utf8(l)
                    .unwrap()
                    .replace("\"read\"", "\"wipe\"")
                    .into_bytes()
            })
            .collect();
        write_lines(&file, &lines);
    }
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("k");
    std::fs::write(&key, b"integration test chain key\n").unwrap();
    let (first, status, err) = head_1(&["verify", d, "--key-file", key.to_str().unwrap()]);
    assert!(first.starts_with("modified "), "{first}");
    assert_eq!(status.code(), Some(10), "{err}");
    assert_quiet("verify | head -1", &err);
}

#[test]
fn tail_follow_ends_when_its_reader_goes_away_with_its_findings_code() {
    let dir = tempfile::tempdir().unwrap();
    trail_with_giant_lines(dir.path());
    let d = dir.path().to_str().unwrap();
    let (status, err) = closed_at_once(&["tail", d, "--follow", "--poll-ms", "10"], &[]);
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(
        err.contains("1 line skipped as longer than the line limit"),
        "{err}"
    );
    assert_quiet("tail --follow", &err);
}

#[test]
fn hash_and_keygen_with_their_stdout_closed_do_not_panic() {
    let (status, err) = closed_at_once(
        &["hash", "alice@example.com"],
        &[("TRACING_AUDIT_HASH_KEY", "k")],
    );
    assert_eq!(status.code(), Some(0), "{err}");
    assert_quiet("hash", &err);

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("signing.state");
    let (status, err) = closed_at_once(&["keygen", "--state", state.to_str().unwrap()], &[]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_quiet("keygen", &err);
    assert!(
        state.exists(),
        "the state is written even when pk0 cannot be shown"
    );
}
