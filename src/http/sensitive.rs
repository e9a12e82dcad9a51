//! What is secret in HTTP, beyond the field-name deny list every stream uses.
//!
//! The deny list (`crate::redact::FieldRules`) knows `password` and `token`; HTTP adds names
//! that are only secret in a request: OAuth and OIDC parameters (`code`, `id_token`,
//! `client_assertion`, `code_verifier`), SAML messages, one-time codes (`otp`, `mfa_code`,
//! `totp`), session ids (`jsessionid`, `sid`), and `pwd`, which in a shell names the working
//! directory but in a login form is a password. Headers are secret by *pattern*: any header
//! whose name contains `session`, `token`, `auth`, `secret`, `key`, `cookie`, `csrf`, … , so
//! `X-Session` or `X-Upstream-Auth` are masked without a list that must know them. URLs inside
//! headers (`Referer`, `Location`) get their query masked as the request's own query is, and
//! paths lose the segments that look like tokens when no route template says what they are.
//!
//! `state` (OAuth's anti-forgery value) is not secret: it binds a callback to the browser that
//! started the flow, grants nothing by itself, and is what an engineer follows a failed login
//! by. `nonce` likewise.
//!
//! An application's own [`FieldRules`] rule for a name wins over these defaults, so
//! `.rule("code", Action::Keep)` shows a `code` parameter that is not a credential.

use crate::redact::{Action, FieldRules, MASK};

/// Whole names (lower case, separators removed) that are secret in a request.
const SECRET_NAMES: &[&str] = &[
    "code",
    "codeverifier",
    "clientassertion",
    "assertion",
    "samlresponse",
    "samlrequest",
    "samlart",
    "ticket",
    "sid",
    "sig",
    "key",
    "pwd",
    "pass",
    "passcode",
    "otp",
    "totp",
    "hotp",
    "mfa",
    "2fa",
    "session",
    "sessid",
    "sessionid",
    "jsessionid",
    "phpsessid",
    "aspsessionid",
    "cfid",
    "cftoken",
];

/// Words that make any name containing them secret (`mfa_code`, `x_csrf`, `otpValue`).
const SECRET_WORDS: &[&str] = &[
    "otp",
    "totp",
    "hotp",
    "mfa",
    "2fa",
    "passcode",
    "pwd",
    "session",
    "sessionid",
    "sessid",
    "jsessionid",
    "phpsessid",
    "csrf",
    "xsrf",
    "saml",
    "samlresponse",
    "assertion",
];

/// Words before a final `code` that make it a credential (`auth_code`, `one_time_code`,
/// `verification_code`), unlike `country_code` or `error_code`.
const CODE_QUALIFIERS: &[&str] = &[
    "auth",
    "authorization",
    "authz",
    "access",
    "verification",
    "verify",
    "confirmation",
    "confirm",
    "reset",
    "recovery",
    "backup",
    "time",
    "onetime",
    "device",
    "user",
    "sms",
    "email",
    "login",
    "security",
    "activation",
    "invite",
    "invitation",
    "magic",
    "secret",
    "pairing",
];

/// Last words that describe a secret rather than hold it (`session_count`, `otp_length`).
const DESCRIBES: &[&str] = &[
    "count", "length", "len", "at", "expires", "expiry", "ttl", "timeout", "type", "kind",
    "enabled", "required", "method", "status", "url", "uri", "name",
];

/// Substrings of header names that mark the header as carrying a credential.
const SECRET_HEADER_PARTS: &[&str] = &[
    "session",
    "token",
    "auth",
    "secret",
    "key",
    "cookie",
    "csrf",
    "xsrf",
    "passw",
    "pwd",
    "signature",
    "credential",
    "otp",
    "saml",
    "ticket",
    "jwt",
    "assertion",
];

/// Headers whose value is a URL: shown with the URL's secrets masked.
const URL_HEADERS: &[&str] = &[
    "referer",
    "location",
    "content-location",
    "origin",
    "refresh",
    "x-original-url",
    "x-rewrite-url",
    "x-forwarded-uri",
    "x-original-uri",
];

/// The rule for a query, form, JSON or matrix parameter called `name`: the application's own
/// rule, else the deny list (also in the snake-case form of `x-api-key`), else the HTTP names.
pub(crate) fn param_action(rules: &FieldRules, name: &str) -> Action {
    if let Some(action) = rules.added_rule_for(name) {
        return action;
    }
    let action = rules.action_for(name);
    if action != Action::Keep {
        return action;
    }
    if name.contains('-') {
        let snake = name.replace('-', "_");
        let action = rules.action_for(&snake);
        if action != Action::Keep {
            return action;
        }
    }
    if names_http_secret(name) {
        Action::Mask
    } else {
        Action::Keep
    }
}

