//! Random canary secrets of every kind, at random positions in messages, event fields, span
//! fields (at creation and recorded later), `Debug` values and error chains, never reach either
//! output of the layer.

mod support;

use proptest::prelude::*;
use std::fmt;
use support::canaries::message;
use support::Harness;
use tracing::{field, info, info_span};

#[derive(Debug)]
#[allow(dead_code)]
struct Request {
    path: &'static str,
    headers: String,
}

#[derive(Debug)]
struct Failure {
    text: String,
    cause: Cause,
}
#[derive(Debug)]
struct Cause(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call failed: {}", self.text)
    }
}
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "caused by {}", self.0)
    }
}
impl std::error::Error for Cause {}
impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn canaries_never_reach_either_output(
        (in_message, c1) in message(),
        (in_field, c2) in message(),
        (in_span, c3) in message(),
        (in_late, c4) in message(),
        (in_debug, c5) in message(),
        (in_error, c6) in message(),
    ) {
        let mut h = Harness::new(|b| b.hash_key(tracing_audit::KeySource::bytes(*b"canary key")));
        h.run(|| {
            let span = info_span!("request", context = %in_span, later = field::Empty);
            let _e = span.enter();
            span.record("later", in_late.as_str());
            let request = Request { path: "/login", headers: in_debug.clone() };
            let failure = Failure { text: in_error.clone(), cause: Cause(in_error.clone()) };
            info!(target: "audit", actor = "alice", action = "login", outcome = "denied", note = %in_field, request = ?request, "{in_message}");
            tracing::warn!(note = %in_field, request = ?request, error = &failure as &(dyn std::error::Error + 'static), "{in_message}");
        });
        h.finish();
        let outputs = [("audit", h.audit.text()), ("debug", h.debug.text())];
        for canary in c1.iter().chain(&c2).chain(&c3).chain(&c4).chain(&c5).chain(&c6) {
            for secret in &canary.secrets {
                for (name, out) in &outputs {
                    prop_assert!(!out.contains(secret.as_str()), "{:?} reached the {} output:\n{}", secret, name, out);
                }
            }
        }
        // The records themselves are all there.
        prop_assert_eq!(h.debug.records().len(), 1);
        prop_assert_eq!(h.audit.records().iter().filter(|r| r.get("record").is_none()).count(), 1);
    }
}
