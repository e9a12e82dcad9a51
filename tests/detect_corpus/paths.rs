#![allow(dead_code)]

//! The paths a corpus case is written through: the real layer (an event field, the message, a
//! `Debug` value, an error's source) into files, and the scrub library (text and JSON modes);
//! and the scoring of what came out.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::cases::{Case, Field};
use tracing_audit::layer::AuditLayer;
use tracing_audit::redact::Scrubber;
use tracing_audit::sink::FileSink;
use tracing_audit::Stream;
use tracing_subscriber::prelude::*;

/// A value logged with `?`: its `Debug` rendering is what the layer scrubs.
#[derive(Debug)]
#[allow(dead_code)]
struct Wrapper(String);

/// An error whose cause carries the text: the layer writes the whole chain.
#[derive(Debug)]
struct Failed(Cause);
#[derive(Debug)]
struct Cause(String);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request failed")
    }
}
impl std::error::Error for Failed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Cause {}

pub const PATHS: [&str; 6] = [
    "field",
    "message",
    "debug",
    "error",
    "scrub_text",
    "scrub_json",
];

/// How one case came out on one path.
pub struct Outcome {
    case: usize,
    path: &'static str,
    /// What was written for the case on that path.
    written: String,
    /// What a look-alike must be written as.
    expected: String,
}

fn field_name(field: Field) -> &'static str {
    match field {
        Field::Note => "note",
        Field::TraceId => "trace_id",
        Field::OrderId => "order_id",
    }
}

/// Logs every case four ways through the layer into files, and returns what was written.
pub fn through_the_layer(cases: &[Case], dir: &Path) -> Vec<Outcome> {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(dir.join("audit")))
        .debug_to_files(FileSink::new(dir.join("debug")))
        .debug_filter("trace")
        .build()
        .expect("layer builds");
    let handle = guard.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for (i, case) in cases.iter().enumerate() {
            let text = case.text.as_str();
            // The audit stream is lossless, so every case's records are there to check.
            match case.field {
                Field::Note => {
                    tracing::info!(target: "audit", case = i, path = "field", note = text)
                }
                Field::TraceId => {
                    tracing::info!(target: "audit", case = i, path = "field", trace_id = text)
                }
                Field::OrderId => {
                    tracing::info!(target: "audit", case = i, path = "field", order_id = text)
                }
            }
            let in_text = case.in_text();
            tracing::info!(target: "audit", case = i, path = "message", "{}", in_text);
            tracing::info!(target: "audit", case = i, path = "debug", note = ?Wrapper(in_text.clone()));
            let error = Failed(Cause(in_text));
            tracing::info!(
                target: "audit",
                case = i,
                path = "error",
                note = &error as &(dyn std::error::Error + 'static)
            );
        }
    });
    handle.sync().expect("audit records are on disk");
    drop(guard);

    let mut outcomes = Vec::new();
    for record in records(&dir.join("audit")) {
        let fields = &record["fields"];
        let (Some(case), Some(path)) = (fields["case"].as_u64(), fields["path"].as_str()) else {
            continue;
        };
        let case = case as usize;
        let c = &cases[case];
        let (path, written, expected) = match path {
            "field" => (
                "field",
                fields[field_name(c.field)]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                c.text.clone(),
            ),
            "message" => (
                "message",
                record["message"].as_str().unwrap_or_default().to_owned(),
                c.in_text(),
            ),
            "debug" => (
                "debug",
                fields["note"].as_str().unwrap_or_default().to_owned(),
                format!("{:?}", Wrapper(c.in_text())),
            ),
            "error" => (
                "error",
                fields["note"].as_str().unwrap_or_default().to_owned(),
                format!("request failed: {}", c.in_text()),
            ),
            _ => continue,
        };
        outcomes.push(Outcome {
            case,
            path,
            written,
            expected,
        });
    }
    outcomes
}

pub fn records(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("sink directory exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable file");
        for line in text.lines() {
            out.push(serde_json::from_str(line).expect("every line is one JSON object"));
        }
    }
    out
}