/// The rule for a header called `name` (lower case, as `http` keeps them).
pub(crate) fn header_action(rules: &FieldRules, name: &str) -> Action {
    if let Some(action) = rules.added_rule_for(name) {
        return action;
    }
    if SECRET_HEADER_PARTS.iter().any(|p| name.contains(p)) {
        return Action::Mask;
    }
    param_action(rules, name)
}

/// Whether a header's value is a URL whose query and path are masked before it is shown.
pub(crate) fn is_url_header(name: &str) -> bool {
    URL_HEADERS.contains(&name)
}

/// Whether `name` is secret in a request by the HTTP names above.
fn names_http_secret(name: &str) -> bool {
    let words = words(name);
    if words.is_empty() {
        return false;
    }
    let joined: String = words.concat();
    if SECRET_NAMES.contains(&joined.as_str()) {
        return true;
    }
    let last = words[words.len() - 1].as_str();
    if words.len() > 1 && DESCRIBES.contains(&last) {
        return false;
    }
    if last == "code" && words.len() > 1 {
        let before = words[words.len() - 2].as_str();
        if CODE_QUALIFIERS.contains(&before) || SECRET_WORDS.contains(&before) {
            return true;
        }
    }
    if last == "verifier" || last == "assertion" {
        return true;
    }
    words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
}

/// The words of a name, lower case: split at anything not alphanumeric and where a lower-case
/// letter is followed by an upper-case one (`mfaCode`, `SAMLResponse` stays one word).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        word.push(c.to_ascii_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// A path with its secrets masked: segments that look like tokens, and matrix parameters
/// (`;jsessionid=…`) whose name is secret. For paths no route template explains (an unmatched
/// route, or a service without the `axum` feature).
pub(crate) fn path(rules: &FieldRules, path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let (bare, matrix) = match segment.split_once(';') {
            Some((bare, matrix)) => (bare, Some(matrix)),
            None => (segment, None),
        };
        if looks_like_token(&super::content::percent_decode(bare)) {
            out.push_str(MASK);
        } else {
            out.push_str(bare);
        }
        if let Some(matrix) = matrix {
            out.push(';');
            out.push_str(&matrix_params(rules, matrix));
        }
    }
    out
}

/// A concrete path segment a route template matched, with its matrix parameters masked
/// (`7;jsessionid=…` matches `{id}`).
pub(crate) fn matched_segment(rules: &FieldRules, segment: &str, out: &mut String) {
    match segment.split_once(';') {
        Some((bare, matrix)) => {
            out.push_str(bare);
            out.push(';');
            out.push_str(&matrix_params(rules, matrix));
        }
        None => out.push_str(segment),
    }
}

fn matrix_params(rules: &FieldRules, matrix: &str) -> String {
    let mut out = Vec::new();
    for item in matrix.split(';') {
        let (key, _) = item.split_once('=').unwrap_or((item, ""));
        match param_action(rules, &super::content::percent_decode(key)) {
            Action::Keep => out.push(item.to_owned()),
            Action::Drop => {}
            _ => out.push(format!("{key}={MASK}")),
        }
    }
    out.join(";")
}

