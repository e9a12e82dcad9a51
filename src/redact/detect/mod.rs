//! Detectors for secrets and personal data inside free text.
//!
//! Field-name rules catch `password = "…"`; they cannot see a bearer token inside an error
//! message or a password inside a URL that was logged as `url`. A [`DetectorSet`] scans every
//! string the layer writes for such values and replaces only the secret part of what it finds.
//!
//! A clean string costs one pass over its bytes: a prefilter looks for the few bytes and short
//! literals every detector needs (`@`, `://`, `eyJ`, `-----BEGIN`, `=`, digit runs, …) and only
//! the detectors whose trigger occurred run afterwards. Every detector scans forward with a cursor
//! that never moves back more than a small fixed distance, so no input makes scrubbing quadratic.
//!
//! ```
//! use tracing_audit::redact::detect::{Detector, DetectorSet};
//! use tracing_audit::redact::Action;
//! use tracing_audit::Stream;
//!
//! let set = DetectorSet::for_stream(Stream::Debug);
//! let out = set.scrub("GET https://bob:hunter2@db.internal/x", None);
//! assert_eq!(out, "GET https://bob:[REDACTED:url_password]@db.internal/x");
//!
//! // Clean text is returned borrowed, without allocating.
//! assert!(matches!(set.scrub("all good", None), std::borrow::Cow::Borrowed(_)));
//!
//! let set = set.set(Detector::UrlPassword, Action::Partial);
//! assert_eq!(
//!     set.scrub("https://bob:hunter2@db.internal/x", None),
//!     "https://bob:***ter2@db.internal/x"
//! );
//! ```

use std::borrow::Cow;

use crate::redact::{Action, Pseudonymizer};
use crate::Stream;

mod auth;
mod cmdline;
mod email;
mod engine;
mod iban;
mod ip;
pub(crate) mod keyword;
mod national;
mod normalize;
mod numbers;
mod pem;
mod phone;
mod prefilter;
mod providers;
mod tokens;
mod url;

/// One kind of secret or personal data a [`DetectorSet`] looks for.
///
/// The [`name`](Detector::name) appears in the mask written in place of a match:
/// `[REDACTED:<name>]`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Detector {
    /// JSON Web Tokens: three base64url parts whose header decodes to a JSON object with `alg`
    /// and whose payload decodes to a JSON object.
    Jwt,
    /// Credentials of an `Authorization` header (`Bearer`, `Basic`, or any scheme), and
    /// `Bearer <token>` / `Basic <user:pass in base64>` standing alone in text.
    AuthHeader,
    /// AWS access key ids (`AKIA…`/`ASIA…`) and 40-character secret access keys next to an
    /// `aws`/`secret` keyword.
    AwsKey,
    /// GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GitHubToken,
    /// Slack tokens (`xoxb-`, `xoxa-`, `xoxp-`, `xoxr-`, `xoxs-`).
    SlackToken,
    /// The body of a PEM private key block, also when the block is cut off before its end line.
    PrivateKey,
    /// The password of a URL's user info (`scheme://user:password@host`).
    UrlPassword,
    /// Payment card numbers: 13 to 19 digits, optionally grouped by spaces or dashes, passing
    /// the Luhn check.
    CardNumber,
    /// E-mail addresses.
    Email,
    /// US social security numbers written `ddd-dd-dddd`, excluding numbers that are never
    /// issued.
    UsSsn,
    /// IPv4 and IPv6 addresses.
    IpAddress,
    /// A value assigned to a secret-sounding key (`password=`, `api_key: `, `"token": "…"`,
    /// `--password …`, `<password>…`, `Secret("…")`) that looks like a credential.
    KeywordSecret,
    /// Tokens of service providers with a distinctive prefix (Stripe `sk_live_`, Google `AIza`,
    /// GitLab `glpat-`, npm `npm_`, OpenAI `sk-proj-`, …) and webhook URLs whose path is the
    /// credential (Slack, Discord, Teams). Masked with the provider's label
    /// (`[REDACTED:stripe_key]`).
    ProviderToken,
    /// The values of `Cookie` and `Set-Cookie` headers.
    Cookie,
    /// International bank account numbers, confirmed by their country's length and the mod-97
    /// check.
    Iban,
    /// Phone numbers written internationally, with `+` and a country code (`+44 20 7946 0958`).
    Phone,
    /// National identity numbers, passport numbers and dates of birth: Spanish DNI/NIE and
    /// French NIR by their check character; UK NINO, Dutch BSN (11-test), Canadian SIN (Luhn),
    /// passport numbers and dates of birth after a key naming them. Masked with the kind's label
    /// (`[REDACTED:es_dni]`, `[REDACTED:date_of_birth]`).
    NationalId,
}

const DETECTOR_COUNT: usize = 17;

