//! The issue-23 corpus: every class of secret and personal data the third detection round
//! added, and look-alikes of each, generated from a fixed seed and run through the real layer
//! (field, message, `Debug` value, error source) and through `scrub` (text and JSON). The build
//! part is what the detectors were built against; the hold-out part (another seed, the shape
//! variants of `tests/detect_round3/HOLDOUT.md`) was run only once they were done.

#[path = "detect_corpus/cases.rs"]
mod cases;
#[path = "detect_round3/gen.rs"]
mod gen;
#[path = "detect_corpus/paths.rs"]
mod paths;
mod support;

use gen::{corpus, Part};
use support::Harness;
use tracing_audit::redact::Scrubber;
use tracing_audit::Stream;

fn run(part: Part) {
    let cases = corpus(part);
    let secrets = cases.iter().filter(|c| c.is_secret()).count();
    assert!(secrets >= 150, "{secrets} secrets");
    assert!(
        cases.len() - secrets >= 60,
        "{} look-alikes",
        cases.len() - secrets
    );
    println!("== {part:?} ==");
    let (_, failures) = paths::score(&cases);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn build_part_every_secret_vanishes_and_every_look_alike_survives() {
    run(Part::Build);
}

#[test]
fn hold_out_part_every_secret_vanishes_and_every_look_alike_survives() {
    run(Part::HoldOut);
}

/// A configuration as services define it, with `Debug` derived.
#[derive(Debug)]
#[allow(dead_code)]
struct Config {
    host: String,
    password: Option<String>,
    token: Secret,
}

#[derive(Debug)]
#[allow(dead_code)]
struct Secret(String);

/// `{:#?}` in a message puts `Some(` and the value on separate lines; `?` on a multi-line
/// string escapes its line breaks, so a token after one follows `\n`.
#[test]
fn pretty_debug_and_escaped_breaks_through_the_layer() {
    let config = Config {
        host: "db.internal".to_owned(),
        password: Some("Tr0ub4dor&3x".to_owned()),
        token: Secret("q8Zr2LmX4vN7pK1s".to_owned()),
    };
    let multi_line =
        "step 1 ok\nghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A\tsk_live_4eC39HqLyjWDarjtT1zdp7dc"
            .to_owned();
    let mut harness = Harness::new(|b| b);
    harness.run(|| {
        tracing::info!(target: "audit", after = "tail", "loaded {:#?}", config);
        tracing::info!(target: "audit", note = ?format!("{config:#?}"), after = "tail");
        tracing::info!(target: "audit", note = ?multi_line, after = "tail");
    });
    let records = harness.audit_records();
    assert_eq!(records.len(), 3);
    for record in &records {
        let text = record.to_string();
        for secret in [
            "Tr0ub4dor",
            "q8Zr2LmX4vN7pK1s",
            "aB3dE5fG7hJ9kL1mN3pQ5rS7",
            "4eC39HqLyjWDarjtT1zdp7dc",
        ] {
            assert!(!text.contains(secret), "{secret} survived in {text}");
        }
        assert_eq!(record["fields"]["after"], "tail", "{text}");
    }
    for record in &records[..2] {
        assert!(record.to_string().contains("db.internal"), "{record}");
    }
    assert!(records[0]["message"].as_str().is_some_and(
        |m| m.contains("password: Some(\n        \"[REDACTED:keyword_secret]\",\n    )")
    ));
}

/// `scrub`'s JSON mode: a card number written as a JSON number, and the private members of a
/// JSON Web Key, whose one-letter names say nothing without the `kty` beside them.
#[test]
fn scrub_json_reads_card_numbers_as_numbers_and_keys_by_their_kty() {
    let scrubber = Scrubber::for_stream(Stream::Debug);
    let line = r#"{"pan":4111111111111111,"amount":1234567890123,"order_id":4111111111111111}"#;
    let out = scrubber.scrub_json_line(line).expect("JSON");
    let value: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(value["pan"], "[REDACTED:card_number]");
    assert_eq!(value["amount"], 1_234_567_890_123_u64);
    assert_eq!(
        value["order_id"], 4_111_111_111_111_111_u64,
        "an id field keeps its number"
    );
    let jwk = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}"#;
    let out = scrubber.scrub_json_line(jwk).expect("JSON");
    let value: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(value["keys"][0]["d"], "[REDACTED]");
    assert_eq!(
        value["keys"][0]["x"], "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "public"
    );
    let not_a_key = r#"{"d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI","p":"page-2"}"#;
    assert_eq!(
        scrubber.scrub_json_line(not_a_key).expect("JSON"),
        not_a_key
    );
}

/// Shapes met after the corpus was run: a `.netrc` line holding no byte that starts any other
/// trigger.
#[test]
fn a_netrc_line_without_any_other_trigger_is_read() {
    let scrubber = Scrubber::for_stream(Stream::Debug);
    assert_eq!(
        scrubber.scrub_text("default login joe password hunter2q"),
        "default login joe password [REDACTED:keyword_secret]"
    );
    assert_eq!(
        scrubber.scrub_text("the default password is set by the admin"),
        "the default password is set by the admin"
    );
}
