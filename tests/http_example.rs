//! `examples/axum_service.rs` as an operator runs it: it refuses a malformed policy file before
//! listening, and it serves, audits and flushes both streams on SIGTERM.

mod http_support;

use http_support::{read_records, HttpClient};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// `cargo run --example axum_service` with this test's features and profile, so the library
/// already built for the test is reused.
fn example(args: &[&std::ffi::OsStr]) -> Command {
    let mut features = vec!["http", "axum"];
    if cfg!(feature = "gzip") {
        features.push("gzip");
    }
    if cfg!(feature = "cli") {
        features.push("cli");
    }
    if cfg!(feature = "export") {
        features.push("export");
    }
    if cfg!(feature = "opentelemetry") {
        features.push("opentelemetry");
    }
    if cfg!(feature = "_test-hooks") {
        features.push("_test-hooks");
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "run",
        "--quiet",
        "--example",
        "axum_service",
        "--no-default-features",
    ])
    .arg(format!("--features={}", features.join(",")));
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    cmd.arg("--")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

#[test]
fn the_example_refuses_a_malformed_policy_file_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[rules]]\nname = \"health\"\nlevel = \"None\"\npaths = [\"/healthz\"]\n\n\
         [[rules]]\nname = \"exports\"\nlevel = \"Metadata\"\nmethds = [\"POST\"]\n",
    )
    .unwrap();
    let out = example(&[
        dir.path().join("logs").as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--policy".as_ref(),
        policy.as_os_str(),
    ])
    .output()
    .expect("cargo run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(stderr.contains("rule 2 (\"exports\")"), "{stderr}");
    assert!(stderr.contains("unknown key `methds`"), "{stderr}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_example_serves_audits_and_flushes_both_streams_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let mut child = example(&[
        logs.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("cargo run");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .parse()
        .unwrap();
    let client = HttpClient::new(addr);

    let alice = ("authorization", "Bearer alice-token");
    assert_eq!(
        client
            .get("/reports/7", &[alice, ("x-request-id", "ex-1")])
            .await
            .status,
        200
    );
    assert_eq!(
        client
            .send(
                "POST",
                "/admin/export",
                &[alice, ("x-request-id", "ex-2")],
                ""
            )
            .await
            .status,
        403
    );
    let login = client
        .send(
            "POST",
            "/login",
            &[
                ("content-type", "application/json"),
                ("x-request-id", "ex-3"),
            ],
            r#"{"username":"alice","password":"wonderland"}"#,
        )
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(
        client
            .get("/healthz", &[("x-request-id", "ex-4")])
            .await
            .status,
        200
    );

    // SAFETY: plain syscall on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");

    let audit = read_records(&logs.join("audit"));
    let by_id = |id: &str| -> Vec<&serde_json::Value> {
        audit
            .iter()
            .filter(|r| r["fields"]["request_id"] == id)
            .collect()
    };
    assert_eq!(by_id("ex-1").len(), 2);
    assert_eq!(by_id("ex-1")[1]["actor"], "alice");
    assert_eq!(by_id("ex-2")[1]["outcome"], "denied");
    assert_eq!(
        by_id("ex-3")[1]["actor"],
        "alice",
        "the login names who logged in"
    );
    assert!(by_id("ex-4").is_empty(), "health checks are not audited");
    assert!(
        audit.iter().any(|r| r["record"] == "checkpoint"),
        "the audit stream was closed cleanly"
    );
    assert!(!std::fs::read_to_string(first_file(&logs.join("audit")))
        .unwrap()
        .contains("wonderland"));
    let debug = read_records(&logs.join("debug"));
    assert!(debug.iter().any(|r| r["message"] == "loading report"));
}

fn first_file(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "jsonl") && !p.is_symlink())
        .unwrap()
}

/// Kills the example if the test fails while it runs.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the example and returns `(stdout's first line, whether it exited, stderr)`; kills it
/// if it started listening (a configuration it should have refused).
fn start_expecting_refusal(args: &[&std::ffi::OsStr]) -> (String, bool, String) {
    use std::io::Read;
    let mut child = example(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo run");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.starts_with("listening") {
        let _ = child.kill();
        let _ = child.wait();
        return (line, false, String::new());
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (line, !status.success(), stderr)
}

/// Starts the example with a policy file holding `policy` (and `extra` arguments), expecting it
/// to refuse to start: (stdout, refused, stderr).
fn start_with_policy(policy: &str, extra: &[&str]) -> (String, bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, policy).unwrap();
    let logs = dir.path().join("logs");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        logs.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--policy".as_ref(),
        file.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    start_expecting_refusal(&args)
}

#[test]
fn the_example_refuses_an_oversized_body_cap_at_start_up() {
    let (stdout, refused, stderr) = start_with_policy(
        "max_body_bytes = 200000000\n[[rules]]\nlevel = \"Request\"\n",
        &[],
    );
    assert!(refused, "it started: {stdout}");
    assert!(
        stderr.contains("max_body_bytes = 200000000 is over the limit of 1048576"),
        "{stderr}"
    );
}

#[test]
fn the_example_refuses_fail_closed_with_a_policy_that_omits_request_received() {
    let (stdout, refused, stderr) = start_with_policy(
        "[[rules]]\nname = \"cheap\"\nlevel = \"Metadata\"\nomit_stages = [\"RequestReceived\"]\n",
        &["--fail-closed"],
    );
    assert!(refused, "it started: {stdout}");
    assert!(stderr.contains("rule 1 (\"cheap\")"), "{stderr}");
    assert!(
        stderr.contains("omits RequestReceived under fail-closed"),
        "{stderr}"
    );
}

#[test]
fn sigterm_with_a_stalled_body_stops_within_the_shutdown_deadline_and_ends_the_request() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let mut child = example(&[
        logs.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("cargo run");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut child = KillOnDrop(child);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .parse()
        .unwrap();

    // A login (a `Request`-level rule: the middleware reads the body for the record) whose body
    // stalls after a few bytes: the record is written once the middleware stops waiting (5 s).
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    stalled
        .write_all(
            b"POST /login HTTP/1.1\r\nhost: test\r\nx-request-id: stall-1\r\n\
              content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"username\":",
        )
        .unwrap();
    let seen = Instant::now() + Duration::from_secs(30);
    loop {
        let audit = read_records(&logs.join("audit"));
        if audit.iter().any(|r| r["fields"]["request_id"] == "stall-1") {
            break;
        }
        assert!(Instant::now() < seen, "no request_received for stall-1");
        std::thread::sleep(Duration::from_millis(50));
    }

    // SAFETY: plain syscall on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    // The 10 s shutdown deadline, plus generous slack for a loaded machine.
    let bound = Duration::from_secs(40);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > bound {
            panic!("still running {bound:?} after SIGTERM with a stalled client");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    drop(stalled);

    let audit = read_records(&logs.join("audit"));
    let stages: Vec<(&str, &str)> = audit
        .iter()
        .filter(|r| r["fields"]["request_id"] == "stall-1")
        .map(|r| {
            (
                r["fields"]["stage"].as_str().unwrap_or(""),
                r["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [("request_received", ""), ("response_complete", "cancelled")],
        "the request in flight at shutdown ends in the trail"
    );
}