impl Detector {
    /// Every detector, in declaration order.
    pub const ALL: &'static [Detector] = &[
        Detector::Jwt,
        Detector::AuthHeader,
        Detector::AwsKey,
        Detector::GitHubToken,
        Detector::SlackToken,
        Detector::PrivateKey,
        Detector::UrlPassword,
        Detector::CardNumber,
        Detector::Email,
        Detector::UsSsn,
        Detector::IpAddress,
        Detector::KeywordSecret,
        Detector::ProviderToken,
        Detector::Cookie,
        Detector::Iban,
        Detector::Phone,
        Detector::NationalId,
    ];

    /// The lowercase name written in masks (`[REDACTED:jwt]`) and used in the documentation.
    ///
    /// ```
    /// use tracing_audit::redact::detect::Detector;
    /// assert_eq!(Detector::AuthHeader.name(), "auth_header");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Detector::Jwt => "jwt",
            Detector::AuthHeader => "auth_header",
            Detector::AwsKey => "aws_key",
            Detector::GitHubToken => "github_token",
            Detector::SlackToken => "slack_token",
            Detector::PrivateKey => "private_key",
            Detector::UrlPassword => "url_password",
            Detector::CardNumber => "card_number",
            Detector::Email => "email",
            Detector::UsSsn => "us_ssn",
            Detector::IpAddress => "ip_address",
            Detector::KeywordSecret => "keyword_secret",
            Detector::ProviderToken => "provider_token",
            Detector::Cookie => "cookie",
            Detector::Iban => "iban",
            Detector::Phone => "phone",
            Detector::NationalId => "national_id",
        }
    }

    const fn index(self) -> usize {
        match self {
            Detector::Jwt => 0,
            Detector::AuthHeader => 1,
            Detector::AwsKey => 2,
            Detector::GitHubToken => 3,
            Detector::SlackToken => 4,
            Detector::PrivateKey => 5,
            Detector::UrlPassword => 6,
            Detector::CardNumber => 7,
            Detector::Email => 8,
            Detector::UsSsn => 9,
            Detector::IpAddress => 10,
            Detector::KeywordSecret => 11,
            Detector::ProviderToken => 12,
            Detector::Cookie => 13,
            Detector::Iban => 14,
            Detector::Phone => 15,
            Detector::NationalId => 16,
        }
    }

    const fn bit(self) -> u32 {
        1 << self.index()
    }

    /// The prefilter triggers this detector needs; see [`prefilter`].
    const fn triggers(self) -> u32 {
        match self {
            Detector::Jwt => prefilter::JWT | prefilter::PROVIDER,
            Detector::AuthHeader => prefilter::SEPARATOR | prefilter::AUTH_SCHEME,
            Detector::AwsKey => prefilter::AWS_ID | prefilter::SEPARATOR,
            Detector::GitHubToken => prefilter::GITHUB,
            Detector::SlackToken => prefilter::SLACK,
            Detector::PrivateKey => prefilter::PEM,
            Detector::UrlPassword => prefilter::URL,
            Detector::CardNumber => prefilter::NUMBERS,
            Detector::UsSsn => prefilter::NUMBERS | prefilter::NATIONAL,
            Detector::NationalId => prefilter::NATIONAL,
            Detector::Email => prefilter::EMAIL,
            Detector::IpAddress => prefilter::IPV4 | prefilter::IPV6,
            Detector::KeywordSecret => prefilter::SEPARATOR | prefilter::CMDLINE,
            Detector::Cookie => prefilter::SEPARATOR,
            Detector::ProviderToken => prefilter::PROVIDER | prefilter::URL,
            Detector::Iban => prefilter::IBAN,
            Detector::Phone => prefilter::PHONE | prefilter::NATIONAL,
        }
    }

    /// Which detector names a region several detectors matched at once: the most specific
    /// credential first, personal data last.
    const fn rank(self) -> u8 {
        match self {
            Detector::PrivateKey => 0,
            Detector::Jwt => 1,
            Detector::GitHubToken => 2,
            Detector::SlackToken => 3,
            Detector::AwsKey => 4,
            Detector::ProviderToken => 5,
            Detector::AuthHeader => 6,
            Detector::Cookie => 7,
            Detector::UrlPassword => 8,
            Detector::KeywordSecret => 9,
            Detector::CardNumber => 10,
            Detector::Iban => 11,
            Detector::UsSsn => 12,
            Detector::Email => 14,
            Detector::Phone => 15,
            Detector::NationalId => 13,
            Detector::IpAddress => 16,
        }
    }
}

