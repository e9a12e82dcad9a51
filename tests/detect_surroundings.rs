//! A detector replaces the secret part of its match and nothing else: random text before and
//! after a match of every detector (placeholders such as `--password <password>`, masks,
//! quotes, brackets, escaped and real line breaks among it) comes out byte for byte, through the
//! real layer (message, field, `Debug` value, error source, with a field after the value) and
//! through `scrub` (text and JSON), and every record stays one valid JSON line.

mod support;

use std::fmt;

use proptest::prelude::*;
use support::Harness;
use tracing_audit::redact::Scrubber;
use tracing_audit::Stream;

/// A secret as logged, and the part of it that must not survive.
#[derive(Clone, Debug)]
struct Sample {
    logged: &'static str,
    core: &'static str,
}

/// One match of every detector, each in a form that ends where the match ends.
const SAMPLES: &[Sample] = &[
    Sample {
        logged: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2J5dGVz",
        core: "eyJzdWIiOiIxMjM0In0",
    },
    Sample {
        logged: "Bearer abcdef0123456789XYZ",
        core: "abcdef0123456789XYZ",
    },
    Sample {
        logged: "AKIAIOSFODNN7EXAMPL3",
        core: "AKIAIOSFODNN7EXAMPL3",
    },
    Sample {
        logged: "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A",
        core: "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A",
    },
    Sample {
        logged: "xoxb-1234567890-abcdefGHIJ",
        core: "1234567890-abcdefGHIJ",
    },
    Sample {
        logged: "https://svc:hunter2x@db.internal/x",
        core: "hunter2x",
    },
    Sample {
        logged: "4111 1111 1111 1111",
        core: "1111 1111 1111",
    },
    Sample {
        logged: "alice.smith@example.com",
        core: "alice.smith",
    },
    Sample {
        logged: "078-05-1121",
        core: "078-05-1121",
    },
    Sample {
        logged: "10.1.2.3",
        core: "10.1.2.3",
    },
    Sample {
        logged: "password=hunter2x",
        core: "hunter2x",
    },
    Sample {
        logged: "<password>hunter2x</password>",
        core: "hunter2x",
    },
    Sample {
        logged: "Secret(\"hunter2x\")",
        core: "hunter2x",
    },
    Sample {
        logged: "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        core: "4eC39HqLyjWDarjtT1zdp7dc",
    },
    Sample {
        logged: "DE89370400440532013000",
        core: "370400440532013000",
    },
    Sample {
        logged: "+44 20 7946 0958",
        core: "7946 0958",
    },
];

/// Text around a match: words, punctuation, quotes, brackets, line breaks real and escaped, and
/// the placeholders and masks that must be left as they are.
const PIECES: &[&str] = &[
    "ok",
    "then",
    "done",
    "retrying",
    ",",
    ";",
    ".",
    ")",
    "(",
    "]",
    "[",
    "}",
    "{",
    "\"",
    "'",
    "\n",
    "\t",
    "\\n",
    "\\t",
    "<password>",
    "--password <password>",
    "--token <token>",
    "<api-key>",
    "***",
    "********",
    "${DB_PASSWORD}",
    "[REDACTED]",
    "x=1",
    "id: 42",
    "n=3",
    "<b>",
    "</b>",
    "-",
    "--",
    "#",
    "/",
    "->",
    "=>",
    "|",
];

/// Pieces joined by spaces, never ending in a word that would glue to the match.
fn surrounding() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..6).prop_map(|p| p.join(" "))
}

#[derive(Clone, Debug)]
struct Case {
    before: String,
    sample: Sample,
    after: String,
}

impl Case {
    fn text(&self) -> String {
        format!("{} {} {}", self.before, self.sample.logged, self.after)
    }
}

fn cases() -> impl Strategy<Value = Vec<Case>> {
    prop::collection::vec(
        (surrounding(), prop::sample::select(SAMPLES), surrounding()).prop_map(
            |(before, sample, after)| Case {
                before,
                sample,
                after,
            },
        ),
        1..24,
    )
}

/// A value logged with `?`: its `Debug` rendering is what the layer scrubs.
#[derive(Debug)]
#[allow(dead_code)]
struct Wrapper(String);

#[derive(Debug)]
struct Failed(String);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Failed {}