/// Scrubs every case with the scrub library, as text and as the value of a JSON line.
pub fn through_scrub(cases: &[Case]) -> Vec<Outcome> {
    let scrubber = Scrubber::for_stream(Stream::Debug);
    let mut outcomes = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let text = c.in_text();
        outcomes.push(Outcome {
            case: i,
            path: "scrub_text",
            written: scrubber.scrub_text(&text).into_owned(),
            expected: text.clone(),
        });
        let name = field_name(c.field);
        let mut object = serde_json::Map::new();
        object.insert("case".to_owned(), i.into());
        object.insert(name.to_owned(), c.text.clone().into());
        let line = serde_json::Value::Object(object).to_string();
        let scrubbed = scrubber.scrub_json_line(&line).expect("a JSON line");
        assert!(!scrubbed.contains('\n'), "one line: {scrubbed}");
        let value: serde_json::Value = serde_json::from_str(&scrubbed).expect("valid JSON");
        outcomes.push(Outcome {
            case: i,
            path: "scrub_json",
            written: value[name].as_str().unwrap_or_default().to_owned(),
            expected: c.text.clone(),
        });
    }
    outcomes
}

#[derive(Default)]
pub struct Tally {
    pub secrets: usize,
    pub caught: usize,
    pub look_alikes: usize,
    pub altered: usize,
}

/// Writes every case through every path, prints recall and the false-positive rate per family
/// and path and in total, and returns the totals and the failures (a leaked secret, an altered
/// look-alike). Every layer record is parsed as one JSON object on its line on the way.
pub fn score(cases: &[Case]) -> (Tally, Vec<String>) {
    let secrets = cases.iter().filter(|c| c.is_secret()).count();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut outcomes = through_the_layer(cases, dir.path());
    outcomes.extend(through_scrub(cases));

    let mut seen = vec![[false; PATHS.len()]; cases.len()];
    let mut by_family: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for o in &outcomes {
        let c = &cases[o.case];
        let p = PATHS.iter().position(|&p| p == o.path).unwrap_or(0);
        seen[o.case][p] = true;
        let tally = by_family.entry((c.family, o.path)).or_default();
        if c.is_secret() {
            tally.secrets += 1;
            let leaked: Vec<&String> = c
                .secrets
                .iter()
                .filter(|s| o.written.contains(s.as_str()))
                .collect();
            if leaked.is_empty() {
                tally.caught += 1;
            } else {
                failures.push(format!(
                    "LEAK [{}/{}] {:?} in {:?}",
                    c.family, o.path, leaked, o.written
                ));
            }
        } else {
            tally.look_alikes += 1;
            if o.written != o.expected {
                tally.altered += 1;
                failures.push(format!(
                    "FALSE POSITIVE [{}/{}] {:?} became {:?}",
                    c.family, o.path, o.expected, o.written
                ));
            }
        }
    }
    for (i, paths) in seen.iter().enumerate() {
        for (p, &was) in paths.iter().enumerate() {
            assert!(was, "case {i} has no record on path {}", PATHS[p]);
        }
    }

    let mut total = Tally::default();
    println!(
        "{:<14} {:<11} {:>8} {:>8} {:>12} {:>8}",
        "family", "path", "secrets", "recall", "look-alikes", "FP rate"
    );
    for ((family, path), t) in &by_family {
        println!(
            "{family:<14} {path:<11} {:>8} {:>7.1}% {:>12} {:>7.1}%",
            t.secrets,
            percent(t.caught, t.secrets),
            t.look_alikes,
            percent(t.altered, t.look_alikes)
        );
        total.secrets += t.secrets;
        total.caught += t.caught;
        total.look_alikes += t.look_alikes;
        total.altered += t.altered;
    }
    println!(
        "TOTAL: {} cases ({} secrets, {} look-alikes) x {} paths; recall {:.2}% ({}/{}), false-positive rate {:.2}% ({}/{})",
        cases.len(),
        secrets,
        cases.len() - secrets,
        PATHS.len(),
        percent(total.caught, total.secrets),
        total.caught,
        total.secrets,
        percent(total.altered, total.look_alikes),
        total.altered,
        total.look_alikes
    );
    (total, failures)
}

pub fn percent(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}
