//! The scrub library: field-name rules in JSON mode, one-line output whatever the input holds,
//! and private keys spanning several text lines.

use tracing_audit::redact::{Action, FieldRules, Pseudonymizer, ScrubErrorKind, Scrubber};
use tracing_audit::Stream;

fn scrubber() -> Scrubber {
    Scrubber::for_stream(Stream::Debug)
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn json_values_under_secret_keys_are_masked_at_any_depth() {
    let line = r#"{"user":"bob","password":"hunter2","api_key":"x","aws_secret_access_key":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","headers":{"cookie":"sid=abc","Authorization":"granted"},"list":[{"passphrase":"open sesame"},{"pin":1234}],"password_changed_at":"2026-11-26T05:56:07Z","token_count":12}"#;
    let out = scrubber().scrub_json_line(line).unwrap();
    for secret in ["hunter2", "wJalrXUtnFEMI", "sid=abc", "open sesame", "1234"] {
        assert!(!out.contains(secret), "{secret} in {out}");
    }
    let v = json(&out);
    assert_eq!(v["user"], "bob");
    assert_eq!(v["password"], "[REDACTED]");
    assert_eq!(v["api_key"], "[REDACTED]");
    assert_eq!(v["headers"]["cookie"], "[REDACTED]");
    assert_eq!(v["list"][1]["pin"], "[REDACTED]");
    assert_eq!(v["password_changed_at"], "2026-11-26T05:56:07Z");
    assert_eq!(v["token_count"], 12);
}

#[test]
fn json_rules_can_drop_hash_and_keep() {
    let s = scrubber()
        .field_rules(
            FieldRules::default()
                .rule("actor", Action::Hash)
                .rule("debug_blob", Action::Drop)
                .rule("password_hint", Action::Keep),
        )
        .hasher(Pseudonymizer::new(b"k"));
    let out = s
        .scrub_json_line(r#"{"actor":"alice","debug_blob":{"a":1},"password_hint":"pet","n":null}"#)
        .unwrap();
    let v = json(&out);
    assert_eq!(v["actor"], Pseudonymizer::new(b"k").pseudonym("alice"));
    assert!(v.get("debug_blob").is_none(), "{out}");
    assert_eq!(v["password_hint"], "pet");
    assert_eq!(v["n"], serde_json::Value::Null);
}

#[test]
fn json_values_go_through_the_detectors_with_their_key_as_context() {
    let out = scrubber()
        .scrub_json_line(r#"{"msg":"login password=hunter2 from 10.1.2.3","trace_id":"4111111111111111","card":"4111111111111111"}"#)
        .unwrap();
    let v = json(&out);
    assert_eq!(
        v["msg"],
        "login password=[REDACTED:keyword_secret] from [REDACTED:ip_address]"
    );
    assert_eq!(v["trace_id"], "4111111111111111");
    assert_eq!(v["card"], "[REDACTED:card_number]");
}

#[test]
fn json_output_is_one_line_with_separators_c1_and_del_escaped() {
    for value in [
        "plain\u{2028}line\u{2029}para\u{85}next\u{9b}csi\u{7f}del",
        "token=ghp_16C7e42F292c6912E7710c838347Ae178B4a \u{2028}\u{85}\u{7f}",
    ] {
        // serde_json writes these raw, as JSON allows.
        let line = serde_json::json!({ "msg": value, "k": [value] }).to_string();
        assert!(line.contains('\u{2028}'), "the input holds them raw");
        let out = scrubber().scrub_json_line(&line).unwrap();
        for raw in [
            '\u{2028}', '\u{2029}', '\u{85}', '\u{9b}', '\u{7f}', '\n', '\r',
        ] {
            assert!(!out.contains(raw), "{raw:?} unescaped in {out:?}");
        }
        assert!(
            out.contains("\\u2028") && out.contains("\\u0085") && out.contains("\\u007f"),
            "{out}"
        );
        let back = json(&out);
        assert!(back["msg"]
            .as_str()
            .unwrap_or_default()
            .contains('\u{2028}'));
    }
}

#[test]
fn scrub_json_line_refuses_what_is_not_json() {
    for line in ["not json", "{\"a\":", "{} {}"] {
        let err = scrubber().scrub_json_line(line).unwrap_err();
        assert_eq!(err.kind(), ScrubErrorKind::NotJson, "{line}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn a_private_key_spanning_text_lines_is_masked_to_its_end_line() {
    let input = "\
2026-11-26 INFO loading key
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA7bq98v1JmF2u1M5q9Zr0a3Fz8kYwx2LmQ
q9Zr0a3Fz8kYwx2LmQ7bq98v1JmF2u1M5MIIEowIBAAKCAQEA
-----END RSA PRIVATE KEY-----
{\"msg\":\"after\",\"password\":\"x\"}
plain line
";
    let mut out = Vec::new();
    scrubber().scrub_lines(input.as_bytes(), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(!out.contains("MIIEowIBAAKCAQEA"), "{out}");
    assert!(!out.contains("q9Zr0a3Fz8"), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "{out}");
    assert_eq!(lines[1], "-----BEGIN RSA PRIVATE KEY-----");
    assert_eq!(lines[2], "[REDACTED:private_key]");
    assert_eq!(lines[4], "-----END RSA PRIVATE KEY-----");
    assert_eq!(lines[5], r#"{"msg":"after","password":"[REDACTED]"}"#);
    assert_eq!(lines[6], "plain line");
}

#[test]
fn line_endings_are_kept() {
    let mut out = Vec::new();
    scrubber()
        .scrub_lines("a\r\nb\nc".as_bytes(), &mut out)
        .unwrap();
    assert_eq!(out, b"a\r\nb\nc");
}
