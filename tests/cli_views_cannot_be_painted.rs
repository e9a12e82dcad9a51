//! Nobody who can write in a trail directory can paint over what the investigator sees.
//!
//! Values carrying terminal escapes (OSC title, erase line, CR, C1 CSI, DEL), U+2028 and
//! U+202E (RIGHT-TO-LEFT OVERRIDE) go through the real layer into real audit and debug files;
//! lines forged without the chain add the same characters raw (valid JSON may hold DEL, C1,
//! U+2028 and bidi controls unescaped); file names carry them too. Every view — verify, tail,
//! query, correlate, report, timeline, export — is run as the real CLI: stdout and stderr hold
//! none of those characters raw, and the real finding is still there to read.

mod chain_support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_audit::trail::is_hidden;
use tracing_subscriber::prelude::*;

/// What a painter writes: set the window title, erase the line, return to its start, draw a
/// verdict; then C1 CSI, DEL, a line separator, a right-to-left override, and text in
/// invisible tag characters (U+E0041 `A`, U+E0042 `B`: "ASCII smuggling").
const PAINT: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2K\rOK: 8 records in 1 files\u{9b}2K\u{7f}\u{2028}\u{202e}\u{e0041}\u{e0042}";
/// An actor that reads `eve` followed by `exe.gnp` reversed when U+202E is honoured.
const ACTOR: &str = "eve\u{202e}gnp.exe";

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .expect("run tracing-audit")
}

/// Fails when `bytes` hold any character a terminal or a reader's eye would act on: the named
/// ones explicitly, and whatever else the crate counts as hidden (newlines separate lines).
fn assert_unpainted(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for raw in [
        "\u{1b}",
        "\r",
        "\u{7}",
        "\u{9b}",
        "\u{7f}",
        "\u{2028}",
        "\u{202e}",
        "\u{e0041}",
    ] {
        assert!(!text.contains(raw), "{what} holds {raw:?} raw:\n{text}");
    }
    if let Some(c) = text.chars().find(|&c| c != '\n' && is_hidden(c)) {
        panic!("{what} holds {c:?} raw:\n{text}");
    }
}

fn assert_both_unpainted(o: &Output) {
    assert_unpainted("stdout", &o.stdout);
    assert_unpainted("stderr", &o.stderr);
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Painted {
    _root: tempfile::TempDir,
    audit: PathBuf,
    debug: PathBuf,
    /// The correlation id of the painted request.
    id: String,
}

impl Painted {
    fn audit(&self) -> &str {
        self.audit.to_str().unwrap()
    }
    fn debug(&self) -> &str {
        self.debug.to_str().unwrap()
    }
}

fn newest(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl"))
        .collect();
    files.sort();
    files.pop().expect("a trail file")
}

fn append(path: &Path, line: &str) {
    let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(line.as_bytes()).unwrap();
    f.write_all(b"\n").unwrap();
}

/// A keyed audit trail and a debug log written by the real layer, with painted values; then,
/// as an attacker with a shell would: a forged debug line and a forged audit line holding the
/// painter's characters raw (valid JSON), and a set-aside `.partial` whose name paints.
fn painted() -> Painted {
    let root = tempfile::tempdir().unwrap();
    let audit = root.path().join("audit");
    let debug = root.path().join("debug");
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(&audit))
        .debug_to_files(FileSink::new(&debug))
        .debug_filter("debug")
        .chain(chain_support::keyed())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..3 {
            let span = tracing::info_span!("request", request_id = i);
            let _g = span.enter();
            tracing::debug!(step = PAINT, "checking {PAINT}");
            tracing::info!(
                target: "audit",
                actor = ACTOR,
                action = "read",
                resource = %format!("/payroll/{PAINT}"),
                outcome = "denied",
                reason = PAINT,
                src_ip = "192.0.2.250"
            );
        }
    });
    drop(guard);
    let first = fs::read_to_string(newest(&audit)).unwrap();
    let rec: serde_json::Value =
        serde_json::from_str(first.lines().find(|l| l.contains("\"actor\"")).unwrap()).unwrap();
    let id = rec["correlation_id"].as_str().unwrap().to_owned();
    // Raw DEL, C1, U+2028 and U+202E are valid inside a JSON string; C0 controls are not.
    let raw = "\u{9b}2K\u{7f}\u{2028}\u{202e}";
    append(
        &newest(&debug),
        &format!(
            r#"{{"ts":"2099-01-01T00:00:00.000000000Z","level":"WARN","stream":"debug","correlation_id":"{id}","message":"forged {raw} debug line","actor":"{ACTOR}"}}"#
        ),
    );
    append(
        &newest(&audit),
        &format!(
            r#"{{"seq":999,"ts":"2099-01-01T00:00:00.000000000Z","stream":"audit","correlation_id":"{id}","actor":"mallory{raw}","action":"read","resource":"/payroll/{raw}","outcome":"success"}}"#
        ),
    );
    fs::write(
        audit.join(format!(
            "audit.torn-1{}.partial",
            PAINT.replace('\u{2028}', "")
        )),
        b"{}",
    )
    .unwrap();
    Painted {
        _root: root,
        audit,
        debug,
        id,
    }
}

/// A second trail whose prefix paints: every read command refuses the directory, naming the
/// prefixes in its error, which must reach stderr escaped.
fn with_painted_prefix(dir: &Path) {
    let name = format!("x{}.2026-11-26.0001.jsonl", PAINT.replace('\u{2028}', ""));
    fs::write(dir.join(name), b"{}\n").unwrap();
}

