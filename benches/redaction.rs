//! Cost of free-text detection per record: a clean record and a record with one secret, with
//! detection on (stream defaults) and off, against a `RegexSet` prefilter as the obvious
//! alternative; and megabyte-sized adversarial inputs.
//!
//! Run with `cargo bench --bench redaction`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use regex::RegexSet;
use std::hint::black_box;
use tracing_audit::redact::detect::DetectorSet;
use tracing_audit::redact::Pseudonymizer;
use tracing_audit::Stream;

/// Every string the layer scrubs in a typical audit record: message, lifted fields, other field
/// values and span fields.
const CLEAN_RECORD: &[&str] = &[
    "order placed",
    "alice",
    "create",
    "/api/v1/orders/12345",
    "success",
    "checkout",
    "550e8400-e29b-41d4-a716-446655440000",
    "POST",
    "took 12.5ms after 2 retries",
    "handle_order",
    "eu-west-1",
];

/// The same record with one secret in its message.
fn record_with_secret() -> Vec<&'static str> {
    let mut record = CLEAN_RECORD.to_vec();
    record[0] = "order placed via https://svc:hunter2@payments.internal/charge";
    record
}

fn scrub_record(set: &DetectorSet, hasher: &Pseudonymizer, record: &[&str]) -> usize {
    record
        .iter()
        .map(|s| set.scrub(black_box(s), Some(hasher)).len())
        .sum()
}

/// A prefilter a first implementation might write: one `RegexSet` of rough detector patterns,
/// asked `is_match` on every string.
fn regex_set() -> RegexSet {
    RegexSet::new([
        r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.",
        r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/-]+",
        r"\b(AKIA|ASIA)[A-Z0-9]{16}\b",
        r"\bgh[pousr]_[A-Za-z0-9]{36}|github_pat_",
        r"\bxox[baprs]-",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"://[^/\s:@]*:[^/\s@]*@",
        r"\b\d(?:[ -]?\d){12,18}\b",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
        r"\b\d{3}-\d{2}-\d{4}\b",
        r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|[0-9A-Fa-f]*:[0-9A-Fa-f]*:",
        r"(?i)(key|secret|token|passw(or)?d|pwd|credential|auth)[A-Za-z0-9_.-]*\s*[=:]",
    ])
    .unwrap_or_else(|e| panic!("bench patterns compile: {e}"))
}

fn per_record(c: &mut Criterion) {
    let hasher = Pseudonymizer::new(b"bench key");
    let on = DetectorSet::for_stream(Stream::Audit);
    let off = DetectorSet::none();
    let secret = record_with_secret();
    let set = regex_set();

    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("clean/off", |b| {
        b.iter(|| scrub_record(&off, &hasher, CLEAN_RECORD))
    });
    group.bench_function("clean/on", |b| {
        b.iter(|| scrub_record(&on, &hasher, CLEAN_RECORD))
    });
    group.bench_function("one_secret/off", |b| {
        b.iter(|| scrub_record(&off, &hasher, &secret))
    });
    group.bench_function("one_secret/on", |b| {
        b.iter(|| scrub_record(&on, &hasher, &secret))
    });
    group.bench_function("clean/regex_set_is_match", |b| {
        b.iter(|| {
            CLEAN_RECORD
                .iter()
                .filter(|s| set.is_match(black_box(s)))
                .count()
        })
    });
    group.finish();
}

/// One record per detector family, its message holding one secret of that family: what each
/// family costs when it fires.
const FAMILY_MESSAGES: &[(&str, &str)] = &[
    ("url_password", "order placed via https://svc:hunter2@payments.internal/charge"),
    ("provider_token", "charging with sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("jwt", "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
    ("keyword", "login password=hunter2 for alice"),
    ("debug_wrapper", "Credentials { user: \"bob\", password: Some(\"hunter2\") }"),
    ("auth_header", "upstream sent Authorization: Bearer abcdef0123456789XYZ"),
    ("card", "paid with 4111 1111 1111 1111"),
    ("iban", "payout to DE89370400440532013000"),
    ("email", "mail sent to alice@example.com"),
    ("ip", "client 10.1.2.3 connected"),
    ("escaped", "key id AK\\u0049AIOSFODNN7EXAMPLE"),
    // Issue 23's classes.
    ("escaped_break", "step 1 ok\\nghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"),
    ("pretty_debug", "Config {\n    password: Some(\n        \"hunter2\",\n    ),\n}"),
    ("command_line", "running mysql -u root -pS3cretPw9 shop"),
    ("national_id", "titular DNI 12345678Z verificado"),
    ("keyed_personal", "customer ssn=123456789 dob: 1980-02-29"),
    ("obfuscated_email", "contact alice [at] example [dot] com"),
];

fn per_family(c: &mut Criterion) {
    let hasher = Pseudonymizer::new(b"bench key");
    let on = DetectorSet::for_stream(Stream::Audit);
    let mut group = c.benchmark_group("family");
    group.throughput(Throughput::Elements(1));
    for (family, message) in FAMILY_MESSAGES {
        let mut record = CLEAN_RECORD.to_vec();
        record[0] = message;
        group.bench_with_input(BenchmarkId::from_parameter(family), &record, |b, record| {
            b.iter(|| scrub_record(&on, &hasher, record))
        });
    }
    group.finish();
}

fn adversarial(c: &mut Criterion) {
    let hasher = Pseudonymizer::new(b"bench key");
    let on = DetectorSet::for_stream(Stream::Debug);
    let mut group = c.benchmark_group("adversarial_1mb");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(1 << 20));
    for unit in ["1", "4 ", "eyJ", "-----BEGIN", "@", "a.", "1.", "a=", ":"] {
        let text = unit.repeat((1 << 20) / unit.len());
        group.bench_with_input(BenchmarkId::from_parameter(unit), &text, |b, text| {
            b.iter(|| on.scrub(black_box(text), Some(&hasher)).len())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = per_record, per_family, adversarial
}
criterion_main!(benches);
