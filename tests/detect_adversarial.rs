//! A megabyte of the bytes that start a match must not make scrubbing quadratic.
//!
//! The bound is generous (ten seconds for one megabyte in a debug build, where the linear scan
//! takes a few tens of milliseconds, and up to two seconds on a machine loaded seven times
//! over); a quadratic detector would take hours.

use std::time::{Duration, Instant};

use tracing_audit::redact::detect::{Detector, DetectorSet};
use tracing_audit::redact::{Action, Pseudonymizer};
use tracing_audit::Stream;

const MEGABYTE: usize = 1 << 20;
const BOUND: Duration = Duration::from_secs(10);

fn repeated(unit: &str) -> String {
    unit.repeat(MEGABYTE / unit.len())
}

/// Units that each keep one or more detectors busy at every position.
const UNITS: &[&str] = &[
    "1",
    "4",
    "eyJ",
    "eyJ.",
    "-----BEGIN",
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----\n-----END ",
    "@",
    "a@",
    "a.",
    "1.",
    ":",
    "::",
    "a:",
    "1:",
    "=",
    "a=",
    "key=",
    "token=\"",
    "authorization: ",
    "4 ",
    "4-",
    "1 ",
    "123-45-",
    "g",
    "gh",
    "ghp_",
    "github_pat_",
    "xoxb-",
    "xox",
    "A",
    "AKIA",
    "b",
    "bearer ",
    "Basic ",
    "://",
    "a://",
    "a:a@",
    "x@a.",
    "*",
    "\u{e9}",
    // Triggers of the provider, IBAN, cookie and structure-aware scans.
    "--a ",
    "--password ",
    "(\"",
    "Secret(\"",
    "a>",
    "<password>",
    "\\u0041",
    "\\",
    "\\/",
    "%41",
    "\u{ff50}",
    "\u{430}",
    "\u{a0}4",
    "sk_live_",
    "sk-",
    "AIza",
    "ey",
    "ew.",
    "DE89",
    "DE89 ",
    "4.",
    "4_",
    "4  ",
    "a@b_c.",
    "Cookie: a=",
    "cookie=",
    "1234567890:AA",
    "https://hooks.slack.com/services/",
    "Some(",
    "password: a ",
    "+1 ",
    "+1 2 ",
    "+1 (2",
    // Triggers of the third round: command lines, `.netrc`, connection strings, keys, vendor
    // shapes, national ids, obfuscated e-mails, pretty `Debug`.
    " -p",
    "mysql -p",
    "curl -u a:",
    "curl --user a:",
    "machine a login b password ",
    "password ",
    "Pwd={",
    "jdbc:oracle:thin:a/",
    "<add key=\"password\" value=",
    "value=",
    "\"kty\" \"d\":\"",
    "Private-Lines: 9\n",
    "1Q~",
    "aaa1Q~",
    "+ASt",
    "AKIAAAAAAAAAAAAAAAAA,",
    "SK",
    "eyJhdXRocyI6",
    "?code=",
    "cookies: {",
    "cookies: {\"a\": ",
    "[at]",
    "a [at] b",
    "a(at)b(dot)",
    "ssn ",
    "passport no. ",
    "dob: 1",
    "12345678Z ",
    "X1234567L",
    "1 84 ",
    "phone: 0",
    "Some(\n",
    "Secret(\n",
    "\\n",
    "\\nghp_",
    "<password> ",
    "/bot1234567890:AA",
    "de89",
    "de89-",
    "4111/",
];

fn scrub_within_bound(set: &DetectorSet, hasher: Option<&Pseudonymizer>, text: &str, unit: &str) {
    let started = Instant::now();
    let out = set.scrub(text, hasher);
    let took = started.elapsed();
    if std::env::var_os("DETECT_TIMINGS").is_some() {
        eprintln!("{unit:?}: {took:?}");
    }
    assert!(
        took < BOUND,
        "1 MB of {unit:?} took {took:?} (output {} bytes)",
        out.len()
    );
}

#[test]
fn megabyte_adversarial_inputs_scrub_in_linear_time() {
    let hasher = Pseudonymizer::new(b"adversarial");
    let defaults = DetectorSet::for_stream(Stream::Debug);
    for unit in UNITS {
        scrub_within_bound(&defaults, Some(&hasher), &repeated(unit), unit);
    }
}

#[test]
fn megabyte_adversarial_inputs_scrub_in_linear_time_with_every_action() {
    // Partial and Drop take other output paths than Mask and Hash.
    for action in [Action::Partial, Action::Drop] {
        let set = Detector::ALL
            .iter()
            .fold(DetectorSet::none(), |set, &d| set.set(d, action));
        for unit in [
            "4111 1111 1111 1111 ",
            "1.2.3.4 ",
            "a@b.co ",
            "key=Zx8Kq2Lm9Pw4 ",
        ] {
            scrub_within_bound(&set, None, &repeated(unit), unit);
        }
    }
}

#[test]
fn megabyte_of_secrets_is_fully_redacted() {
    let set = DetectorSet::for_stream(Stream::Audit);
    let text = repeated("4111 1111 1111 1111 ");
    let out = set.scrub(&text, None);
    assert!(!out.contains("4111"));
}