#[test]
fn verify_shows_a_painted_partial_name_escaped_under_the_real_verdict() {
    let p = painted();
    let o = tool(&["verify", p.audit()]);
    let code = o.status.code().unwrap();
    assert!((10..=23).contains(&code), "exit {code}: {}", stdout(&o));
    assert_both_unpainted(&o);
    let out = stdout(&o);
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("NOT INTACT"), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("OK")), "{out}");
    // The name is there, escaped where it paints.
    assert!(
        out.contains("audit.torn-1\\u{1b}]0;pwned\\u{7}\\u{1b}[2K\\u{d}OK: 8 records"),
        "{out}"
    );

    let o = tool(&["verify", p.audit(), "--json"]);
    assert_eq!(o.status.code(), Some(code));
    assert_both_unpainted(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["intact"], false);
    let names: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["file"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("\u{1b}]0;pwned")),
        "{names:?}"
    );
}

#[test]
fn query_prints_forged_lines_escaped_the_writers_way_with_their_values_intact() {
    let p = painted();
    let o = tool(&["query", p.audit()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_both_unpainted(&o);
    let recs: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is still JSON"))
        .collect();
    assert_eq!(recs.len(), 4, "three written, one forged");
    assert_eq!(recs[0]["actor"], ACTOR);
    assert_eq!(recs[0]["reason"], PAINT);
    assert_eq!(recs[3]["actor"], "mallory\u{9b}2K\u{7f}\u{2028}\u{202e}");

    let o = tool(&["query", p.debug()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_both_unpainted(&o);
    assert!(stdout(&o).contains("forged \\u009b2K\\u007f\\u2028\\u202e debug line"));
}

#[test]
fn correlate_json_and_human_show_the_forged_debug_line_escaped() {
    let p = painted();
    let o = tool(&[
        "correlate",
        "--audit",
        p.audit(),
        "--debug",
        p.debug(),
        &p.id,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_both_unpainted(&o);
    let forged = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("forged"))
        })
        .expect("the forged debug line is shown");
    assert_eq!(forged["actor"], ACTOR);

    let o = tool(&[
        "correlate",
        "--audit",
        p.audit(),
        "--debug",
        p.debug(),
        &p.id,
        "--human",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_both_unpainted(&o);
    assert!(
        stdout(&o).contains("actor=eve\\u{202e}gnp.exe"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn tail_shows_painted_values_escaped() {
    let p = painted();
    let o = tool(&["tail", p.audit(), "-n", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_both_unpainted(&o);
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.contains("actor=eve\\u{202e}gnp.exe"), "{out}");
    assert!(out.contains("outcome=denied"), "{out}");
}

#[test]
fn report_keeps_actors_and_resources_in_their_order() {
    let p = painted();
    let o = tool(&["report", p.audit()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_both_unpainted(&o);
    let out = stdout(&o);
    assert!(out.contains("  eve\\u{202e}gnp.exe: 3 denied"), "{out}");
    assert!(
        out.contains("mallory\\u{9b}2K\\u{7f}\\u{2028}\\u{202e}"),
        "{out}"
    );

    let o = tool(&["report", p.audit(), "--json"]);
    assert_both_unpainted(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["actors"].to_string().contains("gnp.exe"), "{v}");
}

#[test]
fn timeline_page_shows_painted_values_as_escapes() {
    let p = painted();
    let page = p.audit.parent().unwrap().join("t.html");
    let o = tool(&[
        "timeline",
        "--audit",
        p.audit(),
        "--debug",
        p.debug(),
        &p.id,
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_both_unpainted(&o);
    let html = fs::read(&page).unwrap();
    assert_unpainted("the page", &html);
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("actor=<bdi>eve\\u{202e}gnp.exe</bdi>"),
        "{html}"
    );
    assert!(html.contains("forged \\u{9b}2K\\u{7f}\\u{2028}\\u{202e} debug line"));
}

#[test]
fn export_writes_forged_values_escaped_the_writers_way() {
    let p = painted();
    for format in ["ocsf", "ecs"] {
        let o = tool(&["export", "--format", format, p.audit()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_both_unpainted(&o);
        let all = stdout(&o);
        assert_eq!(all.lines().count(), 4, "{all}");
        assert!(
            all.contains("mallory\\u009b2K\\u007f\\u2028\\u202e"),
            "{all}"
        );
        for l in all.lines() {
            serde_json::from_str::<serde_json::Value>(l).expect("still JSON");
        }
    }
}

#[test]
fn a_painted_trail_prefix_reaches_every_command_escaped() {
    let p = painted();
    with_painted_prefix(&p.audit);
    let page = p.audit.parent().unwrap().join("t.html");
    let runs: Vec<Vec<&str>> = vec![
        vec!["verify", p.audit()],
        vec!["query", p.audit()],
        vec!["tail", p.audit()],
        vec!["report", p.audit()],
        vec!["export", "--format", "ecs", p.audit()],
        vec!["correlate", "--audit", p.audit(), &p.id],
        vec![
            "timeline",
            "--audit",
            p.audit(),
            &p.id,
            "--html",
            page.to_str().unwrap(),
        ],
    ];
    for args in runs {
        let o = tool(&args);
        assert_both_unpainted(&o);
        let err = stderr(&o);
        assert!(
            err.contains("several trails") && err.contains("x\\u{1b}]0;pwned"),
            "{args:?}: {err}"
        );
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
    }
}