/// Which detectors run on a stream's text, and what each does with a match.
///
/// Defaults ([`DetectorSet::for_stream`]), the same for both streams:
///
/// | Detector | Audit | Debug |
/// |---|---|---|
/// | `Jwt`, `AuthHeader`, `AwsKey`, `GitHubToken`, `SlackToken`, `ProviderToken`, `PrivateKey`, `UrlPassword`, `KeywordSecret`, `Cookie` | `Mask` | `Mask` |
/// | `CardNumber`, `Iban`, `UsSsn`, `NationalId` | `Mask` | `Mask` |
/// | `Email`, `Phone`, `IpAddress` | `Hash` | `Hash` |
///
/// The layer keeps e-mail and IP addresses verbatim where they *are* an audit record's `actor`
/// or `src_ip` by scrubbing those two fields with `.set(Email, Keep).set(IpAddress, Keep)`.
///
/// What an action writes in place of the secret part of a match:
///
/// | Action | Written |
/// |---|---|
/// | `Mask` | `[REDACTED:<name>]` |
/// | `Drop` | nothing |
/// | `Partial` | `*` for every character but the last four (`****1234`) |
/// | `Hash` | `hmac-sha256:<hex>` of the secret part; `Mask` when no key is configured |
/// | `Keep` | the detector does not run |
///
/// ```
/// use tracing_audit::redact::detect::{Detector, DetectorSet};
/// use tracing_audit::redact::Action;
/// use tracing_audit::Stream;
///
/// let set = DetectorSet::for_stream(Stream::Debug).set(Detector::Email, Action::Keep);
/// assert_eq!(set.scrub("mail alice@example.com", None), "mail alice@example.com");
/// assert_eq!(set.action(Detector::Jwt), Action::Mask);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectorSet {
    actions: [Action; DETECTOR_COUNT],
    /// Bits of the detectors whose action is not `Keep`.
    enabled: u32,
    /// Prefilter triggers any enabled detector needs.
    triggers: u32,
}

impl DetectorSet {
    /// The documented defaults of a stream (see the table on [`DetectorSet`]).
    #[must_use]
    pub fn for_stream(stream: Stream) -> Self {
        // Both streams start alike: credentials are never worth keeping, and personal data is
        // pseudonymized so records stay joinable. The audit stream's need to name the actor is
        // met per field by the layer, not by weakening free-text scrubbing.
        let (contact, credential) = match stream {
            Stream::Audit | Stream::Debug => (Action::Hash, Action::Mask),
        };
        let mut set = DetectorSet::none();
        for &detector in Detector::ALL {
            let action = match detector {
                Detector::Email | Detector::IpAddress | Detector::Phone => contact,
                _ => credential,
            };
            set = set.set(detector, action);
        }
        set
    }

    /// Nothing detected (every detector off).
    #[must_use]
    pub fn none() -> Self {
        DetectorSet {
            actions: [Action::Keep; DETECTOR_COUNT],
            enabled: 0,
            triggers: 0,
        }
    }

    /// Sets the action of one detector (`Action::Keep` turns it off).
    #[must_use]
    pub fn set(mut self, detector: Detector, action: Action) -> Self {
        self.actions[detector.index()] = action;
        self.enabled = 0;
        self.triggers = 0;
        for &d in Detector::ALL {
            if self.actions[d.index()] != Action::Keep {
                self.enabled |= d.bit();
                self.triggers |= d.triggers();
            }
        }
        self
    }

    /// The action of one detector (`Action::Keep` when it is off).
    pub fn action(&self, detector: Detector) -> Action {
        self.actions[detector.index()]
    }

    /// Redacts `text`.
    ///
    /// Returns the input borrowed when nothing matched, which is the common case and does not
    /// allocate. `hasher` is used for [`Action::Hash`]; when it is `None`, `Hash` falls back to
    /// [`Action::Mask`]. Text that is already the output of a redaction (a mask, a pseudonym, a
    /// partial form) is left as it is, so scrubbing twice gives the same result as once.
    pub fn scrub<'a>(&self, text: &'a str, hasher: Option<&Pseudonymizer>) -> Cow<'a, str> {
        engine::scrub(self, text, engine::Context::default(), hasher)
    }

    /// Redacts `text`, the value of the field called `field`.
    ///
    /// The name is context, not a rule (field-name rules are [`FieldRules`](crate::redact::FieldRules)):
    /// a number that merely passes the Luhn check is an identifier, not a card number, in a field
    /// named like an identifier (`order_id`, `trace`, `span_id`, `txn_ref`), unless it is
    /// written in card blocks (`4111 1111 1111 1111`).
    ///
    /// ```
    /// use tracing_audit::redact::detect::DetectorSet;
    /// use tracing_audit::Stream;
    ///
    /// let set = DetectorSet::for_stream(Stream::Debug);
    /// assert_eq!(set.scrub_field("trace_id", "4111111111111111", None), "4111111111111111");
    /// assert_eq!(set.scrub_field("card", "4111111111111111", None), "[REDACTED:card_number]");
    /// ```
    pub fn scrub_field<'a>(
        &self,
        field: &str,
        text: &'a str,
        hasher: Option<&Pseudonymizer>,
    ) -> Cow<'a, str> {
        let context = engine::Context { field: Some(field) };
        engine::scrub(self, text, context, hasher)
    }
}