/// A URL (a `Referer` or `Location` value) with its secrets masked: the user info's password,
/// token-like path segments and secret matrix parameters, query parameters by name as the
/// request's own query, and a fragment (OAuth's implicit flow returns `#access_token=…`) as a
/// query, or entirely when it looks like a token.
pub(crate) fn url(rules: &FieldRules, value: &str) -> String {
    let (rest, fragment) = match value.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (value, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (origin, path_part) = split_origin(rest);
    let mut out = String::with_capacity(value.len());
    out.push_str(&without_password(origin));
    out.push_str(&path(rules, path_part));
    if let Some(query) = query {
        out.push('?');
        out.push_str(&super::content::pairs(rules, query, false));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        if fragment.contains('=') {
            out.push_str(&super::content::pairs(rules, fragment, false));
        } else if looks_like_token(fragment) {
            out.push_str(MASK);
        } else {
            out.push_str(fragment);
        }
    }
    out
}

/// `scheme://authority` and the path after it; a relative URL is all path.
fn split_origin(url: &str) -> (&str, &str) {
    let Some(scheme_end) = url.find("://") else {
        return ("", url);
    };
    let after = scheme_end + 3;
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    (&url[..end], &url[end..])
}

/// The origin with the password of its user info masked.
fn without_password(origin: &str) -> String {
    let Some(scheme_end) = origin.find("://") else {
        return origin.to_owned();
    };
    let authority = &origin[scheme_end + 3..];
    let Some(at) = authority.rfind('@') else {
        return origin.to_owned();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    let masked = if user.len() == userinfo.len() {
        userinfo.to_owned()
    } else {
        format!("{user}:{MASK}")
    };
    format!("{}{masked}{}", &origin[..scheme_end + 3], &authority[at..])
}

/// Whether a path segment looks like a credential rather than a name or an id: long and
/// random-looking (letters mixed with digits, or one long run without word breaks), or short
/// with letters and digits interleaved like a generated code. Numbers (`7`, `2024`) and words
/// (`password-reset`, `v2`, `item1234`) stay.
pub(crate) fn looks_like_token(segment: &str) -> bool {
    let b = segment.as_bytes();
    if b.len() < 8
        || !b.iter().all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
        })
    {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
    if b.len() >= 16 && digits > 0 && letters > 0 {
        return true;
    }
    let longest_part = segment
        .split(['-', '_', '.', '~'])
        .map(str::len)
        .max()
        .unwrap_or(0);
    if b.len() >= 20 && longest_part >= 16 {
        return true;
    }
    // Case or letter/digit changes inside one part: `a8f3k29x`, `xQ7pLm2R`.
    let changes = b
        .windows(2)
        .filter(|w| {
            let class = |c: u8| {
                if c.is_ascii_digit() {
                    0
                } else if c.is_ascii_uppercase() {
                    1
                } else if c.is_ascii_lowercase() {
                    2
                } else {
                    3
                }
            };
            class(w[0]) != class(w[1]) && class(w[0]) != 3 && class(w[1]) != 3
        })
        .count();
    digits >= 2 && letters >= 2 && changes >= 3 || changes >= 5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_names_are_secret_and_lookalikes_are_not() {
        let rules = FieldRules::default();
        for name in [
            "code",
            "id_token",
            "access_token",
            "refresh_token",
            "client_secret",
            "SAMLResponse",
            "otp",
            "mfa_code",
            "mfaCode",
            "totp",
            "pwd",
            "one_time_code",
            "verification_code",
            "code_verifier",
            "client_assertion",
            "jsessionid",
            "PHPSESSID",
            "session_id",
            "csrf_token",
            "x-session",
            "sid",
        ] {
            assert_ne!(param_action(&rules, name), Action::Keep, "{name}");
        }
        for name in [
            "state",
            "nonce",
            "country_code",
            "error_code",
            "format",
            "page",
            "redirect_uri",
            "session_count",
            "otp_length",
            "username",
        ] {
            assert_eq!(param_action(&rules, name), Action::Keep, "{name}");
        }
        let keep_code = FieldRules::default().rule("code", Action::Keep);
        assert_eq!(param_action(&keep_code, "code"), Action::Keep);
    }

    #[test]
    fn headers_are_secret_by_pattern() {
        let rules = FieldRules::default();
        for name in [
            "x-session",
            "x-upstream-auth",
            "x-csrf-token",
            "x-amz-security-token",
            "proxy-authorization",
            "x-goog-api-key",
            "x-xsrf",
            "x-otp",
            "cookie",
        ] {
            assert_eq!(header_action(&rules, name), Action::Mask, "{name}");
        }
        for name in [
            "content-type",
            "accept",
            "user-agent",
            "referer",
            "x-request-id",
        ] {
            assert_eq!(header_action(&rules, name), Action::Keep, "{name}");
        }
        let keep = FieldRules::default().rule("x-session", Action::Keep);
        assert_eq!(header_action(&keep, "x-session"), Action::Keep);
    }

    #[test]
    fn urls_lose_their_secrets_and_keep_their_shape() {
        let rules = FieldRules::default();
        assert_eq!(
            url(
                &rules,
                "https://app.example/cb?code=Q1w2E3r4&state=abc&page=2#access_token=T0k&token_type=bearer"
            ),
            "https://app.example/cb?code=[REDACTED]&state=abc&page=2#access_token=[REDACTED]&token_type=bearer"
        );
        assert_eq!(
            url(
                &rules,
                "https://bob:hunter2@h.example/a;jsessionid=ABC123/b"
            ),
            "https://bob:[REDACTED]@h.example/a;jsessionid=[REDACTED]/b"
        );
        assert_eq!(
            url(&rules, "/reset/8f14e45fceea167a5a36dedd4bea2543?x=1"),
            "/reset/[REDACTED]?x=1"
        );
    }

    #[test]
    fn token_like_segments_are_told_from_names_and_ids() {
        for token in [
            "8f14e45fceea167a5a36dedd4bea2543",
            "550e8400-e29b-41d4-a716-446655440000",
            "a8f3k29x",
            "xQ7pLm2RzT",
            "dGhpcyBpcyBhIHNlY3JldCB0b2tlbg",
            "QWERTYUIOPASDFGHJKLZXCV",
        ] {
            assert!(looks_like_token(token), "{token}");
        }
        for name in [
            "reports",
            "7",
            "2024",
            "v2",
            "item1234",
            "password-reset",
            "this-is-a-long-blog-slug",
            "index.html",
            "favicon.ico",
            "api",
            "UserProfile",
        ] {
            assert!(!looks_like_token(name), "{name}");
        }
        let rules = FieldRules::default();
        assert_eq!(
            path(&rules, "/reset/Zk3J9qLx0aPz7mW2;jsessionid=1A2B3C"),
            "/reset/[REDACTED];jsessionid=[REDACTED]"
        );
    }
}
