//! `tracing-audit timeline` on the quickstart's night access, rendered by a real headless
//! Chromium: the page shows both streams' records of that request. The screenshot is kept
//! under target/tmp/timeline/ as an artifact of the run.

mod quickstart_story;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .expect("run tracing-audit")
}

/// The `correlation_id` of the first record `tracing-audit query DIR ARGS` prints.
fn first_correlation_id(dir: &str, args: &[&str]) -> String {
    let q = tool(&[&["query", dir][..], args].concat());
    let line = String::from_utf8_lossy(&q.stdout)
        .lines()
        .next()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("query {args:?} found nothing: {q:?}"));
    let rec: serde_json::Value = serde_json::from_str(&line).unwrap();
    rec["correlation_id"].as_str().unwrap().to_owned()
}

/// Debian's `chromium` (scripts/test installs it).
fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("which").arg(c).output() {
            if o.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            }
        }
    }
    panic!("no chromium on PATH: install it (apt-get install -y chromium; scripts/test does)");
}

/// Runs headless Chromium with `extra` on `page`, killed after a minute; its stdout.
fn browse(profile: &Path, page: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
fn the_night_access_timeline_shows_both_streams_in_a_real_browser() {
    let root = tempfile::tempdir().unwrap();
    quickstart_story::write_story(root.path());
    let audit = root.path().join("audit");
    let debug = root.path().join("debug");
    let (a, d) = (audit.to_str().unwrap(), debug.to_str().unwrap());
    let id = &first_correlation_id(a, &["--actor", "carol"]);

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("timeline");
    std::fs::create_dir_all(&artifacts).unwrap();
    let page = artifacts.join("quickstart-night.html");
    let o = tool(&[
        "timeline",
        "--audit",
        a,
        "--debug",
        d,
        id,
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains(" src="));

    let profile = tempfile::tempdir().unwrap();
    let shot = artifacts.join("quickstart-night.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        profile.path(),
        &page,
        &[
            "--screenshot=".to_owned() + shot.to_str().unwrap(),
            "--window-size=1400,900".to_owned(),
        ]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );

    let dom = browse(profile.path(), &page, &["--dump-dom"]);
    // The audit record of the request, and the debug records that explain it.
    for want in [
        "actor=<bdi>carol</bdi> action=<bdi>read</bdi> resource=<bdi>/payroll/2026-11</bdi> outcome=<bdi>success</bdi>",
        "session role claims missing; falling back to the legacy SSO default role",
        "role mapping from legacy default",
        "outbound query",
        "class=\"rec audit o-ok\"",
        "class=\"rec debug o-warn\"",
        "<span class=\"span-name\"><bdi>night_access</bdi></span>",
        "<span class=\"span-name\"><bdi>query_db</bdi></span>",
    ] {
        assert!(dom.contains(want), "the page lacks {want:?}:\n{dom}");
    }
    assert_eq!(dom.matches("class=\"rec audit").count(), 1);
    assert_eq!(dom.matches("class=\"rec debug").count(), 3);
    // Only this request.
    assert!(!dom.contains("bad_password") && !dom.contains("req-1004"));
}

/// A value planted to reverse what it reads as (U+202E RIGHT-TO-LEFT OVERRIDE), by the real
/// layer in an audit record and raw in a forged debug line (valid JSON), renders in a real
/// browser as its escape, inside a bidi-isolated element: the page shows what is stored.
#[test]
fn a_planted_right_to_left_override_renders_as_its_escape() {
    use tracing_audit::layer::AuditLayer;
    use tracing_audit::sink::FileSink;
    use tracing_subscriber::prelude::*;

    let root = tempfile::tempdir().unwrap();
    let (audit, debug) = (root.path().join("audit"), root.path().join("debug"));
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(&audit))
        .debug_to_files(FileSink::new(&debug))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!("request");
        let _g = span.enter();
        tracing::info!(target: "audit", actor = "eve\u{202e}gnp.exe", action = "read", resource = "/payroll", outcome = "denied");
    });
    drop(guard);
    let (a, d) = (audit.to_str().unwrap(), debug.to_str().unwrap());
    let id = &first_correlation_id(a, &[]);
    std::fs::create_dir_all(&debug).unwrap();
    let forged = format!(
        "{{\"ts\":\"2099-01-01T00:00:00.000000000Z\",\"level\":\"WARN\",\"correlation_id\":\"{id}\",\"message\":\"ok \u{202e}deineD\"}}\n"
    );
    std::fs::write(debug.join("debug.2099-01-01.0001.jsonl"), forged).unwrap();

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("timeline");
    std::fs::create_dir_all(&artifacts).unwrap();
    let page = artifacts.join("planted-rlo.html");
    let o = tool(&[
        "timeline",
        "--audit",
        a,
        "--debug",
        d,
        id,
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let profile = tempfile::tempdir().unwrap();
    let dom = browse(profile.path(), &page, &["--dump-dom"]);
    assert!(
        !dom.contains('\u{202e}'),
        "a raw U+202E reached the page:\n{dom}"
    );
    for want in [
        "actor=<bdi>eve\\u{202e}gnp.exe</bdi>",
        "<bdi>ok \\u{202e}deineD</bdi>",
    ] {
        assert!(dom.contains(want), "the page lacks {want:?}:\n{dom}");
    }
}

#[test]
fn the_page_is_written_0600_and_never_through_a_planted_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    quickstart_story::write_story(root.path());
    let audit = root.path().join("audit");
    let a = audit.to_str().unwrap();
    let id = &first_correlation_id(a, &["--actor", "carol"]);

    // A link planted where the investigator will write the page, pointing at a file of theirs.
    let victim = root.path().join("victim");
    std::fs::write(&victim, b"precious\n").unwrap();
    let planted = root.path().join("planted.html");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let o = tool(&[
        "timeline",
        "--audit",
        a,
        id,
        "--html",
        planted.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");

    let page = root.path().join("page.html");
    let o = tool(&[
        "timeline",
        "--audit",
        a,
        id,
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let mode = std::fs::metadata(&page).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}
