//! The cursor is checked against the trail before shipping resumes, through the real
//! `tracing-audit ship`: a forged one (skipping records, or pointing past the end, into a
//! missing file or into a line) is refused with its own exit code and nothing is shipped; a
//! deliberate start mid-trail (`--start-at-seq`) is announced, and the central `verify
//! --received` reports it as such, not as a cut head. And every record of a wide or deep event
//! arrives at a real rsyslogd.

mod ship_hostile;
mod ship_support;

use ship_hostile::Then;
use ship_support::{local_records, Input, Rsyslog};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
}

fn ship_until_idle(trail: &Path, to: &str, state: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["ship", "--until-idle", "--prefix", "audit", "--dir"])
        .arg(trail)
        .args(["--to", to, "--state"])
        .arg(state)
        .args(extra)
        .output()
        .unwrap()
}

/// A one-file trail of 1000 audit records and the file's name.
fn trail(dir: &Path) -> (PathBuf, String, Vec<serde_json::Value>, Vec<u64>) {
    let trail = dir.join("trail");
    ship_support::write_trail(&trail, 1000, 64 << 20);
    let names: Vec<String> = std::fs::read_dir(&trail)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("audit.") && n.ends_with(".jsonl") && !n.contains("current"))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let bytes = std::fs::read(trail.join(&names[0])).unwrap();
    let mut ends = Vec::new();
    let mut records = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            let start = ends.last().map_or(0, |&e: &u64| e as usize);
            records.push(serde_json::from_slice(&bytes[start..i]).unwrap());
            ends.push(i as u64 + 1);
        }
    }
    (trail, names[0].clone(), records, ends)
}

fn cursor(file: &str, offset: u64, seq: &serde_json::Value, mac: &str) -> String {
    serde_json::json!({"version": 1, "streams": {"audit": {"file": file, "offset": offset, "seq": seq, "mac": mac}}})
        .to_string()
}

#[test]
fn a_forged_cursor_is_refused_and_nothing_is_shipped() {
    let tmp = tempfile::tempdir().unwrap();
    let (trail, file, records, ends) = trail(tmp.path());
    let server = ship_hostile::relp(usize::MAX, Then::Silent);
    let to = format!("relp://127.0.0.1:{}", server.port);
    let bogus = format!("hmac-sha256:{}", "0".repeat(64));
    let r500 = &records[499];
    let last = records.last().unwrap();
    let forged = [
        // Skips the first 500 records, with a MAC nobody computed.
        (
            "skip 500",
            cursor(&file, ends[499], &r500["seq"], &bogus),
            "MAC",
        ),
        // The right seq and MAC, but the offset one record further.
        (
            "moved offset",
            cursor(
                &file,
                ends[500],
                &r500["seq"],
                r500["mac"].as_str().unwrap(),
            ),
            "seq",
        ),
        (
            "past the end",
            cursor(
                &file,
                ends[999] + 4096,
                &last["seq"],
                last["mac"].as_str().unwrap(),
            ),
            "past its end",
        ),
        (
            "missing file",
            cursor("audit.2020-01-01.0001.jsonl", 100, &r500["seq"], &bogus),
            "not in the trail",
        ),
        (
            "inside a line",
            cursor(
                &file,
                ends[499] - 7,
                &r500["seq"],
                r500["mac"].as_str().unwrap(),
            ),
            "inside a line",
        ),
    ];
    for (what, text, why) in forged {
        let state = tmp.path().join(format!("{what}.cursor"));
        std::fs::write(&state, &text).unwrap();
        let out = ship_until_idle(&trail, &to, &state, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{what}: {stderr}");
        assert!(
            stderr.contains("refusing to resume from the cursor") && stderr.contains(why),
            "{what}: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            text,
            "{what}: the cursor is left as it was"
        );
    }
    assert_eq!(
        (server.accepted(), server.messages()),
        (0, 0),
        "nothing was shipped"
    );

    // The genuine cursor of record 500 resumes after it.
    let state = tmp.path().join("genuine.cursor");
    let genuine = cursor(
        &file,
        ends[499],
        &r500["seq"],
        r500["mac"].as_str().unwrap(),
    );
    std::fs::write(&state, genuine).unwrap();
    let server = ship_hostile::relp(usize::MAX, Then::Silent);
    let to = format!("relp://127.0.0.1:{}", server.port);
    let out = ship_until_idle(&trail, &to, &state, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.acked(), records.len() - 500);
}

fn verify_received(copy: &Path, key: &Path) -> (Option<i32>, serde_json::Value, String) {
    let out = bin()
        .args(["verify", "--json", "--key-file"])
        .arg(key)
        .arg("--received")
        .arg(copy)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap();
    let text = bin()
        .args(["verify", "--key-file"])
        .arg(key)
        .arg("--received")
        .arg(copy)
        .output()
        .unwrap();
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&text.stdout).into_owned(),
    )
}

