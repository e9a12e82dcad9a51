//! `tracing-audit report` on a trail replaying the quickstart's story: a day of ordinary
//! daytime requests as history, then the same requests the next day and carol's payroll read
//! at 03:12 local time from an address she never used. Only the night access is flagged.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .expect("run tracing-audit")
}

/// One audit record shaped as the layer writes the quickstart's:
/// `[actor, action, resource, outcome, src_ip, correlation_id]`.
fn audit(seq: u64, ts: &str, [actor, action, resource, outcome, ip, id]: [&str; 6]) -> Value {
    json!({"seq": seq, "ts": ts, "stream": "audit", "level": "INFO", "target": "audit",
        "actor": actor, "action": action, "resource": resource, "outcome": outcome, "src_ip": ip,
        "fields": {}, "spans": [{"name": "request", "fields": {"src_ip": ip, "actor": actor}}],
        "correlation_id": id, "mac": "sha256:00"})
}

/// The daytime part of the story on `day`, times in UTC for 09:00-10:00 at UTC+01:00.
fn daytime(day: &str, tag: &str, seq: &mut u64) -> Vec<Value> {
    let requests = [
        (
            "08:01:00",
            ["alice", "login", "session", "denied", "203.0.113.7"],
        ),
        (
            "08:01:30",
            ["alice", "login", "session", "success", "203.0.113.7"],
        ),
        (
            "08:05:00",
            ["alice", "read", "/reports/q3", "success", "203.0.113.7"],
        ),
        (
            "08:20:00",
            ["bob", "read", "/payroll/2026-11", "denied", "198.51.100.23"],
        ),
        (
            "08:40:00",
            ["carol", "read", "/reports/q3", "success", "198.51.100.40"],
        ),
    ];
    let mut out = Vec::new();
    for (n, (t, [actor, action, res, outcome, ip])) in requests.into_iter().enumerate() {
        *seq += 1;
        let id = format!("{tag}-day-{n}");
        let ts = format!("{day}T{t}.000000000Z");
        out.push(audit(*seq, &ts, [actor, action, res, outcome, ip, &id]));
    }
    out
}

fn write(path: &Path, recs: &[Value]) {
    let mut body = String::new();
    for r in recs {
        body.push_str(&r.to_string());
        body.push('\n');
    }
    std::fs::write(path, body).unwrap();
}

fn story(dir: &Path) {
    let mut seq = 0;
    let day1 = daytime("2026-11-25", "d1", &mut seq);
    write(&dir.join("audit.2026-11-25.0001.jsonl"), &day1);
    // 03:12 at UTC+01:00.
    seq += 1;
    let night = [
        "carol",
        "read",
        "/payroll/2026-11",
        "success",
        "192.0.2.250",
        "night-1005",
    ];
    let mut day2 = vec![audit(seq, "2026-11-26T02:12:00.000000000Z", night)];
    day2.extend(daytime("2026-11-26", "d2", &mut seq));
    write(&dir.join("audit.2026-11-26.0002.jsonl"), &day2);
}

#[test]
fn report_flags_the_night_access_and_nothing_in_the_daytime() {
    let dir = tempfile::tempdir().unwrap();
    story(dir.path());
    let d = dir.path().to_str().unwrap();
    let common = [
        "--since",
        "2026-11-26",
        "--until",
        "2026-11-27",
        "--working-hours",
        "08:00-18:00",
        "--tz",
        "+01:00",
    ];

    let o = tool(&[&["report", d, "--json"][..], &common[..]].concat());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["records"], 6);
    assert_eq!(r["actors"]["alice"]["denied"], 1);
    assert_eq!(r["actors"]["bob"]["denied"], 1);
    let flags = r["flags"].as_array().unwrap();
    let kinds: Vec<&str> = flags.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"outside_working_hours"), "{flags:#?}");
    assert!(kinds.contains(&"new_source_address"), "{flags:#?}");
    for f in flags {
        assert_eq!(f["actor"], "carol", "{f}");
        assert_eq!(f["correlation_ids"], json!(["night-1005"]), "{f}");
    }
    let hours = flags
        .iter()
        .find(|f| f["kind"] == "outside_working_hours")
        .unwrap();
    assert!(
        hours["detail"].as_str().unwrap().contains("03:12"),
        "{hours}"
    );
    let addr = flags
        .iter()
        .find(|f| f["kind"] == "new_source_address")
        .unwrap();
    assert!(
        addr["detail"].as_str().unwrap().contains("192.0.2.250"),
        "{addr}"
    );

    let o = tool(&[&["report", d][..], &common[..]].concat());
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    let flag_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[correlation_id"))
        .collect();
    assert!(flag_lines.len() >= 2, "{text}");
    assert!(
        flag_lines
            .iter()
            .all(|l| l.contains("carol") && l.contains("night-1005")),
        "{text}"
    );
    assert!(
        text.contains("outside_working_hours") && text.contains("new_source_address"),
        "{text}"
    );
    assert!(
        !text.contains("d2-day"),
        "no daytime request is flagged:\n{text}"
    );

    // In the daytime zone of the first day alone, nothing is flagged.
    let o = tool(&[
        "report",
        d,
        "--until",
        "2026-11-26",
        "--tz",
        "+01:00",
        "--json",
    ]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["flags"], json!([]), "{r}");

    // The same by zone name (November: Berlin is at +01:00).
    let o = tool(&[
        "report",
        d,
        "--until",
        "2026-11-26",
        "--tz",
        "Europe/Berlin",
        "--json",
    ]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["flags"], json!([]), "{r}");

    let o = tool(&["report", d, "--tz", "Mars/Olympus_Mons"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("time zone name"));
}
