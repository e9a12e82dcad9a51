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