#[test]
fn a_deliberate_start_mid_trail_is_announced_and_reported_as_such_by_verify_received() {
    let tmp = tempfile::tempdir().unwrap();
    let (trail, _, records, _) = trail(tmp.path());
    let key = tmp.path().join("chain.key");
    std::fs::write(&key, b"shipping test chain key").unwrap();
    let central = Rsyslog::start(&tmp.path().join("central"), Input::Relp, 64 * 1024);
    let to = format!("relp://127.0.0.1:{}", central.port);
    let start = records[500]["seq"].as_u64().unwrap();
    let state = tmp.path().join("ship.cursor");
    let out = ship_until_idle(&trail, &to, &state, &["--start-at-seq", &start.to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("starting at seq {start} on purpose")),
        "{stderr}"
    );
    let shipped = records.len() - 500;
    let copy = central.wait_for_bytes(&central.audit_log(), 1, Duration::from_secs(30));
    ship_support::wait_until(
        Duration::from_secs(30),
        || ship_support::lines(&std::fs::read(central.audit_log()).unwrap()) > shipped,
        || format!("rsyslogd: {}", central.stderr()),
    );
    assert!(
        copy.starts_with(b"{\"ship_start\":{"),
        "the marker comes first"
    );

    let (code, report, text) = verify_received(&central.audit_log(), &key);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["first_seq"], start, "{report}");
    assert_eq!(report["records"], shipped as u64, "{report}");
    assert_eq!(report["deliberate_start"]["seq"], start, "{report}");
    assert!(
        text.contains(&format!("intact from seq {start} on (a deliberate start")),
        "{text}"
    );

    // The same copy without its marker is a cut head; with a marker naming another record,
    // the marker is reported.
    let received = std::fs::read(central.audit_log()).unwrap();
    let nl = received.iter().position(|&b| b == b'\n').unwrap();
    let cut = tmp.path().join("cut.log");
    std::fs::write(&cut, &received[nl + 1..]).unwrap();
    let (code, report, _) = verify_received(&cut, &key);
    assert_eq!(code, Some(12), "{report}");
    assert!(report["deliberate_start"].is_null(), "{report}");
    let moved = tmp.path().join("moved.log");
    let marker = String::from_utf8_lossy(&received[..nl]).replace(
        &format!("\"seq\":{start}"),
        &format!("\"seq\":{}", start - 100),
    );
    std::fs::write(&moved, [marker.as_bytes(), &received[nl..]].concat()).unwrap();
    let (code, report, _) = verify_received(&moved, &key);
    assert_ne!(code, Some(0), "{report}");
    assert_eq!(report["intact"], false, "{report}");

    // Later runs resume from the cursor the deliberate start left, checked as usual.
    let again = ship_until_idle(&trail, &to, &state, &[]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("audit: 0 acknowledged, 0 shipped"));
}

mod wide {
    //! An event with ten thousand fields: a callsite built at run time (the macros stop at a
    //! few dozen fields), dispatched like the macros do.
    use std::sync::LazyLock;
    use tracing::callsite::{Callsite, Identifier};
    use tracing::field::{FieldSet, Value};
    use tracing::metadata::{Kind, Level, Metadata};
    use tracing_core::Interest;

    pub const FIELDS: usize = 10_000;

    struct Wide;
    static WIDE: Wide = Wide;
    static META: LazyLock<Metadata<'static>> = LazyLock::new(|| {
        let mut names: Vec<&'static str> = vec!["actor", "action", "outcome"];
        names.extend((3..FIELDS).map(|i| &*Box::leak(format!("field_{i}").into_boxed_str())));
        Metadata::new(
            "wide event",
            "audit",
            Level::INFO,
            Some(file!()),
            Some(line!()),
            Some(module_path!()),
            FieldSet::new(Box::leak(names.into_boxed_slice()), Identifier(&WIDE)),
            Kind::EVENT,
        )
    });

    impl Callsite for Wide {
        fn set_interest(&self, _: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            &META
        }
    }

    /// Emits the event through the current dispatcher.
    pub fn emit() {
        tracing_core::callsite::register(&WIDE);
        let values: Vec<u64> = (0..FIELDS as u64).collect();
        let strings = ["alice", "read", "success"];
        let mut refs: Vec<Option<&dyn Value>> =
            strings.iter().map(|s| Some(s as &dyn Value)).collect();
        refs.extend(values[3..].iter().map(|v| Some(v as &dyn Value)));
        let fields = META.fields();
        let set = fields.value_set_all(&refs);
        tracing::dispatcher::get_default(|d| {
            if d.enabled(&META) {
                d.event(&tracing::Event::new(&META, &set));
            }
        });
    }
}

#[test]
fn every_record_of_a_wide_or_deep_event_arrives_at_rsyslogd() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("trail");
    ship_support::write_events(tracing_audit::sink::FileSink::new(&trail), || {
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        tracing::info!(target: "audit", actor = "alice", action = "login", outcome = "success");
        wide::emit();
        // Under ten thousand nested spans (on a thread with the stack the registry needs to
        // close them).
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let mut guards = Vec::new();
                    for i in 0..9_999 {
                        guards.push(tracing::info_span!("nested", depth = i).entered());
                    }
                    tracing::info!(target: "audit", actor = "alice", action = "deep", outcome = "success");
                    drop(guards);
                });
            })
            .unwrap()
            .join()
            .unwrap();
        tracing::info!(target: "audit", actor = "alice", action = "logout", outcome = "success");
    });
    let written = local_records(&trail);
    let text = String::from_utf8_lossy(&written);
    assert!(text.contains("\"field_9\""), "the wide event was written");
    assert!(
        text.contains("\"action\":\"deep\""),
        "the deep event was written"
    );
    assert!(
        text.lines().filter(|l| l.contains("\"cut\":{")).count() == 2,
        "both were cut to the record cap"
    );

    let central = Rsyslog::start(&tmp.path().join("central"), Input::Relp, 64 * 1024);
    let to = format!("relp://127.0.0.1:{}", central.port)
        .parse()
        .unwrap();
    let health = ship_support::until_idle(
        tracing_audit::ship::Shipper::new(&trail, to).poll_interval(Duration::from_millis(20)),
        Duration::from_secs(60),
        &central,
    );
    assert_eq!(health.refused_oversize, 0, "{health:?}");
    assert_eq!(
        health.acknowledged as usize,
        ship_support::lines(&written),
        "{health:?}"
    );
    ship_support::assert_arrived_intact(&central, &written);
}
