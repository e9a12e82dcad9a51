//! Every input a reader is handed is bounded before it is read: gzip bombs, giant lines, FIFOs
//! and devices where files belong, through the real `tracing-audit` command on real trails.
//!
//! Peak memory of the command is measured with `getrusage(RUSAGE_CHILDREN)`, which reports the
//! largest resident set of any child this process waited for. A child started with
//! `posix_spawn` shares this process's memory until it executes the command, so that figure
//! includes this process's own size at the time: the test never holds a large file itself.

mod chain_support;

use chain_support::*;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the command and kills it if it has not finished within `limit`: a reader that blocks
/// on a FIFO or reads `/dev/zero` forever fails the test instead of hanging it.
fn tool_within(limit: Duration, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tracing-audit");
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "tracing-audit {args:?} still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn tool(args: &[&str]) -> Output {
    tool_within(Duration::from_secs(120), args)
}

fn both(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The largest resident set (bytes) of any child waited for so far.
fn children_peak_rss() -> u64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    u64::try_from(usage.ru_maxrss).unwrap() * 1024
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn key_file(dir: &Path) -> String {
    let p = dir.join("chain.key");
    fs::write(&p, b"integration test chain key\n").unwrap();
    p.to_string_lossy().into_owned()
}

/// A `.gz` of `members` concatenated gzip members, each 1 MiB of zeros: about 1 KiB on disk
/// per MiB it inflates to (gzip readers read every member of a file).
fn gzip_bomb(members: usize) -> Vec<u8> {
    let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    one.write_all(&vec![0u8; 1 << 20]).unwrap();
    let one = one.finish().unwrap();
    one.repeat(members)
}

#[test]
fn gzip_bombs_and_giant_lines_are_findings_in_bounded_memory() {
    const MIB: u64 = 1 << 20;
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path());

    // A gzip bomb in place of a closed file: 2 GiB of zeros in 2 MiB on disk.
    let bombed = tempfile::tempdir().unwrap();
    write_trail(bombed.path(), keyed(), 0..60, 4096);
    let files = trail_files(bombed.path());
    let victim = files[1].clone();
    fs::write(format!("{}.gz", victim.display()), gzip_bomb(2048)).unwrap();
    fs::remove_file(&victim).unwrap();
    let d = bombed.path().to_str().unwrap();
    let o = tool(&["verify", d, "--key-file", &key, "--key-id", "k1"]);
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(
        matches!(o.status.code(), Some(10..=23)),
        "a finding, not a crash: {:?} {}",
        o.status,
        both(&o)
    );
    assert!(
        both(&o).contains(name),
        "the finding names the file: {}",
        both(&o)
    );
    assert!(both(&o).contains("gzip bomb"), "{}", both(&o));
    let peak = children_peak_rss();
    assert!(peak < 256 * MIB, "verify held {} MiB", peak / MIB);
    // The readers that scan say so on stderr and go on, in bounded memory too.
    let o = tool(&["query", d, "--actor", "user3"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(name),
        "query names the damaged file: {}",
        both(&o)
    );
    assert!(!o.stdout.is_empty(), "the other files are still searched");
    let peak = children_peak_rss();
    assert!(peak < 256 * MIB, "query held {} MiB", peak / MIB);

    // A line of 300 MiB in the middle of a file (say, appended by an attacker before the
    // writer went on): neither the streaming nor the reference check holds it.
    let giant = tempfile::tempdir().unwrap();
    write_trail(giant.path(), keyed(), 0..60, 4096);
    let files = trail_files(giant.path());
    let lines = read_lines(&files[1]);
    // Written in pieces: this process stays small, so what is measured is the command.
    let mut f = std::io::BufWriter::new(fs::File::create(&files[1]).unwrap());
    for (i, line) in lines.iter().enumerate() {
        if i == 2 {
            let piece = vec![b'x'; 1 << 20];
            for _ in 0..300 {
                f.write_all(&piece).unwrap();
            }
            f.write_all(b"\n").unwrap();
        }
        f.write_all(line).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.into_inner().unwrap().sync_all().unwrap();
    let d = giant.path().to_str().unwrap();
    let o = tool(&["verify", d, "--key-file", &key, "--key-id", "k1"]);
    assert!(
        matches!(o.status.code(), Some(10..=23)),
        "{:?} {}",
        o.status,
        both(&o)
    );
    assert!(
        both(&o).contains("longer than"),
        "the finding says why: {}",
        both(&o)
    );
    let peak = children_peak_rss();
    assert!(peak < 256 * MIB, "verify held {} MiB", peak / MIB);
}

#[test]
fn fifos_and_devices_given_as_inputs_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..20, 4096);
    let d = dir.path().to_str().unwrap();
    let other = tempfile::tempdir().unwrap();
    let fifo = other.path().join("fifo");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    let quick = Duration::from_secs(30);
    let cases: Vec<Vec<&str>> = vec![
        vec!["verify", d, "--key-file", fifo, "--key-id", "k1"],
        vec!["verify", d, "--key-file", "/dev/zero", "--key-id", "k1"],
        vec!["verify", d, "--public-key", fifo],
        vec!["verify", d, "--public-key", "/dev/zero"],
        vec!["verify", d, "--checkpoint", fifo],
        vec!["verify", d, "--checkpoint", "/dev/zero"],
        vec!["verify", "--received", fifo],
        vec!["verify", "--received", "/dev/zero"],
        vec!["hash", "alice", "--key-file", fifo],
        vec!["hash", "alice", "--key-file", "/dev/zero"],
        vec!["check-proof", "p", "--log-key", fifo],
        vec!["check-proof", "p", "--log-key", "/dev/zero"],
        vec![
            "check-proof",
            fifo,
            "--log-key",
            "vm/audit+c6c19c41+AYTq/HMOA7dFkjusMdgcGtO9s1d2WxaH3ww8NG1zQoCh",
        ],
        vec![
            "check-proof",
            "/dev/zero",
            "--log-key",
            "vm/audit+c6c19c41+AYTq/HMOA7dFkjusMdgcGtO9s1d2WxaH3ww8NG1zQoCh",
        ],
    ];
    for args in cases {
        let o = tool_within(quick, &args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", both(&o));
        assert!(
            both(&o).contains("not a regular file"),
            "{args:?}: {}",
            both(&o)
        );
    }
}

#[test]
fn a_key_file_larger_than_any_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..5, 4096);
    let big = dir.path().join("big.key");
    fs::write(&big, vec![b'k'; 2 << 20]).unwrap();
    let o = tool(&[
        "verify",
        dir.path().to_str().unwrap(),
        "--key-file",
        big.to_str().unwrap(),
        "--key-id",
        "k1",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", both(&o));
    assert!(both(&o).contains("larger than"), "{}", both(&o));
}
