//! Tokens of service providers recognisable by a distinctive prefix: cloud platforms, VCS and CI
//! systems, payment and messaging providers, package registries, AI APIs.
//!
//! A distinctive prefix is enough on its own: a token with a provider's prefix and body shape is
//! a credential whether or not its checksum (where the provider has one) is right, since a
//! mistyped token pasted into a log is still someone's secret.

use super::engine::Hits;
use super::tokens::{is_word_byte, run_end};
use super::Detector;

/// The alphabet of a token's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// Letters and digits.
    Alnum,
    /// Letters, digits, `_` and `-` (base64url and most provider alphabets).
    Url,
    /// Lowercase hex digits (upper case accepted too).
    Hex,
    /// Letters, digits, `_`, `-` and `.` (tokens made of dotted parts).
    Dotted,
    /// Standard base64 with its padding.
    Base64,
}

impl Body {
    fn admits(self, c: u8) -> bool {
        match self {
            Body::Alnum => c.is_ascii_alphanumeric(),
            Body::Url => c.is_ascii_alphanumeric() || c == b'_' || c == b'-',
            Body::Hex => c.is_ascii_hexdigit(),
            Body::Dotted => c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'),
            Body::Base64 => is_base64_byte(c),
        }
    }
}

/// One provider's token format: a prefix, then `min..=max` bytes of its body alphabet.
#[derive(Debug)]
struct Rule {
    prefix: &'static [u8],
    label: &'static str,
    body: Body,
    min: usize,
    max: usize,
}

const fn rule(
    prefix: &'static [u8],
    label: &'static str,
    body: Body,
    min: usize,
    max: usize,
) -> Rule {
    Rule {
        prefix,
        label,
        body,
        min,
        max,
    }
}

