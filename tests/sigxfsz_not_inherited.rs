//! A file sink protects the process from `SIGXFSZ` (a write past `RLIMIT_FSIZE` fails with
//! `EFBIG` instead of killing it) without changing what child processes inherit: a handler is
//! reset by `exec`, "ignored" would not be.

use std::process::Command;

/// Bit of `SIGXFSZ` (25) in `/proc/<pid>/status`'s signal masks.
const SIGXFSZ_BIT: u64 = 1 << (25 - 1);

fn mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line[field.len()..].trim(), 16).unwrap()
}

#[test]
fn children_started_after_a_file_sink_do_not_inherit_an_ignored_sigxfsz() {
    let dir = tempfile::tempdir().unwrap();
    let (_layer, guard) = tracing_audit::layer::AuditLayer::builder()
        .audit_to_files(tracing_audit::sink::FileSink::new(dir.path().join("audit")))
        .debug_to(std::io::sink)
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_ne!(
        mask(&own, "SigCgt:") & SIGXFSZ_BIT,
        0,
        "the sink handles SIGXFSZ here"
    );
    let child = Command::new("cat")
        .arg("/proc/self/status")
        .output()
        .unwrap();
    let status = String::from_utf8(child.stdout).unwrap();
    assert_eq!(
        mask(&status, "SigIgn:") & SIGXFSZ_BIT,
        0,
        "not ignored in the child"
    );
    assert_eq!(
        mask(&status, "SigCgt:") & SIGXFSZ_BIT,
        0,
        "default action in the child"
    );
    drop(guard);
}
