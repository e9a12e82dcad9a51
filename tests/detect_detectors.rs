//! Each detector finds its secrets and leaves look-alikes alone.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use tracing_audit::redact::detect::{Detector, DetectorSet};
use tracing_audit::redact::Action;
use tracing_audit::Stream;

/// Everything masked, so every match shows which detector made it.
fn masking() -> DetectorSet {
    Detector::ALL
        .iter()
        .fold(DetectorSet::none(), |set, &d| set.set(d, Action::Mask))
}

fn scrub(text: &str) -> String {
    masking().scrub(text, None).into_owned()
}

#[track_caller]
fn assert_redacted(text: &str, secret: &str, detector: Detector) {
    let out = scrub(text);
    assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
    let mask = format!("[REDACTED:{}]", detector.name());
    assert!(out.contains(&mask), "{mask} missing from {out:?}");
}

#[track_caller]
fn assert_untouched(text: &str) {
    let out = masking().scrub(text, None);
    assert_eq!(out, text, "look-alike was changed");
}

fn jwt(header: &str, payload: &str) -> String {
    format!(
        "{}.{}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    )
}

#[test]
fn jwt_is_redacted() {
    let token = jwt(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#,
    );
    assert_redacted(&format!("token rejected: {token}"), &token, Detector::Jwt);
    assert_eq!(
        scrub(&format!("jwt {token}.")),
        "jwt [REDACTED:jwt].",
        "a sentence-ending dot is not part of the token"
    );
    let unsigned = format!("{}.", &token[..token.rfind('.').unwrap_or(0)]);
    assert_redacted(
        &format!("alg none: {unsigned} end"),
        &unsigned,
        Detector::Jwt,
    );
}

#[test]
fn jwt_look_alikes_survive() {
    // Header without `alg`, payload that is not an object, ordinary base64, two parts only.
    assert_untouched(&format!("x {} y", jwt(r#"{"typ":"JWT"}"#, r#"{"a":1}"#)));
    assert_untouched(&format!("x {} y", jwt(r#"{"alg":"HS256"}"#, r#"[1,2]"#)));
    assert_untouched(&format!(
        "blob {}",
        STANDARD.encode(r#"{"alg":"HS256","x":1}"#)
    ));
    assert_untouched("payload eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0 (unsigned, two parts)");
    assert_untouched("SGVsbG8sIHdvcmxkIQ== and aGVsbG8gd29ybGQ and eyJub3QiOiJqd3QifQ");
}

#[test]
fn bearer_and_basic_credentials_are_redacted() {
    assert_eq!(
        scrub("Authorization: Bearer abc123def456"),
        "Authorization: Bearer [REDACTED:auth_header]"
    );
    assert_eq!(
        scrub(r#"{"authorization":"Basic dXNlcjpodW50ZXIy"}"#),
        r#"{"authorization":"Basic [REDACTED:auth_header]"}"#
    );
    assert_eq!(
        scrub("proxy-authorization=Token s3cr3tt0k3n"),
        "proxy-authorization=Token [REDACTED:auth_header]"
    );
    assert_eq!(
        scrub("AUTHORIZATION: deadbeefcafe1234"),
        "AUTHORIZATION: [REDACTED:auth_header]"
    );
    assert_eq!(
        scrub("sent bearer Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5 upstream"),
        "sent bearer [REDACTED:auth_header] upstream"
    );
    assert_eq!(
        scrub("retry with BASIC YWxpY2U6czNjcmV0 now"),
        "retry with BASIC [REDACTED:auth_header] now"
    );
}

#[test]
fn bearer_and_basic_look_alikes_survive() {
    assert_untouched("basic auth failed for the bearer of this request");
    assert_untouched("Basic authentication is disabled");
    assert_untouched("the bearer token expired");
    assert_untouched("authorization: none");
}

#[test]
fn aws_keys_are_redacted() {
    assert_redacted(
        "using AKIAIOSFODNN7EXAMPLE for s3",
        "AKIAIOSFODNN7EXAMPLE",
        Detector::AwsKey,
    );
    assert_redacted(
        "sts gave ASIAY34FZKBOKMUTVV7A",
        "ASIAY34FZKBOKMUTVV7A",
        Detector::AwsKey,
    );
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    assert_redacted(
        &format!("aws_secret_access_key={secret}"),
        secret,
        Detector::AwsKey,
    );
    assert_redacted(
        &format!(r#"{{"SecretAccessKey": "{secret}"}}"#),
        secret,
        Detector::AwsKey,
    );
}

#[test]
fn aws_look_alikes_survive() {
    assert_untouched("AKIA is a prefix; AKIAIOSFODNN7EXAMPL is too short");
    assert_untouched("XAKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPLEX are glued");
    // A 40-character base64-ish value with no aws/secret keyword near it.
    assert_untouched("blob wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY stored");
}

#[test]
fn github_tokens_are_redacted() {
    for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        let token = format!("{prefix}16C7e42F292c6912E7710c838347Ae178B4a");
        assert_redacted(&format!("push with {token}"), &token, Detector::GitHubToken);
    }
    let pat = "github_pat_11ABCDEFG0123456789abc_XYZxyz0123456789ABCDEFGHIJ";
    assert_redacted(&format!("pat={pat}"), pat, Detector::GitHubToken);
}

#[test]
fn github_look_alikes_survive() {
    assert_untouched("ghp_short and ghx_16C7e42F292c6912E7710c838347Ae178B4a");
    assert_untouched("my_ghp_16C7e42F292c6912E7710c838347Ae178B4a is glued to a word");
}

#[test]
fn slack_tokens_are_redacted() {
    let token = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
    assert_redacted(&format!("slack {token}"), token, Detector::SlackToken);
    assert_redacted(
        "xoxp-1234567890-abc",
        "xoxp-1234567890-abc",
        Detector::SlackToken,
    );
}

#[test]
fn slack_look_alikes_survive() {
    assert_untouched("xoxo-1234567890123 and xoxb-123 and boxoxb-1234567890123");
}

#[test]
fn private_key_bodies_are_redacted() {
    let body = "\nMIIEowIBAAKCAQEA7bq98v1JmF2u1M5\nq9Zr0a3Fz8kYwx2LmQ==\n";
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----{body}-----END RSA PRIVATE KEY-----");
    let out = scrub(&format!("loaded {pem} ok"));
    assert_eq!(
        out,
        "loaded -----BEGIN RSA PRIVATE KEY-----[REDACTED:private_key]-----END RSA PRIVATE KEY----- ok"
    );
    for label in [
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ] {
        let pem = format!("-----BEGIN {label}-----{body}-----END {label}-----");
        assert_redacted(
            &pem,
            "MIIEowIBAAKCAQEA7bq98v1JmF2u1M5",
            Detector::PrivateKey,
        );
    }
}

#[test]
fn truncated_private_key_is_redacted_to_the_end() {
    let out =
        scrub("key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAKcwggSjAg");
    assert_eq!(
        out,
        "key: -----BEGIN PRIVATE KEY-----[REDACTED:private_key]"
    );
}

#[test]
fn public_pem_blocks_survive() {
    assert_untouched(
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
    );
    assert_untouched("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n-----END PUBLIC KEY-----");
}

#[test]
fn only_the_url_password_is_redacted() {
    assert_eq!(
        scrub("calling https://user:pass@host/"),
        "calling https://user:[REDACTED:url_password]@host/"
    );
    assert_eq!(
        scrub("db postgres://app:p@ss:w0rd@db.internal:5432/app?sslmode=require"),
        "db postgres://app:[REDACTED:url_password]@db.internal:5432/app?sslmode=require"
    );
    assert_eq!(
        scrub("redis+tls://:s3cret@cache.example.com"),
        "redis+tls://:[REDACTED:url_password]@cache.example.com"
    );
}

#[test]
fn urls_without_passwords_survive() {
    assert_untouched("https://example.com/a:b@c and https://user@host/ and ftp://host:21/");
    assert_untouched("not a url: user:pass and https://host/path?x=1");
}

#[test]
fn card_numbers_are_redacted() {
    for card in [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "378282246310005",
        "3782 822463 10005",
        "5555555555554444",
        "6011111111111117",
        "4222222222222",
        "6250941006528599",
    ] {
        assert_redacted(
            &format!("paid with {card}, thanks"),
            card,
            Detector::CardNumber,
        );
    }
    assert_redacted(
        "items 12 4111 1111 1111 1111",
        "4111 1111 1111 1111",
        Detector::CardNumber,
    );
}

#[test]
fn card_look_alikes_survive() {
    assert_untouched("order 4111111111111112 failed"); // Luhn fails
    assert_untouched("id 1234567812345678"); // Luhn fails
    assert_untouched("ts 1764136567123456789 and 1764136567123"); // timestamps
                                                                  // Phone numbers are not cards (the phone detector names those with `+`).
    let phones = scrub("call +1 202 555 0143 or +44 20 7946 0958 or (555) 123-4567");
    assert!(!phones.contains("card_number"), "{phones}");
    assert_untouched("hex a4111111111111111b and 4111111111111111x and 3.4111111111111111");
    assert_untouched("order ORD-2024-000123 shipped");
}

#[test]
fn ssns_are_redacted() {
    assert_redacted("ssn 123-45-6789 on file", "123-45-6789", Detector::UsSsn);
    assert_redacted("ssn:536-90-4399.", "536-90-4399", Detector::UsSsn);
}

#[test]
fn invalid_and_sample_ssns_survive() {
    for ssn in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "123-00-4567",
        "123-45-0000",
        "078-05-1120",
        "219-09-9999",
    ] {
        assert_untouched(&format!("ssn {ssn} on file"));
    }
    assert_untouched("ticket 555-123-4567, date 2026-11-26, part 123-45-67890, x123-45-6789");
}

#[test]
fn emails_are_redacted() {
    for email in [
        "alice@example.com",
        "first.last+tag@sub.example.co.uk",
        "x_y-z%1@mail-server.org",
    ] {
        assert_redacted(&format!("send to <{email}>."), email, Detector::Email);
    }
    assert_eq!(scrub("mail bob@example.com."), "mail [REDACTED:email].");
}

#[test]
fn email_look_alikes_survive() {
    assert_untouched("@alice said hi to user@localhost about a@b.c and 3@4.56");
    assert_untouched("decorator @property and npm @scope/pkg and foo@@bar.com");
}

#[test]
fn ip_addresses_are_redacted() {
    for ip in ["10.0.0.1", "192.168.1.254", "8.8.8.8"] {
        assert_redacted(&format!("from {ip}:443 ok"), ip, Detector::IpAddress);
    }
    for ip in [
        "2001:db8::1",
        "fe80::1ff:fe23:4567:890a",
        "::1",
        "::ffff:10.0.0.1",
    ] {
        assert_redacted(&format!("peer [{ip}]:8080"), ip, Detector::IpAddress);
    }
    assert_eq!(scrub("to 10.1.2.3."), "to [REDACTED:ip_address].");
    assert_eq!(scrub("at fe80::1."), "at [REDACTED:ip_address].");
}

#[test]
fn ip_look_alikes_survive() {
    assert_untouched("version 1.2.3.4-beta and 1.2.3.4.5 and v1.2.3.4 and 256.1.1.1");
    assert_untouched("release app-1.2.3.4 built, 1.2.3 is semver, 3.14 is pi");
    assert_untouched("at 12:34:56 mac 00:1a:2b:3c:4d:5e path std::io::Error foo :: bar");
    assert_untouched("ts 2026-11-26T05:56:07.123456789Z");
}

#[test]
fn keyword_secrets_are_redacted() {
    assert_eq!(
        scrub("token=9f8e7d6c5b4a39281706"),
        "token=[REDACTED:keyword_secret]"
    );
    assert_eq!(
        scrub(r#"{"api_key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"}"#),
        r#"{"api_key": "[REDACTED:stripe_key]"}"#,
        "the provider's own format names the secret more precisely than its key"
    );
    assert_eq!(
        scrub("password=hunter2 user=bob"),
        "password=[REDACTED:keyword_secret] user=bob"
    );
    assert_eq!(
        scrub("Config { db_password: \"correct horse\", port: 5432 }"),
        "Config { db_password: \"[REDACTED:keyword_secret]\", port: 5432 }"
    );
    assert_eq!(
        scrub(r#"body {\"client_secret\":\"Xy7pQ2mZ9vL4kR8t\"}"#),
        r#"body {\"client_secret\":\"[REDACTED:keyword_secret]\"}"#
    );
    assert_eq!(
        scrub("GET /cb?code=1&access_token=ya29.A0ARrdaM8xYz12&state=x"),
        "GET /cb?code=1&access_token=[REDACTED:keyword_secret]&state=x"
    );
    assert_eq!(
        scrub("SECRET: Zx8Kq2Lm9Pw4"),
        "SECRET: [REDACTED:keyword_secret]"
    );
}

#[test]
fn keyword_look_alikes_survive() {
    assert_untouched("token=none key=42 secret: required password: null pwd=/home/alice");
    assert_untouched("cache_key=user_profile_cache monkey: banana api_key=");
    assert_untouched("cache key: user:1234:profile expires_at key=2026-11-26T05:56:07Z");
    assert_untouched("error: connection refused, retry=3 timeout=30s");
    assert_untouched("password: ******** token=[REDACTED]");
}

#[test]
fn general_look_alikes_survive_defaults() {
    let set = DetectorSet::for_stream(Stream::Debug);
    for text in [
        "request 550e8400-e29b-41d4-a716-446655440000 done",
        "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 pushed",
        "at 2026-11-26T05:56:07.123456789Z and 2026-11-26 05:56:07+00:00",
        "order #A-10023-77 and ORD-2024-000123 and invoice 2024/11/000123",
        "running 1.2.3.4-beta, upgraded from 0.9.12",
        "payload SGVsbG8sIHdvcmxkIQ== size 13",
        "card 4111111111111112 declined",
        "call 555-123-4567 or (202) 555-0143",
        "took 12.5ms, 3 retries, status=200",
    ] {
        assert_eq!(set.scrub(text, None), text);
    }
}

#[test]
fn international_phone_numbers_are_redacted() {
    for phone in [
        "+44 20 7946 0958",
        "+1 (202) 555-0143",
        "+4915123456789",
        "+33 1 23 45 67 89",
    ] {
        assert_redacted(&format!("call {phone} now"), phone, Detector::Phone);
    }
}

#[test]
fn phone_look_alikes_survive() {
    assert_untouched("at 2026-11-26T05:56:07+00:00 and +0100 and x+12345678 and 1+2345678901");
    assert_untouched("build 1.2.3+20261126 and +12 and +1234567 and c++ 2024");
    assert_untouched("call 555-123-4567 or (202) 555-0143");
}