/// Prefixes and body shapes as the providers document them. Longer prefixes sharing a start
/// with shorter ones come first (`sk-ant-` before `sk-`).
const RULES: &[Rule] = &[
    // Payment.
    rule(b"sk_live_", "stripe_key", Body::Alnum, 20, 247),
    rule(b"sk_test_", "stripe_key", Body::Alnum, 20, 247),
    rule(b"rk_live_", "stripe_key", Body::Alnum, 20, 247),
    rule(b"rk_test_", "stripe_key", Body::Alnum, 20, 247),
    rule(b"whsec_", "stripe_key", Body::Alnum, 24, 128),
    rule(b"sq0atp-", "square_token", Body::Url, 22, 100),
    rule(b"sq0csp-", "square_token", Body::Url, 40, 100),
    rule(b"EAAA", "square_token", Body::Url, 60, 100),
    rule(
        b"access_token$production$",
        "braintree_token",
        Body::Dotted,
        32,
        200,
    ),
    rule(b"rzp_live_", "razorpay_key", Body::Alnum, 14, 64),
    rule(b"FLWSECK-", "flutterwave_key", Body::Url, 32, 64),
    rule(b"shippo_live_", "shippo_token", Body::Hex, 40, 40),
    // Cloud platforms.
    rule(b"AIza", "google_api_key", Body::Url, 35, 35),
    rule(b"GOCSPX-", "google_oauth_secret", Body::Url, 28, 28),
    rule(b"ya29.", "google_oauth_token", Body::Url, 20, 2048),
    rule(b"dop_v1_", "digitalocean_token", Body::Hex, 64, 64),
    rule(b"doo_v1_", "digitalocean_token", Body::Hex, 64, 64),
    rule(b"dor_v1_", "digitalocean_token", Body::Hex, 64, 64),
    rule(b"LTAI", "alibaba_key", Body::Alnum, 16, 20),
    rule(b"AKID", "tencent_key", Body::Alnum, 32, 32),
    rule(b"hvs.", "vault_token", Body::Url, 24, 512),
    rule(b"hvb.", "vault_token", Body::Url, 24, 512),
    rule(b"hvr.", "vault_token", Body::Url, 24, 512),
    rule(b"HRKU-", "heroku_key", Body::Url, 60, 60),
    rule(b"dp.pt.", "doppler_token", Body::Alnum, 40, 44),
    rule(b"dp.st.", "doppler_token", Body::Url, 40, 80),
    rule(b"dp.sa.", "doppler_token", Body::Alnum, 40, 44),
    rule(b"dp.ct.", "doppler_token", Body::Alnum, 40, 44),
    rule(b"pul-", "pulumi_token", Body::Hex, 40, 40),
    rule(b"tskey-", "tailscale_key", Body::Url, 20, 100),
    rule(b"fo1_", "flyio_token", Body::Url, 39, 64),
    rule(b"sbp_", "supabase_token", Body::Hex, 40, 40),
    rule(b"nfp_", "netlify_token", Body::Alnum, 36, 40),
    rule(b"rnd_", "render_key", Body::Alnum, 28, 40),
    rule(b"pscale_tkn_", "planetscale_token", Body::Url, 32, 64),
    rule(b"pscale_pw_", "planetscale_password", Body::Url, 32, 64),
    rule(b"dapi", "databricks_token", Body::Hex, 32, 32),
    rule(b"AKCp", "jfrog_key", Body::Alnum, 69, 69),
    rule(b"NRAK-", "newrelic_key", Body::Alnum, 27, 27),
    rule(b"NRII-", "newrelic_key", Body::Url, 32, 32),
    rule(b"sntrys_", "sentry_token", Body::Dotted, 40, 256),
    rule(b"sntryu_", "sentry_token", Body::Hex, 64, 64),
    rule(b"glc_", "grafana_token", Body::Url, 32, 256),
    rule(b"glsa_", "grafana_token", Body::Url, 32, 64),
    rule(b"AGE-SECRET-KEY-1", "age_key", Body::Alnum, 58, 58),
    // VCS and CI.
    rule(b"glpat-", "gitlab_token", Body::Dotted, 20, 64),
    rule(b"gldt-", "gitlab_token", Body::Url, 20, 64),
    rule(b"glptt-", "gitlab_token", Body::Url, 20, 64),
    rule(b"glrt-", "gitlab_token", Body::Url, 20, 64),
    rule(b"glcbt-", "gitlab_token", Body::Url, 20, 64),
    rule(b"glft-", "gitlab_token", Body::Url, 20, 64),
    rule(b"glimt-", "gitlab_token", Body::Url, 20, 64),
    rule(b"gloas-", "gitlab_token", Body::Url, 20, 64),
    rule(b"glsoat-", "gitlab_token", Body::Url, 20, 64),
    rule(b"glagent-", "gitlab_token", Body::Url, 20, 64),
    rule(b"ATBB", "bitbucket_token", Body::Alnum, 32, 64),
    rule(b"ATATT", "atlassian_token", Body::Dotted, 40, 300),
    rule(b"CCIPAT_", "circleci_token", Body::Url, 40, 64),
    rule(b"bkua_", "buildkite_token", Body::Hex, 40, 40),
    rule(b"dckr_pat_", "docker_token", Body::Url, 24, 40),
    rule(b"PMAK-", "postman_key", Body::Url, 40, 64),
    // Package registries.
    rule(b"npm_", "npm_token", Body::Alnum, 36, 36),
    rule(b"pypi-AgEIcHlwaS5vcmc", "pypi_token", Body::Url, 40, 300),
    rule(
        b"pypi-AgENdGVzdC5weXBpLm9yZw",
        "pypi_token",
        Body::Url,
        40,
        300,
    ),
    rule(b"rubygems_", "rubygems_token", Body::Hex, 48, 48),
    rule(b"CLOJARS_", "clojars_token", Body::Alnum, 60, 60),
    rule(b"oy2", "nuget_key", Body::Alnum, 43, 43),
    rule(b"cio", "crates_token", Body::Alnum, 32, 32),
    // Messaging and e-mail.
    rule(b"xapp-", "slack_token", Body::Url, 20, 255),
    rule(b"xoxe.xox", "slack_token", Body::Url, 20, 255),
    rule(b"xoxe-", "slack_token", Body::Url, 20, 255),
    rule(b"SG.", "sendgrid_key", Body::Dotted, 60, 80),
    rule(b"key-", "mailgun_key", Body::Hex, 32, 32),
    rule(b"xkeysib-", "brevo_key", Body::Url, 60, 100),
    // AI APIs.
    rule(b"sk-ant-", "anthropic_key", Body::Url, 40, 200),
    rule(b"sk-proj-", "openai_key", Body::Url, 40, 300),
    rule(b"sk-svcacct-", "openai_key", Body::Url, 40, 300),
    rule(b"sk-admin-", "openai_key", Body::Url, 40, 300),
    rule(b"sk-", "openai_key", Body::Alnum, 48, 48),
    rule(b"hf_", "huggingface_token", Body::Alnum, 34, 40),
    rule(b"gsk_", "groq_key", Body::Alnum, 48, 56),
    rule(b"r8_", "replicate_token", Body::Alnum, 37, 40),
    rule(b"pplx-", "perplexity_key", Body::Alnum, 48, 56),
    rule(b"xai-", "xai_key", Body::Alnum, 70, 90),
    // Productivity and others.
    rule(b"lin_api_", "linear_key", Body::Alnum, 40, 40),
    rule(b"ntn_", "notion_token", Body::Alnum, 40, 50),
    rule(b"figd_", "figma_token", Body::Url, 40, 50),
    rule(b"ops_eyJ", "onepassword_token", Body::Dotted, 40, 2048),
    rule(b"sk.eyJ", "mapbox_token", Body::Dotted, 60, 2048),
    rule(b"sl.", "dropbox_token", Body::Url, 130, 1400),
    rule(b"aio_", "adafruit_key", Body::Alnum, 28, 28),
    // A Twilio API key's SID names the key and, with its secret, opens the account.
    rule(b"SK", "twilio_key", Body::Hex, 32, 32),
    // A Docker `config.json`/`.dockerconfigjson` in base64 (`{"auths":`, compact or indented):
    // every registry's `auth` credential is inside.
    rule(b"eyJhdXRocyI6", "docker_config", Body::Base64, 8, 1 << 20),
    rule(
        b"ewogICJhdXRocyI6",
        "docker_config",
        Body::Base64,
        8,
        1 << 20,
    ),
    rule(
        b"ewoJImF1dGhzIjo",
        "docker_config",
        Body::Base64,
        8,
        1 << 20,
    ),
    rule(b"pnu_", "prefect_key", Body::Alnum, 36, 36),
];

