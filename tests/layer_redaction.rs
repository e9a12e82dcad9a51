//! Secrets never reach either output, wherever they are passed; per-stream policies.

mod support;

use std::fmt;
use support::Harness;
use tracing::{info, info_span};
use tracing_audit::redact::Action;
use tracing_audit::Stream;

/// A GitHub token and a JWT: credentials the default detectors catch in free text.
const GH_TOKEN: &str = "ghp_Zq8vY2kP4mN7xR1tW5sB9cD3fH6jL0aE2gK4";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const FIELD_SECRET: &str = "hunter2-correct-horse";

#[derive(Debug)]
#[allow(dead_code)]
struct Client {
    base: &'static str,
    auth: String,
}

#[derive(Debug)]
struct CallError;
impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream call failed")
    }
}
impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&INNER)
    }
}
#[derive(Debug)]
struct Inner;
static INNER: Inner = Inner;
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "401 for Authorization: Bearer {JWT}")
    }
}
impl std::error::Error for Inner {}

fn assert_absent(h: &Harness, secret: &str) {
    for (name, bytes) in [("audit", h.audit.bytes()), ("debug", h.debug.bytes())] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} leaked into the {name} output:\n{}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn secrets_are_absent_from_both_outputs_wherever_they_are_passed() {
    let mut h = Harness::new(|b| b);
    h.run(|| {
        let span = info_span!("request", password = FIELD_SECRET, api_token = tracing::field::Empty, note = tracing::field::Empty);
        let _e = span.enter();
        // late-recorded span fields: by name and by content
        span.record("api_token", FIELD_SECRET);
        span.record("note", format!("retrying with {GH_TOKEN}").as_str());
        // event fields, by name in both streams
        info!(target: "audit", actor = "alice", action = "login", outcome = "success", password = FIELD_SECRET);
        tracing::debug!(db_password = FIELD_SECRET, "connecting");
        // inside a Debug value
        let client = Client { base: "https://api.example.com", auth: format!("token {GH_TOKEN}") };
        tracing::debug!(?client, "client ready");
        info!(target: "audit", actor = "alice", action = "call", outcome = "failure", client = ?client);
        // inside an error's source chain
        let err = CallError;
        tracing::error!(error = &err as &(dyn std::error::Error + 'static), "call failed");
        info!(target: "audit", actor = "alice", action = "call", outcome = "failure", reason = %format!("{}", Inner));
        // in the message itself
        tracing::warn!("token was {GH_TOKEN}");
    });
    h.finish();
    assert_absent(&h, FIELD_SECRET);
    assert_absent(&h, GH_TOKEN);
    assert_absent(&h, JWT);
    assert_absent(&h, &JWT[..40]);
    // ...and the records are still there, masked, not dropped.
    let audit = h.audit.records();
    assert!(audit
        .iter()
        .any(|r| r["fields"]["password"] == "[REDACTED]"));
    assert!(h.debug.text().contains("connecting"));
    assert!(h.debug.text().contains("[REDACTED"));
}

#[test]
fn policies_may_differ_per_stream() {
    let mut h = Harness::new(|b| {
        b.hash_key(tracing_audit::KeySource::bytes(*b"test-key"))
            .debug(|d| d.redact_field("actor", Action::Hash))
            .redact_field("*_ssn", Action::Partial)
            .redact_field("session", Action::Drop)
    });
    h.run(|| {
        let _s = info_span!("request", actor = "alice@example.com").entered();
        info!(target: "audit", actor = "alice@example.com", action = "read", outcome = "success", patient_ssn = "123-45-6789", session = "s3cr3t");
        tracing::debug!(actor = "alice@example.com", "debug with actor");
    });
    let audit = h.audit_records();
    let debug = h.debug.records();
    assert_eq!(audit[0]["actor"], "alice@example.com", "the trail says who");
    assert!(audit[0].get("session").is_none());
    assert_eq!(audit[0]["fields"]["patient_ssn"], "*******6789");
    let pseudonym =
        tracing_audit::redact::Pseudonymizer::new(b"test-key").pseudonym("alice@example.com");
    assert_eq!(debug[0]["fields"]["actor"], pseudonym.as_str());
    assert_eq!(debug[0]["spans"][0]["fields"]["actor"], pseudonym.as_str());
    assert!(!h.debug.text().contains("alice@example.com"));
}

#[test]
fn span_fields_follow_each_streams_detectors() {
    // Same field rules in both streams, different detectors: a span field is scrubbed once when
    // the streams agree, and separately when they do not.
    use tracing_audit::redact::detect::{Detector, DetectorSet};
    let mut h = Harness::new(|b| {
        b.debug(|d| {
            d.detectors(DetectorSet::for_stream(Stream::Debug).set(Detector::Email, Action::Mask))
        })
        .audit(|a| {
            a.detectors(DetectorSet::for_stream(Stream::Audit).set(Detector::Email, Action::Keep))
        })
    });
    h.run(|| {
        let _s = info_span!("request", contact = "bob@example.com", ticket = "T-1").entered();
        info!(target: "audit", actor = "alice", action = "read", outcome = "success");
        tracing::debug!("inside");
    });
    let audit = h.audit_records();
    let debug = h.debug.records();
    assert_eq!(audit[0]["spans"][0]["fields"]["contact"], "bob@example.com");
    assert_eq!(audit[0]["spans"][0]["fields"]["ticket"], "T-1");
    let masked = debug[0]["spans"][0]["fields"]["contact"].as_str().unwrap();
    assert!(!masked.contains("bob@example.com"), "{masked}");
    assert_eq!(debug[0]["spans"][0]["fields"]["ticket"], "T-1");
}

#[test]
fn a_late_record_sets_the_streams_of_a_span_apart() {
    // A span whose fields all render alike keeps one rendering for both streams (issue 24); a
    // late record of a field the streams treat differently must give each its own from then on.
    let mut h = Harness::new(|b| {
        b.hash_key(tracing_audit::KeySource::bytes(*b"test-key"))
            .debug(|d| d.redact_field("owner", Action::Hash))
    });
    h.run(|| {
        let span = info_span!("request", request_id = 7u64, owner = tracing::field::Empty);
        let _e = span.enter();
        tracing::debug!("before");
        info!(target: "audit", actor = "alice", action = "read", outcome = "success");
        span.record("owner", "owner-1138");
        tracing::debug!("after");
        info!(target: "audit", actor = "alice", action = "read", outcome = "success");
    });
    let audit = h.audit_records();
    let debug = h.debug.records();
    let before = serde_json::json!({ "request_id": 7 });
    assert_eq!(audit[0]["spans"][0]["fields"], before);
    assert_eq!(debug[0]["spans"][0]["fields"], before);
    let pseudonym = tracing_audit::redact::Pseudonymizer::new(b"test-key").pseudonym("owner-1138");
    assert_eq!(
        audit[1]["spans"][0]["fields"],
        serde_json::json!({ "request_id": 7, "owner": "owner-1138" })
    );
    assert_eq!(
        debug[1]["spans"][0]["fields"],
        serde_json::json!({ "request_id": 7, "owner": pseudonym.as_str() })
    );
    assert!(!h.debug.text().contains("owner-1138"));
}

#[test]
fn hash_without_a_key_masks_instead_of_writing_a_reversible_digest() {
    let mut h = Harness::new(|b| b.redact_field("customer", Action::Hash));
    h.run(|| tracing::debug!(customer = "bob"));
    assert_eq!(h.debug_records()[0]["fields"]["customer"], "[REDACTED]");
}
