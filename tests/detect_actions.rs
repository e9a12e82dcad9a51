//! The `DetectorSet` API: defaults per stream, actions, and the borrowed clean path.

use std::borrow::Cow;

use tracing_audit::redact::detect::{Detector, DetectorSet};
use tracing_audit::redact::{Action, Pseudonymizer};
use tracing_audit::Stream;

const URL: &str = "GET https://bob:hunter2@db.internal/x";

#[test]
fn defaults_match_the_documented_table() {
    for stream in [Stream::Audit, Stream::Debug] {
        let set = DetectorSet::for_stream(stream);
        for &detector in Detector::ALL {
            let expected = match detector {
                Detector::Email | Detector::IpAddress | Detector::Phone => Action::Hash,
                _ => Action::Mask,
            };
            assert_eq!(set.action(detector), expected, "{stream} {detector:?}");
        }
    }
}

#[test]
fn detector_names_are_the_documented_ones() {
    let names: Vec<&str> = Detector::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(
        names,
        [
            "jwt",
            "auth_header",
            "aws_key",
            "github_token",
            "slack_token",
            "private_key",
            "url_password",
            "card_number",
            "email",
            "us_ssn",
            "ip_address",
            "keyword_secret",
            "provider_token",
            "cookie",
            "iban",
            "phone",
            "national_id"
        ]
    );
}

#[test]
fn clean_text_is_returned_borrowed() {
    let set = DetectorSet::for_stream(Stream::Audit);
    for text in [
        "",
        "order placed",
        "took 12.5ms after 2 retries",
        "request 550e8400-e29b-41d4-a716-446655440000",
        "error: connection refused (os error 111)",
    ] {
        assert!(
            matches!(set.scrub(text, None), Cow::Borrowed(_)),
            "{text:?}"
        );
    }
}

#[test]
fn none_detects_nothing() {
    let set = DetectorSet::none();
    assert!(Detector::ALL.iter().all(|&d| set.action(d) == Action::Keep));
    assert!(matches!(set.scrub(URL, None), Cow::Borrowed(_)));
}

#[test]
fn keep_turns_one_detector_off() {
    let set = DetectorSet::for_stream(Stream::Debug).set(Detector::UrlPassword, Action::Keep);
    assert_eq!(set.action(Detector::UrlPassword), Action::Keep);
    assert_eq!(set.scrub(URL, None), URL);
    let text = "mail alice@example.com via 10.0.0.1";
    let set = DetectorSet::for_stream(Stream::Audit)
        .set(Detector::Email, Action::Keep)
        .set(Detector::IpAddress, Action::Keep);
    assert_eq!(set.scrub(text, None), text);
}

#[test]
fn mask_writes_the_detector_name() {
    let set = DetectorSet::none().set(Detector::UrlPassword, Action::Mask);
    assert_eq!(
        set.scrub(URL, None),
        "GET https://bob:[REDACTED:url_password]@db.internal/x"
    );
}

#[test]
fn drop_removes_only_the_secret_part() {
    let set = DetectorSet::none().set(Detector::UrlPassword, Action::Drop);
    assert_eq!(set.scrub(URL, None), "GET https://bob:@db.internal/x");
}

#[test]
fn partial_keeps_the_last_four_characters() {
    let set = DetectorSet::none().set(Detector::CardNumber, Action::Partial);
    assert_eq!(
        set.scrub("card 4111111111111111 ok", None),
        "card ************1111 ok"
    );
}

#[test]
fn hash_writes_the_keyed_pseudonym_of_the_secret_part() {
    let hasher = Pseudonymizer::new(b"key");
    let set = DetectorSet::for_stream(Stream::Debug);
    assert_eq!(
        set.scrub("mail alice@example.com now", Some(&hasher)),
        format!("mail {} now", hasher.pseudonym("alice@example.com"))
    );
    let set = DetectorSet::none().set(Detector::UrlPassword, Action::Hash);
    assert_eq!(
        set.scrub(URL, Some(&hasher)),
        format!(
            "GET https://bob:{}@db.internal/x",
            hasher.pseudonym("hunter2")
        )
    );
}

#[test]
fn hash_falls_back_to_mask_without_a_hasher() {
    let set = DetectorSet::for_stream(Stream::Debug);
    assert_eq!(
        set.scrub("mail alice@example.com now", None),
        "mail [REDACTED:email] now"
    );
}

#[test]
fn overlapping_matches_merge_under_the_most_specific_detector() {
    let set = DetectorSet::for_stream(Stream::Debug);
    // `token=` marks a keyword secret, and the value is also a GitHub token.
    assert_eq!(
        set.scrub("token=ghp_16C7e42F292c6912E7710c838347Ae178B4a", None),
        "token=[REDACTED:github_token]"
    );
}

#[test]
fn disabled_detectors_do_not_run_even_when_others_trigger() {
    // A set with only e-mail on leaves the card number alone although digits are present.
    let set = DetectorSet::none().set(Detector::Email, Action::Mask);
    assert_eq!(
        set.scrub("4111111111111111 for bob@example.com", None),
        "4111111111111111 for [REDACTED:email]"
    );
}

#[test]
fn aws_secret_falls_back_to_keyword_secret_when_aws_key_is_off() {
    let set = DetectorSet::for_stream(Stream::Audit).set(Detector::AwsKey, Action::Keep);
    assert_eq!(
        set.scrub(
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None
        ),
        "aws_secret_access_key=[REDACTED:keyword_secret]"
    );
}

#[test]
fn non_ascii_text_around_secrets_is_preserved() {
    let set = DetectorSet::for_stream(Stream::Debug);
    assert_eq!(
        set.scrub("café ☕ https://é:pässwört@hôst.example/ 🦀", None),
        "café ☕ https://é:[REDACTED:url_password]@hôst.example/ 🦀"
    );
}