/// The shortest whole token any rule matches, used by the prefilter: shorter runs of token bytes
/// cannot hold a provider token.
pub(super) const MIN_TOKEN: usize = 20;

/// Rules per first byte of their prefix (indices into [`RULES`], `NONE` after the last), so a
/// word start is compared with the few rules it can begin, not all of them.
const PER_BYTE: usize = 16;
const NONE: u8 = u8::MAX;
static BY_FIRST_BYTE: [[u8; PER_BYTE]; 256] = {
    let mut table = [[NONE; PER_BYTE]; 256];
    let mut i = 0;
    while i < RULES.len() {
        let first = RULES[i].prefix[0] as usize;
        let mut k = 0;
        while table[first][k] != NONE {
            k += 1;
        }
        // A compile error if one first byte ever has more rules than a row holds.
        table[first][k] = i as u8;
        i += 1;
    }
    table
};

/// Whether `b` can start a rule's prefix.
fn may_start(c: u8) -> bool {
    BY_FIRST_BYTE[c as usize][0] != NONE
}

/// Finds provider tokens and Telegram bot tokens.
pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let at_start = i == 0 || !(is_word_byte(b[i - 1]) || matches!(b[i - 1], b'-' | b'.'));
        if !at_start || !may_start(c) {
            if c == b':' {
                i = telegram(b, i, hits).max(i + 1);
            } else {
                i += 1;
            }
            continue;
        }
        let rest = &b[i..];
        let mut next = i + 1;
        for &index in &BY_FIRST_BYTE[c as usize] {
            let Some(rule) = RULES.get(usize::from(index)) else {
                break;
            };
            if !rest.starts_with(rule.prefix) {
                continue;
            }
            let body = i + rule.prefix.len();
            let mut end = run_end(b, body, |c| rule.body.admits(c));
            // A dotted body does not end in a dot (the end of a sentence).
            while rule.body == Body::Dotted && end > body && b[end - 1] == b'.' {
                end -= 1;
            }
            let len = end - body;
            if len < rule.min || len > rule.max {
                continue;
            }
            if b.get(end).is_some_and(|&c| is_word_byte(c)) {
                continue;
            }
            if !body_is_generated(&b[body..end]) {
                continue;
            }
            hits.push_labelled(Detector::ProviderToken, rule.label, i, end);
            next = end;
            break;
        }
        i = next;
    }
}