/// The text before and after the match, as `Debug` writes them inside a string.
fn debug_parts(case: &Case) -> (String, String) {
    let before = format!("{:?}", format!("{} ", case.before));
    let after = format!("{:?}", format!(" {}", case.after));
    (before[..before.len() - 1].to_owned(), after[1..].to_owned())
}

/// Checks that `written` is `before`, something without the secret, and `after`.
fn intact(written: &str, before: &str, after: &str, case: &Case, path: &str) {
    assert!(
        written.starts_with(before) && written.ends_with(after),
        "{path}: surroundings changed\n  logged:  {:?}\n  written: {written:?}",
        case.text()
    );
    assert!(
        !written.contains(case.sample.core),
        "{path}: secret survived in {written:?}"
    );
}

fn through_the_layer(cases: &[Case]) {
    let mut harness = Harness::new(|b| b);
    harness.run(|| {
        for (i, case) in cases.iter().enumerate() {
            let text = case.text();
            tracing::info!(target: "audit", case = i, path = "message", after = "tail", "{}", text);
            tracing::info!(target: "audit", case = i, path = "field", note = text.as_str(), after = "tail");
            tracing::info!(target: "audit", case = i, path = "debug", note = ?Wrapper(text.clone()), after = "tail");
            let error = Failed(text);
            tracing::info!(
                target: "audit",
                case = i,
                path = "error",
                note = &error as &(dyn std::error::Error + 'static),
                after = "tail"
            );
        }
    });
    let records = harness.audit_records();
    assert_eq!(records.len(), cases.len() * 4, "one record per event");
    for record in records {
        let fields = &record["fields"];
        assert_eq!(fields["after"], "tail", "the next field survives: {record}");
        let case = &cases[fields["case"].as_u64().expect("case") as usize];
        let path = fields["path"].as_str().expect("path");
        let plain = (format!("{} ", case.before), format!(" {}", case.after));
        match path {
            "message" => {
                let written = record["message"].as_str().expect("message");
                intact(written, &plain.0, &plain.1, case, path);
            }
            "field" | "error" => {
                let written = fields["note"].as_str().expect("note");
                intact(written, &plain.0, &plain.1, case, path);
            }
            _ => {
                let written = fields["note"].as_str().expect("note");
                let (before, after) = debug_parts(case);
                intact(
                    written,
                    &format!("Wrapper({before}"),
                    &format!("{after})"),
                    case,
                    path,
                );
            }
        }
    }
}

fn through_scrub(cases: &[Case]) {
    let scrubber = Scrubber::for_stream(Stream::Debug);
    for case in cases {
        let text = case.text();
        let plain = (format!("{} ", case.before), format!(" {}", case.after));
        intact(
            &scrubber.scrub_text(&text),
            &plain.0,
            &plain.1,
            case,
            "scrub_text",
        );
        let line = serde_json::json!({ "note": text, "after": "tail" }).to_string();
        let scrubbed = scrubber.scrub_json_line(&line).expect("a JSON line");
        assert!(!scrubbed.contains('\n'), "one line: {scrubbed}");
        let value: serde_json::Value = serde_json::from_str(&scrubbed).expect("valid JSON");
        assert_eq!(value["after"], "tail");
        let written = value["note"].as_str().expect("note");
        intact(written, &plain.0, &plain.1, case, "scrub_json");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn redaction_leaves_the_surrounding_bytes_intact(cases in cases()) {
        through_scrub(&cases);
        through_the_layer(&cases);
    }
}

/// The case issue 23 reported: a usage text's placeholder inside a `Debug` value took the rest
/// of the value, its closing quote and the next field with it.
#[test]
fn a_placeholder_in_a_debug_value_keeps_the_rest_of_the_record() {
    let mut harness = Harness::new(|b| b);
    let usage = "usage: db-cli --password <password> --host <host> then retry";
    harness.run(|| {
        tracing::info!(target: "audit", note = ?Wrapper(usage.to_owned()), after = "tail");
    });
    let records = harness.audit_records();
    assert_eq!(
        records[0]["fields"]["note"],
        format!("{:?}", Wrapper(usage.to_owned()))
    );
    assert_eq!(records[0]["fields"]["after"], "tail");
    let scrubber = Scrubber::for_stream(Stream::Debug);
    assert_eq!(scrubber.scrub_text(usage), usage);
}
