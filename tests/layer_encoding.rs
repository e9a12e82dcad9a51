//! Encoding: one parseable line per record whatever the values hold, schema-valid records,
//! no interleaving, no deadlock on nested events.

mod support;

use proptest::prelude::*;
use std::fmt;
use support::Harness;
use tracing::{info, info_span};
use tracing_audit::redact::detect::DetectorSet;
use tracing_audit::Stream;

fn schema() -> jsonschema::JSONSchema {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::JSONSchema::compile(&value).expect("docs/schema.json compiles")
}

fn assert_valid(schema: &jsonschema::JSONSchema, record: &serde_json::Value) {
    if let Err(errors) = schema.validate(record) {
        let msgs: Vec<String> = errors
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        panic!("record violates docs/schema.json: {msgs:?}\n{record:#}");
    }
}

/// Strings mixing arbitrary characters with everything that could break a line or a terminal.
fn nasty_string() -> impl Strategy<Value = String> {
    let nasty = prop::sample::select(vec![
        '\n', '\r', '\t', '"', '\\', '\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}', '\u{2028}',
        '\u{2029}', '\u{feff}', '{', '}',
    ]);
    prop::collection::vec(prop_oneof![any::<char>(), nasty], 0..48)
        .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_value_yields_exactly_one_parseable_line(value in nasty_string(), debug_value in nasty_string()) {
        let mut h = Harness::new(|b| b);
        h.run(|| {
            let _s = info_span!("request", span_value = %value).entered();
            info!(target: "audit", actor = %value, action = "x", outcome = "success", note = %value, dbg = ?debug_value, "{value}");
            tracing::debug!(note = %value, "{debug_value}");
        });
        let audit = h.audit_records();
        let debug = h.debug.records();
        prop_assert_eq!(audit.len(), 1);
        prop_assert_eq!(debug.len(), 1);
        // Round trip: what was written is what was logged, after the detectors (random text can
        // look like an IPv6 address, `::0`).
        let expected = DetectorSet::for_stream(Stream::Audit).scrub(&format!("{debug_value:?}"), None).into_owned();
        prop_assert_eq!(audit[0]["fields"]["dbg"].as_str().unwrap(), expected.as_str());
        for line in h.audit.text().lines().chain(h.debug.text().lines()) {
            let clean = !line.contains('\r') && !line.contains('\u{2028}') && !line.contains('\u{1b}');
            prop_assert!(clean, "raw control character in {:?}", line);
        }
    }
}

#[test]
fn every_record_validates_against_the_json_schema() {
    let schema = schema();
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = tracing_audit::layer::AuditLayer::builder()
        .audit_to_files(
            tracing_audit::sink::FileSink::new(dir.path().join("audit")).max_file_size(2_000),
        )
        .debug_to_files(tracing_audit::sink::FileSink::new(dir.path().join("debug")))
        .debug_filter("trace")
        .chain(tracing_audit::chain::ChainConfig::new().checkpoint_every(5))
        .build()
        .unwrap();
    use tracing_subscriber::prelude::*;
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..40u64 {
            let span = info_span!(
                "request",
                request_id = i,
                user = "u",
                late = tracing::field::Empty
            );
            let _e = span.enter();
            span.record("late", "now");
            info!(target: "audit", actor = "alice", action = "read", resource = "/r", outcome = "success", src_ip = "10.0.0.1", session = "s1", reason = "policy", big = u128::MAX, f = f64::NAN, "ok {i}");
            info!(target: "audit", action = "incomplete");
            tracing::debug!(n = i, neg = -5i64, b = true, e = 1.5f64, "debug {i}");
            tracing::error!(
                error = &std::io::Error::other("boom") as &(dyn std::error::Error + 'static)
            );
        }
        info!(target: "audit", actor = "outside", action = "no-span", outcome = "denied");
    });
    drop(guard);
    let mut n = 0;
    for stream in ["audit", "debug"] {
        for entry in std::fs::read_dir(dir.path().join(stream)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("jsonl") || path.is_symlink() {
                continue;
            }
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let record: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_valid(&schema, &record);
                n += 1;
            }
        }
    }
    assert!(n > 160, "only {n} records were checked");
}