fn is_base64_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')
}

/// Microsoft's identifiable keys: base64 keys of a fixed length carrying a service signature at
/// a fixed offset (Storage `+ASt`, Service Bus `+ASb`, Event Hubs `+AEh`, Relay `+ARm`, Cosmos DB
/// `ACDb`, API Management `APIM`, Functions `AzFu`, Cognitive Search `AzSe`, Container Registry
/// `+ACR`, Azure AI services `JQQJ9`). The signature, not a keyword, identifies them.
const AZURE_SIGNATURES: &[(usize, usize, &[u8])] = &[
    (88, 76, b"+ASt"),
    (88, 76, b"+ASb"),
    (88, 76, b"+AEh"),
    (88, 76, b"+ARm"),
    (88, 76, b"ACDb"),
    (88, 76, b"APIM"),
    (56, 44, b"AzFu"),
    (52, 42, b"AzSe"),
    (52, 42, b"+ACR"),
    (84, 52, b"JQQJ9"),
];

/// Finds Microsoft identifiable keys and Entra ID (Azure AD) client secrets
/// (`abc8Q~` and 31 to 34 more bytes: the `Q~` after a digit at offset 4 is their mark).
pub(super) fn find_shaped(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !is_base64_byte(b[i]) {
            i += 1;
            continue;
        }
        let end = run_end(b, i, is_base64_byte);
        let run = &b[i..end];
        let glued = (i > 0 && matches!(b[i - 1], b'-' | b'_' | b'.'))
            || b.get(end).is_some_and(|&c| c == b'-' || c == b'_');
        if !glued {
            for &(len, at, signature) in AZURE_SIGNATURES {
                if run.len() == len && run[at..].starts_with(signature) {
                    hits.push_labelled(Detector::ProviderToken, "azure_key", i, end);
                    break;
                }
            }
        }
        i = end;
    }
    for q in memchr::memmem::find_iter(b, b"Q~") {
        entra_secret(b, q, hits);
    }
}

/// An Entra ID client secret whose `Q~` mark is at `q`.
fn entra_secret(b: &[u8], q: usize, hits: &mut Hits) {
    let is_secret_byte =
        |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'~' | b'.' | b'-');
    if q < 4 || !b[q - 1].is_ascii_digit() || !b[q - 4..q - 1].iter().all(|&c| is_secret_byte(c)) {
        return;
    }
    let start = q - 4;
    if start > 0 && is_secret_byte(b[start - 1]) {
        return;
    }
    // At most one byte past the longest body is looked at, so runs of `1Q~` stay linear.
    let limit = (q + 2 + 35).min(b.len());
    let end = run_end(&b[..limit], q + 2, is_secret_byte);
    let glued = b.get(end).is_some_and(|&c| is_secret_byte(c));
    if !glued && (31..=34).contains(&(end - q - 2)) && body_is_generated(&b[q + 2..end]) {
        hits.push_labelled(Detector::ProviderToken, "azure_client_secret", start, end);
    }
}

