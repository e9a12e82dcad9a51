//! A console `fmt::layer()` next to the audit layer prints the secrets the audit layer removes;
//! wrapped in `scrubbed`, it prints none of them, in any of fmt's formats.

mod support;

use proptest::prelude::*;
use std::fmt;
use support::canaries::message;
use support::Capture;
use tracing_audit::redact::{scrubbed, scrubbed_fields};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
#[allow(dead_code)]
struct Connect {
    host: &'static str,
    password: String,
}

#[derive(Debug)]
struct QueryFailed {
    cause: DbError,
}
#[derive(Debug)]
struct DbError(String);

impl fmt::Display for QueryFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("query failed")
    }
}
impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}", self.0)
    }
}
impl std::error::Error for DbError {}
impl std::error::Error for QueryFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImlhdCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1oZXJlLTAxMjM0NTY3";
const BEARER: &str = "k7Fq2xLp9Zr4Tw8Yb3Nm";
const URL_PASSWORD: &str = "s3cr3t-db-pass";
const DEBUG_PASSWORD: &str = "correct horse battery staple";
const FIELD_PASSWORD: &str = "hunter2";

/// Every canary, each where the issue says a service leaks it.
fn emit() {
    let span = tracing::info_span!("login", user = "alice", password = FIELD_PASSWORD);
    let _e = span.enter();
    tracing::info!("session token {JWT} issued");
    tracing::info!(
        header = %format!("Authorization: Bearer {BEARER}"),
        "request received"
    );
    let connect = Connect {
        host: "db.internal",
        password: DEBUG_PASSWORD.to_owned(),
    };
    tracing::debug!(?connect, "connecting");
    let err = QueryFailed {
        cause: DbError(format!(
            "postgres://app:{URL_PASSWORD}@db.internal:5432/reports"
        )),
    };
    tracing::error!(
        error = &err as &(dyn std::error::Error + 'static),
        "request failed"
    );
}

const CANARIES: [&str; 5] = [JWT, BEARER, URL_PASSWORD, DEBUG_PASSWORD, FIELD_PASSWORD];

fn console_output(wrap: bool, format: &str, ansi: bool) -> String {
    let out = Capture::default();
    macro_rules! run {
        ($layer:expr) => {{
            let subscriber = tracing_subscriber::registry().with($layer);
            tracing::subscriber::with_default(subscriber, emit);
        }};
    }
    macro_rules! formats {
        ($writer:expr) => {{
            let base = tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer($writer);
            match format {
                "full" => run!(base),
                "compact" => run!(base.compact()),
                "pretty" => run!(base.pretty()),
                "json" => run!(base.json()),
                _ => unreachable!(),
            }
        }};
    }
    if wrap {
        formats!(scrubbed(out.clone()));
    } else {
        formats!(out.clone());
    }
    out.text()
}

#[test]
fn an_unwrapped_console_layer_prints_every_canary() {
    let out = console_output(false, "full", false);
    for canary in CANARIES {
        assert!(out.contains(canary), "{canary:?} expected in:\n{out}");
    }
}

#[test]
fn a_scrubbed_console_layer_prints_none_in_any_format() {
    for format in ["full", "compact", "pretty", "json"] {
        for ansi in [false, true] {
            let out = console_output(true, format, ansi);
            for canary in CANARIES {
                assert!(
                    !out.contains(canary),
                    "{canary:?} leaked ({format}, ansi {ansi}):\n{out}"
                );
            }
            // The events themselves are all still there.
            for message in ["issued", "request received", "connecting", "request failed"] {
                assert!(
                    out.contains(message),
                    "{message} missing ({format}):\n{out}"
                );
            }
        }
    }
}

#[test]
fn scrubbed_fields_print_none_in_any_field_format() {
    // Not `pretty`: it formats event fields itself and only span fields through `fmt_fields`.
    for format in ["full", "compact"] {
        let out = Capture::default();
        let base = tracing_subscriber::fmt::layer()
            .with_ansi(true)
            .with_writer(out.clone());
        macro_rules! run {
            ($layer:expr) => {{
                let subscriber = tracing_subscriber::registry().with($layer);
                tracing::subscriber::with_default(subscriber, emit);
            }};
        }
        match format {
            "full" => run!(base.fmt_fields(scrubbed_fields())),
            _ => run!(base.compact().fmt_fields(scrubbed_fields())),
        }
        let text = out.text();
        for canary in CANARIES {
            assert!(
                !text.contains(canary),
                "{canary:?} leaked ({format}):\n{text}"
            );
        }
        for message in ["issued", "request received", "connecting", "request failed"] {
            assert!(
                text.contains(message),
                "{message} missing ({format}):\n{text}"
            );
        }
        // The span field, masked by its name although `hunter2` looks like no secret.
        assert!(
            text.contains(r#"password="[REDACTED]""#),
            "({format}):\n{text}"
        );
    }
}

#[test]
fn clean_output_passes_through_unchanged() {
    let plain = Capture::default();
    let wrapped = Capture::default();
    for (out, wrap) in [(&plain, false), (&wrapped, true)] {
        let clean = || {
            let _s = tracing::info_span!("request", id = 7).entered();
            tracing::info!(rows = 42, path = "/reports/q3", "served");
        };
        // No timestamps, so both runs print the same bytes.
        let layer = tracing_subscriber::fmt::layer()
            .without_time()
            .with_ansi(true);
        if wrap {
            let subscriber =
                tracing_subscriber::registry().with(layer.with_writer(scrubbed(out.clone())));
            tracing::subscriber::with_default(subscriber, clean);
        } else {
            let subscriber = tracing_subscriber::registry().with(layer.with_writer(out.clone()));
            tracing::subscriber::with_default(subscriber, clean);
        }
    }
    assert!(!plain.text().is_empty());
    assert_eq!(wrapped.text(), plain.text(), "colours and text kept");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
    ))]

    /// The canaries the layer's own tests use, in a message, a field, a span field, a `Debug`
    /// value and an error chain, never reach a scrubbed console.
    #[test]
    fn random_canaries_never_reach_a_scrubbed_console(
        (in_message, c1) in message(),
        (in_field, c2) in message(),
        (in_span, c3) in message(),
        (in_debug, c4) in message(),
        (in_error, c5) in message(),
    ) {
        let out = Capture::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer().with_ansi(false).with_writer(scrubbed(out.clone())),
        );
        tracing::subscriber::with_default(subscriber, || {
            let _s = tracing::info_span!("request", context = %in_span).entered();
            let connect = Connect { host: "db", password: in_debug.clone() };
            let err = QueryFailed { cause: DbError(in_error.clone()) };
            tracing::warn!(note = %in_field, ?connect, error = &err as &(dyn std::error::Error + 'static), "{in_message}");
        });
        let text = out.text();
        for canary in c1.iter().chain(&c2).chain(&c3).chain(&c4).chain(&c5) {
            for secret in &canary.secrets {
                prop_assert!(!text.contains(secret.as_str()), "{:?} reached the console:\n{}", secret, text);
            }
        }
    }
}