#[test]
fn schema_rejects_a_record_missing_its_keys() {
    let schema = schema();
    let bad = serde_json::json!({"ts": "2026-11-26T05:56:07.123456789Z", "stream": "audit", "level": "INFO", "target": "audit", "fields": {}});
    assert!(
        schema.validate(&bad).is_err(),
        "an unchained audit record must not validate"
    );
}

struct LogsWhileFormatting;

impl fmt::Debug for LogsWhileFormatting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        info!(target: "audit", actor = "nested", action = "inner", outcome = "success");
        tracing::debug!("inner debug");
        f.write_str("outer-value")
    }
}

#[test]
fn nested_events_while_formatting_neither_deadlock_nor_misroute() {
    let mut h = Harness::new(|b| b);
    h.run(|| {
        let span = info_span!("request", v = ?LogsWhileFormatting, late = tracing::field::Empty);
        let _e = span.enter();
        span.record("late", tracing::field::debug(LogsWhileFormatting));
        info!(target: "audit", actor = "outer", action = "outer", outcome = "success", v = ?LogsWhileFormatting);
        tracing::debug!(v = ?LogsWhileFormatting, "outer debug");
    });
    let audit = h.audit_records();
    let debug = h.debug.records();
    let outer: Vec<_> = audit.iter().filter(|r| r["actor"] == "outer").collect();
    assert_eq!(outer.len(), 1);
    assert_eq!(outer[0]["fields"]["v"], "outer-value");
    assert_eq!(outer[0]["spans"][0]["fields"]["late"], "outer-value");
    assert_eq!(
        debug
            .iter()
            .filter(|r| r["message"] == "outer debug")
            .count(),
        1
    );
    // tracing-core drops most events emitted from inside a dispatch; those that do get through
    // must land in their own stream, whole.
    assert!(audit
        .iter()
        .all(|r| r["actor"] == "outer" || r["actor"] == "nested"));
    assert!(debug.iter().all(|r| r.get("actor").is_none()
        && (r["message"] == "outer debug" || r["message"] == "inner debug")));
}

#[test]
fn two_threads_never_interleave_bytes_within_a_line() {
    let mut h = Harness::new(|b| b);
    let dispatch = h.dispatch();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let long = format!("{t}").repeat(5_000);
                    for i in 0..500 {
                        info!(target: "audit", actor = %t, action = "w", outcome = "success", i, long = %long);
                        tracing::debug!(t, i, long = %long);
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(dispatch);
    let audit = h.audit_records();
    let debug = h.debug.records();
    assert_eq!(audit.len(), 1000);
    assert_eq!(debug.len(), 1000);
    for r in &audit {
        let actor = r["actor"].as_str().unwrap();
        assert_eq!(r["fields"]["long"].as_str().unwrap(), actor.repeat(5_000));
    }
}

#[test]
fn numbers_json_cannot_hold_and_long_values_are_handled() {
    let mut h = Harness::new(|b| b.max_value_len(100));
    h.run(|| {
        tracing::debug!(big = u128::MAX, small = -3i128, nan = f64::NAN, inf = f64::INFINITY, long = %"x".repeat(1000));
    });
    let d = &h.debug_records()[0]["fields"];
    assert_eq!(d["big"], u128::MAX.to_string());
    assert_eq!(d["small"], -3);
    assert_eq!(d["nan"], "NaN");
    assert_eq!(d["inf"], "inf");
    let long = d["long"].as_str().unwrap();
    assert!(long.starts_with(&"x".repeat(100)));
    assert!(long.ends_with("…[truncated 900 bytes]"), "{long}");
}

#[test]
fn error_values_keep_their_source_chain() {
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("request failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let mut h = Harness::new(|b| b);
    let err = Outer(std::io::Error::other("connection reset"));
    h.run(|| {
        tracing::error!(
            error = &err as &(dyn std::error::Error + 'static),
            "call failed"
        )
    });
    assert_eq!(
        h.debug_records()[0]["fields"]["error"],
        "request failed: connection reset"
    );
}