/// A generated body has at least one digit or mixes cases; a word after a prefix
/// (`key-management-service-config`) does neither.
fn body_is_generated(body: &[u8]) -> bool {
    let digit = body.iter().any(u8::is_ascii_digit);
    let upper = body.iter().any(u8::is_ascii_uppercase);
    let lower = body.iter().any(u8::is_ascii_lowercase);
    digit || (upper && lower)
}

/// A Telegram bot token `<bot id>:AA<33 bytes>`, the colon at `colon`. Returns where scanning
/// resumes.
fn telegram(b: &[u8], colon: usize, hits: &mut Hits) -> usize {
    let mut start = colon;
    while start > 0 && colon - start < 11 && b[start - 1].is_ascii_digit() {
        start -= 1;
    }
    let digits = colon - start;
    // `https://api.telegram.org/bot<token>/sendMessage`: the API puts the token in the path,
    // glued to `bot`.
    let in_api_path = b[..start].ends_with(b"/bot");
    if !(8..=10).contains(&digits) || (start > 0 && is_word_byte(b[start - 1]) && !in_api_path) {
        return colon + 1;
    }
    if !b[colon + 1..].starts_with(b"AA") {
        return colon + 1;
    }
    let end = run_end(b, colon + 1, |c| {
        c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
    });
    if end - colon - 1 == 35 {
        hits.push_labelled(Detector::ProviderToken, "telegram_token", start, end);
        return end;
    }
    colon + 1
}

/// Webhook URLs whose path is the credential: the host and the path prefix that marks them.
const WEBHOOKS: &[(&[u8], &[u8], &str)] = &[
    (b"hooks.slack.com", b"/services/", "slack_webhook"),
    (b"hooks.slack.com", b"/workflows/", "slack_webhook"),
    (b"discord.com", b"/api/webhooks/", "discord_webhook"),
    (b"discordapp.com", b"/api/webhooks/", "discord_webhook"),
    (b"outlook.office.com", b"/webhook/", "teams_webhook"),
    (b"webhook.office.com", b"/webhookb2/", "teams_webhook"),
    (
        b"chat.googleapis.com",
        b"/v1/spaces/",
        "google_chat_webhook",
    ),
];

/// Finds webhook URLs (the authority starts at `authority`) and records their secret path.
pub(super) fn webhook(b: &[u8], authority: usize, authority_end: usize, hits: &mut Hits) {
    let host = &b[authority..authority_end];
    for &(name, path, label) in WEBHOOKS {
        let matches_host = host.eq_ignore_ascii_case(name)
            || (host.len() > name.len()
                && host[host.len() - name.len()..].eq_ignore_ascii_case(name)
                && host[host.len() - name.len() - 1] == b'.');
        if !matches_host || !b[authority_end..].starts_with(path) {
            continue;
        }
        let start = authority_end + path.len();
        let end = run_end(b, start, |c| {
            c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'.' | b'%' | b'=')
        });
        let mut end = end;
        while end > start && matches!(b[end - 1], b'.' | b'/') {
            end -= 1;
        }
        if end - start >= 8 {
            hits.push_labelled(Detector::ProviderToken, label, start, end);
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_at_least_the_prefilter_minimum() {
        for rule in RULES {
            assert!(rule.prefix.len() + rule.min >= MIN_TOKEN, "{}", rule.label);
            assert!(may_start(rule.prefix[0]), "{}", rule.label);
            assert!(rule.min <= rule.max, "{}", rule.label);
        }
    }

    #[test]
    fn longer_prefixes_come_before_their_shorter_forms() {
        for (i, a) in RULES.iter().enumerate() {
            for b in &RULES[i + 1..] {
                assert!(
                    !b.prefix.starts_with(a.prefix) || b.prefix == a.prefix,
                    "{} shadows {}",
                    a.label,
                    b.label
                );
            }
        }
    }
}
