//! Values assigned to secret-sounding keys, in every common syntax: `password=…`,
//! `api_key: …`, `"client_secret": "…"`, `password => '…'`, `password := …`, `--password …`,
//! `<password>…</password>`, `Secret("…")`, `Some("…")` and serde_json's `String("…")` in
//! `Debug` output; and the values of `Cookie`/`Set-Cookie` headers.
//!
//! The key is read as words (`db_password`, `clientSecret`, `X-Api-Key`), and only a key whose
//! *last* word names a secret counts: `password_changed_at`, `password_length`, `tokenizer`,
//! `token_count` describe a secret without holding one. `key` names a secret only after a word
//! that makes it one (`api_key`, `access_key`, `private_key`), not after `cache`, `idempotency`
//! or `partition`. The value must then look like what the key says: a password is anything
//! that is not a placeholder; a token or key must look generated (long enough, varied
//! characters), not a word (`granted`, `required`) or a timestamp.

use super::engine::Hits;
use super::tokens::run_end;
use super::Detector;

/// Longer keys are compared by their last 64 bytes.
const MAX_KEY: usize = 64;
/// Spaces tolerated between a key, its separator and its value (`key : value`).
const MAX_PADDING: usize = 4;
/// Words after the first one that a passphrase in prose may have (`password: correct horse
/// battery staple`).
const MAX_PROSE_WORDS: usize = 6;
/// Words a key is split into at most (the last ones are kept).
const MAX_WORDS: usize = 12;

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Bytes of an unquoted value: everything up to whitespace or a byte that ends a value in
/// query strings, JSON, `Debug` output and prose.
fn is_value_byte(b: u8) -> bool {
    !(b.is_ascii_whitespace()
        || b.is_ascii_control()
        || matches!(
            b,
            b'"' | b'\''
                | b'`'
                | b','
                | b';'
                | b'&'
                | b'<'
                | b'>'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
        ))
}

pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// What a key says about its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// `Authorization`, `Proxy-Authorization`: the value is a scheme and a credential.
    Authorization,
    /// `Cookie`, `Set-Cookie`: `name=value` pairs.
    Cookie,
    /// Chosen by people, so short and low in entropy.
    Password,
    /// A PIN: a few digits.
    Pin,
    /// Generated, so long and varied; `aws` says a 40-character value is an AWS secret key.
    Secret { aws: bool },
    /// A bare `key` or one qualified by a word this module does not know: a secret only when
    /// the value is unmistakably generated (mixed classes, not a hex digest or UUID).
    Weak,
}

/// A key split into lowercase words.
struct Words {
    buf: [u8; MAX_KEY],
    /// (start, end) of each word in `buf`.
    words: [(u8, u8); MAX_WORDS],
    len: usize,
}

impl Words {
    fn split(key: &[u8]) -> Words {
        let key = &key[key.len().saturating_sub(MAX_KEY)..];
        let mut w = Words {
            buf: [0; MAX_KEY],
            words: [(0, 0); MAX_WORDS],
            len: 0,
        };
        let mut start: Option<usize> = None;
        for (i, &c) in key.iter().enumerate() {
            w.buf[i] = c.to_ascii_lowercase();
            if !c.is_ascii_alphanumeric() {
                if let Some(s) = start.take() {
                    w.push(s, i);
                }
                continue;
            }
            // camelCase and `APIKey`: a capital after a lower-case letter or digit, or a
            // capital followed by a lower-case letter after another capital, starts a word.
            let boundary = i > 0
                && c.is_ascii_uppercase()
                && (key[i - 1].is_ascii_lowercase()
                    || key[i - 1].is_ascii_digit()
                    || (key[i - 1].is_ascii_uppercase()
                        && key.get(i + 1).is_some_and(u8::is_ascii_lowercase)));
            match start {
                Some(s) if boundary => {
                    w.push(s, i);
                    start = Some(i);
                }
                Some(_) => {}
                None => start = Some(i),
            }
        }
        if let Some(s) = start {
            w.push(s, key.len());
        }
        w
    }

    fn push(&mut self, start: usize, end: usize) {
        if self.len == MAX_WORDS {
            self.words.copy_within(1.., 0);
            self.len -= 1;
        }
        self.words[self.len] = (start as u8, end as u8);
        self.len += 1;
    }

    fn get(&self, i: usize) -> &[u8] {
        let (s, e) = self.words[i];
        &self.buf[s as usize..e as usize]
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len).map(|i| self.get(i))
    }

    fn any(&self, list: &[&[u8]]) -> bool {
        self.iter().any(|w| list.contains(&w))
    }
}

/// Words after the secret noun that still name the secret itself (`password_hash`,
/// `secret_key_base`, `token_value`, `api_key_2`).
const MODIFIERS: &[&[u8]] = &[
    b"value",
    b"val",
    b"string",
    b"str",
    b"b64",
    b"base64",
    b"hex",
    b"raw",
    b"plain",
    b"plaintext",
    b"text",
    b"data",
    b"bytes",
    b"encoded",
    b"hash",
    b"hashed",
    b"digest",
    b"enc",
    b"encrypted",
    b"base",
    b"new",
    b"old",
    b"confirm",
    b"confirmation",
    b"again",
    b"repeat",
    b"current",
    b"json",
    b"pem",
    b"der",
    b"blob",
    b"header",
    b"headers",
    b"content",
];

/// Nouns that name a password.
const PASSWORD_WORDS: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"passphrase",
    b"pwd",
    b"pass",
    b"pw",
    b"passcode",
    b"passwort",
    b"motdepasse",
    b"contrasena",
];

/// Nouns that name a generated secret.
const SECRET_WORDS: &[&[u8]] = &[
    b"secret",
    b"secrets",
    b"token",
    b"tokens",
    b"apikey",
    b"apikeys",
    b"credential",
    b"credentials",
    b"creds",
    b"jwt",
    b"bearer",
    b"privatekey",
    b"signature",
    b"sig",
    b"otp",
    b"totp",
    b"cvv",
    b"cvc",
    b"auth",
    b"accesskey",
    b"secretkey",
    b"sessionkey",
    b"apisecret",
    b"clientsecret",
    b"accesstoken",
    b"refreshtoken",
    b"authtoken",
    b"idtoken",
    b"apitoken",
    b"sastoken",
    b"masterkey",
    b"signingkey",
    b"encryptionkey",
    b"licensekey",
    b"accountkey",
    b"sharedaccesskey",
    b"appsecret",
    b"appkey",
    b"dsn",
    // Servlet, PHP and classic ASP session cookies, also logged as a path parameter
    // (`;jsessionid=…`): whoever holds one is logged in.
    b"jsessionid",
    b"sessionid",
    b"phpsessid",
    b"aspsessionid",
];

/// Words that make a following `key` a secret.
const KEY_QUALIFIERS: &[&[u8]] = &[
    b"api",
    b"access",
    b"secret",
    b"private",
    b"signing",
    b"sign",
    b"encryption",
    b"decryption",
    b"master",
    b"client",
    b"auth",
    b"app",
    b"application",
    b"license",
    b"licence",
    b"account",
    b"service",
    b"shared",
    b"hmac",
    b"crypto",
    b"webhook",
    b"storage",
    b"subscription",
    b"consumer",
    b"admin",
    b"root",
    b"deploy",
    b"ssh",
    b"gpg",
    b"pgp",
    b"aes",
    b"jwt",
    b"rsa",
    b"session",
    b"integration",
    b"server",
    b"write",
    b"ingest",
    b"sdk",
    b"bot",
    b"live",
    b"secure",
    b"cipher",
    b"wrapping",
    b"primary",
    b"secondary",
    b"personal",
    b"mgmt",
    b"management",
];

/// Words that make a following `key` an identifier.
const KEY_IDENTIFIERS: &[&[u8]] = &[
    b"idempotency",
    b"cache",
    b"partition",
    b"sort",
    b"routing",
    b"public",
    b"object",
    b"foreign",
    b"s3",
    b"lookup",
    b"dedup",
    b"dedupe",
    b"message",
    b"row",
    b"range",
    b"composite",
    b"unique",
    b"index",
    b"map",
    b"group",
    b"translation",
    b"i18n",
    b"order",
    b"ordering",
    b"item",
    b"entity",
    b"record",
    b"resource",
    b"bucket",
    b"shard",
    b"lock",
    b"metric",
    b"label",
    b"tag",
    b"config",
    b"setting",
    b"settings",
    b"env",
    b"feature",
    b"flag",
    b"hot",
    b"primary_db",
    b"natural",
    b"surrogate",
    b"dict",
    b"hash",
    b"sequence",
    b"kafka",
    b"redis",
    b"cursor",
    b"pagination",
    b"page",
    b"file",
    b"path",
    b"name",
    b"field",
    b"column",
    // `publishable_key`: Stripe's public key, meant for browsers. `Sec-WebSocket-Key`: a
    // handshake nonce, public by design (RFC 6455).
    b"publishable",
    b"websocket",
    b"socket",
];

/// What the key `key` says about its value, or `None` when it names no secret.
pub(crate) fn classify(key: &[u8]) -> Option<KeyKind> {
    if key.len() < 2 {
        return None;
    }
    let words = Words::split(key);
    if words.len == 0 {
        return None;
    }
    // The shell's working directory, not a password.
    let whole = &key[key.len().saturating_sub(MAX_KEY)..];
    if whole.eq_ignore_ascii_case(b"pwd") || whole.eq_ignore_ascii_case(b"oldpwd") {
        return None;
    }
    let mut last = words.len - 1;
    while last > 0
        && (MODIFIERS.contains(&words.get(last)) || words.get(last).iter().all(u8::is_ascii_digit))
    {
        // `client_secret` keeps `secret` as its noun; only trailing modifiers are skipped.
        if SECRET_WORDS.contains(&words.get(last)) {
            break;
        }
        last -= 1;
    }
    let noun = words.get(last);
    let aws = words.any(&[b"aws", b"secret"]);
    if noun == b"authorization" {
        return Some(KeyKind::Authorization);
    }
    if noun == b"cookie" || noun == b"cookies" {
        return Some(KeyKind::Cookie);
    }
    if PASSWORD_WORDS.contains(&noun) {
        return Some(KeyKind::Password);
    }
    if noun == b"pin" || noun == b"pincode" {
        return Some(KeyKind::Pin);
    }
    if SECRET_WORDS.contains(&noun) {
        return Some(KeyKind::Secret { aws });
    }
    // `SAMLResponse`: a signed assertion that logs its bearer in.
    if noun == b"response" && last > 0 && words.get(last - 1) == b"saml" {
        return Some(KeyKind::Secret { aws: false });
    }
    if noun == b"key" || noun == b"keys" {
        let qualifier = (last > 0).then(|| words.get(last - 1));
        return match qualifier {
            Some(q) if KEY_QUALIFIERS.contains(&q) => Some(KeyKind::Secret { aws }),
            Some(q) if KEY_IDENTIFIERS.contains(&q) => None,
            _ => Some(KeyKind::Weak),
        };
    }
    // One word ending in a secret noun (`dbpassword`, `xapikey`), as some configurations
    // spell them.
    if words.len == 1 {
        for &suffix in &[&b"password"[..], b"passwd", b"secret", b"token", b"apikey"] {
            if noun.len() > suffix.len() && noun.ends_with(suffix) {
                return Some(if PASSWORD_WORDS.contains(&suffix) {
                    KeyKind::Password
                } else {
                    KeyKind::Secret { aws }
                });
            }
        }
    }
    None
}

/// Last words that make a name describe a secret rather than hold one (`password_changed_at`,
/// `token_count`, `secret_name`, `api_key_id`).
const METADATA: &[&[u8]] = &[
    b"at",
    b"length",
    b"len",
    b"count",
    b"size",
    b"type",
    b"id",
    b"ids",
    b"expires",
    b"expiry",
    b"expiration",
    b"ttl",
    b"policy",
    b"enabled",
    b"required",
    b"set",
    b"changed",
    b"updated",
    b"created",
    b"version",
    b"name",
    b"names",
    b"min",
    b"max",
    b"strength",
    b"rotation",
    b"rotated",
    b"age",
    b"status",
    b"valid",
    b"validity",
    b"format",
    b"algorithm",
    b"alg",
    b"kind",
    b"url",
    b"uri",
    b"endpoint",
    b"scope",
    b"scopes",
    b"issuer",
    b"audience",
];

/// Whether a field called `name` holds a credential by its name alone: the layer's default
/// deny list. Field names are decided once per callsite and a masked field is cheap to read
/// past, so they are matched more eagerly than keys in free text: any *word* of the name that
/// is a secret noun counts (`secret_path`, `token_for_reset`), unless the last word says the
/// field describes the secret (`password_changed_at`, `token_count`). A word that merely starts
/// like one (`tokenizer`, `passport`, `bypass`) and a bare `key` do not count.
pub(crate) fn names_secret(name: &[u8]) -> bool {
    if matches!(
        classify(name),
        Some(
            KeyKind::Authorization
                | KeyKind::Cookie
                | KeyKind::Password
                | KeyKind::Pin
                | KeyKind::Secret { .. }
        )
    ) {
        return true;
    }
    let words = Words::split(name);
    if words.len == 0 || METADATA.contains(&words.get(words.len - 1)) {
        return false;
    }
    let whole = &name[name.len().saturating_sub(MAX_KEY)..];
    if whole.eq_ignore_ascii_case(b"pwd") || whole.eq_ignore_ascii_case(b"oldpwd") {
        return false;
    }
    (0..words.len).any(|i| {
        let w = words.get(i);
        PASSWORD_WORDS.contains(&w)
            || SECRET_WORDS.contains(&w)
            || matches!(w, b"authorization" | b"cookie" | b"cookies" | b"pin")
            || (matches!(w, b"key" | b"keys")
                && i > 0
                && KEY_QUALIFIERS.contains(&words.get(i - 1)))
    })
}

/// Whether a key or field called `name` holds an identifier (`order_id`, `trace`, `span_id`,
/// `txn_ref`) rather than a card number, unless it names a card (`card_number`, `pan`). Only
/// the last word counts: a `request` or `message` field holds text that may quote a card.
pub(crate) fn names_identifier(name: &[u8]) -> bool {
    const CARD: &[&[u8]] = &[
        b"card",
        b"cc",
        b"pan",
        b"credit",
        b"debit",
        b"ccnum",
        b"cardnumber",
        b"creditcard",
        b"payment",
    ];
    const LAST: &[&[u8]] = &[
        b"id",
        b"ids",
        b"uuid",
        b"guid",
        b"trace",
        b"traceid",
        b"span",
        b"spanid",
        b"ref",
        b"reference",
        b"seq",
        b"sequence",
        b"offset",
        b"nonce",
        b"ts",
        b"timestamp",
        b"time",
        b"epoch",
        b"no",
        b"nr",
        b"num",
        b"number",
        b"key",
        b"hash",
        b"digest",
        b"checksum",
        b"version",
        b"serial",
        b"code",
        b"sku",
        b"ean",
        b"isbn",
        b"gtin",
        b"count",
        b"size",
    ];
    let words = Words::split(name);
    if words.len == 0 || words.any(CARD) {
        return false;
    }
    LAST.contains(&words.get(words.len - 1))
}

/// The key ending just before the separator at `sep` (`key=`, `"key": `, `\"key\":`), and where
/// it starts.
fn key_before(b: &[u8], sep: usize) -> Option<(usize, &[u8])> {
    let mut end = sep;
    while end > 0 && sep - end < MAX_PADDING && is_blank(b[end - 1]) {
        end -= 1;
    }
    if end > 0 && matches!(b[end - 1], b'"' | b'\'') {
        end -= 1;
        // `\"key\"`, and `\\\"key\\\"` in a `Debug` rendering of an escaped string.
        while end > 0 && sep - end < MAX_PADDING + 8 && b[end - 1] == b'\\' {
            end -= 1;
        }
    }
    let mut start = end;
    while start > 0 && end - start < MAX_KEY && is_key_byte(b[start - 1]) {
        // Keys have single dashes; `-----` is a PEM boundary or a rule.
        if b[start - 1] == b'-' && start > 1 && b[start - 2] == b'-' {
            break;
        }
        start -= 1;
    }
    while start < end && matches!(b[start], b'-' | b'.') {
        start += 1;
    }
    let key = &b[start..end];
    // `hmac-sha256:<hex>` is a pseudonym an earlier scrub wrote, not a key and its value.
    (!key.is_empty() && !key.ends_with(b"hmac-sha256")).then_some((start, key))
}

/// Skips the blanks after a `Debug` wrapper's `(`, and the line break and indentation `{:#?}`
/// writes there (`Some(\n    "…",\n)`), at most a few lines' worth so the cursor stays near.
fn skip_pretty_break(b: &[u8], mut i: usize) -> usize {
    let limit = (i + 64).min(b.len());
    while i < limit && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Skips `Some(`, `Secret(`, `String(` and other `Debug` wrappers, and a `b` before a byte
/// string, returning where the wrapped value starts.
fn unwrap_debug(b: &[u8], mut i: usize) -> usize {
    for _ in 0..4 {
        let name_end = run_end(b, i, |c| c.is_ascii_alphanumeric() || c == b'_');
        let is_wrapper = name_end > i
            && name_end - i <= 32
            && b[i].is_ascii_alphabetic()
            && b.get(name_end) == Some(&b'(');
        if !is_wrapper {
            break;
        }
        i = skip_pretty_break(b, name_end + 1);
    }
    if b.get(i) == Some(&b'b') && b.get(i + 1) == Some(&b'"') {
        i += 1;
    }
    i
}

/// The value after the separator at `sep`: quoted (up to the closing quote or the end of the
/// line) or bare (up to a delimiter). `prose` lets a bare value run over single spaces (a
/// password after `password: ` in a sentence or YAML).
pub(super) fn value_after(b: &[u8], sep: usize, prose: bool) -> (usize, usize) {
    let mut i = sep + 1;
    // `=>` and `:=`.
    if matches!(b.get(i), Some(b'>' | b'=')) && matches!(b[sep], b'=' | b':') {
        i += 1;
    }
    while i < b.len() && i - sep <= MAX_PADDING + 1 && is_blank(b[i]) {
        i += 1;
    }
    if b[sep] == b'(' {
        i = skip_pretty_break(b, i);
    }
    i = unwrap_debug(b, i);
    // `\"value\"` inside an escaped string, escaped once or more.
    let escapes = b[i..].iter().take(8).take_while(|&&c| c == b'\\').count();
    if escapes > 0 && matches!(b.get(i + escapes), Some(b'"' | b'\'')) {
        i += escapes;
    }
    if b[sep] == b'=' && b.get(i) == Some(&b'{') {
        if let Some(end) = braced_value_end(b, i) {
            return (i + 1, end);
        }
    }
    match b.get(i) {
        Some(&quote @ (b'"' | b'\'' | b'`')) => {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end] != b'\n' && b[end] != b'\r' {
                if b[end] == quote {
                    let before = b[start..end]
                        .iter()
                        .rev()
                        .take_while(|&&c| c == b'\\')
                        .count();
                    // In an escaped string, the same escaping closes the value; in a plain
                    // one, an escaped quote is part of it.
                    if escapes > 0 && before >= escapes {
                        end -= escapes;
                        break;
                    }
                    if before > 0 {
                        end += 1;
                        continue;
                    }
                    break;
                }
                end += 1;
            }
            (start, end)
        }
        _ => {
            let mut end = run_end(b, i, is_value_byte);
            // `password: *** rejected`: a mask or placeholder is the whole value, the words
            // after it are the sentence.
            if prose && !is_placeholder(&b[i..end]) {
                // A few further words of letters and digits (a passphrase), as long as none is
                // the next `key=` / `key:` or the start of something else (`-----BEGIN`).
                let mut words = 0;
                while words < MAX_PROSE_WORDS
                    && b.get(end) == Some(&b' ')
                    && b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
                {
                    let word_end = run_end(b, end + 1, |c| c.is_ascii_alphanumeric());
                    if b.get(word_end).is_some_and(|&c| is_value_byte(c)) {
                        break;
                    }
                    end = word_end;
                    words += 1;
                }
            }
            // A sentence-ending dot or colon, or the escape of a closing quote (`\"` in a
            // `Debug` rendering), is not part of the value.
            while end > i && matches!(b[end - 1], b'.' | b':' | b'\\') {
                end -= 1;
            }
            (i, end)
        }
    }
}

/// The end of an ODBC braced value (`Pwd={p;a=ss}`, where braces let the value hold `;`) that
/// starts at `open`: the `}` closing it on the same line. `{{ template }}`, `{"json": …}` and an
/// empty `{}` are not such values.
fn braced_value_end(b: &[u8], open: usize) -> Option<usize> {
    if matches!(
        b.get(open + 1),
        None | Some(b'{' | b'"' | b'}' | b' ' | b'\n' | b'\\')
    ) {
        return None;
    }
    let limit = (open + 256).min(b.len());
    let mut end = open + 1;
    while end < limit && !matches!(b[end], b'\n' | b'\r') {
        if b[end] == b'}' {
            // `}}` is an escaped brace inside the value.
            if b.get(end + 1) == Some(&b'}') {
                end += 2;
                continue;
            }
            return Some(end);
        }
        end += 1;
    }
    None
}

/// Values that say a password is absent or was handled, rather than being one.
pub(super) fn is_placeholder(value: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"none",
        b"null",
        b"nil",
        b"true",
        b"false",
        b"empty",
        b"unset",
        b"redacted",
        b"hidden",
        b"masked",
        b"missing",
        b"required",
        b"invalid",
        b"wrong",
        b"incorrect",
        b"expired",
        b"changed",
        b"reset",
        b"undefined",
        b"default",
        b"n/a",
        b"some",
        b"ok",
        b"set",
        b"yes",
        b"no",
        b"present",
        b"provided",
        b"supplied",
        b"granted",
        b"denied",
        b"enabled",
        b"disabled",
        b"optional",
        b"secret",
        b"password",
        b"token",
        b"<hidden>",
    ];
    // A value of one repeated character (`********`, `xxxxxx`) is a mask someone typed.
    let repeated = value
        .first()
        .is_none_or(|&first| value.iter().all(|&c| c == first));
    repeated || WORDS.iter().any(|w| w.eq_ignore_ascii_case(value)) || is_template(value)
}

/// `${DB_PASSWORD}`, `{{ secret }}`, `$(cat file)`, `%(pw)s`, `<password>`, `$SECRET`: a
/// reference to a secret, not the secret.
fn is_template(value: &[u8]) -> bool {
    value.starts_with(b"${")
        || value.starts_with(b"{{")
        || value.starts_with(b"$(")
        || value.starts_with(b"%(")
        || value.starts_with(b"#{")
        || value.starts_with(b"<%")
        || (value.starts_with(b"<") && value.ends_with(b">"))
        || (value.len() > 1
            && value[0] == b'$'
            && value[1..]
                .iter()
                .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'))
        || value.starts_with(b"[REDACTED")
        || value.starts_with(crate::redact::HASH_PREFIX.as_bytes())
}

/// Whether `value` is long and varied enough to be a generated secret rather than a word, a
/// number or an identifier: at least 8 bytes, two of the classes lower case, upper case and
/// digits (`user_profile_cache` has one), and a Shannon entropy of at least 3 bits per byte
/// (less for short values, which cannot reach it).
pub(super) fn looks_random(value: &[u8]) -> bool {
    let n = value.len();
    if n < 8 {
        return false;
    }
    let mut classes = 0u8;
    for &c in value {
        classes |= if c.is_ascii_lowercase() {
            1
        } else if c.is_ascii_uppercase() {
            2
        } else if c.is_ascii_digit() {
            4
        } else {
            0
        };
    }
    classes.count_ones() >= 2 && entropy(value) >= (0.8 * (n as f64).log2()).min(3.0)
}

/// Shannon entropy in bits per byte.
pub(super) fn entropy(value: &[u8]) -> f64 {
    let len = value.len() as f64;
    let term = |count: u32| {
        let p = f64::from(count) / len;
        -p * p.log2()
    };
    // Short values (almost all) are counted by sorting a copy on the stack, which is cheaper
    // than clearing and scanning a table of every byte value.
    if value.len() <= 64 {
        let mut buf = [0u8; 64];
        let sorted = &mut buf[..value.len()];
        sorted.copy_from_slice(value);
        sorted.sort_unstable();
        return sorted
            .chunk_by(|a, b| a == b)
            .map(|run| term(run.len() as u32))
            .sum();
    }
    let mut counts = [0u32; 256];
    for &c in value {
        counts[c as usize] += 1;
    }
    counts.iter().filter(|&&c| c > 0).map(|&c| term(c)).sum()
}

/// A token made of only lower-case letters, long and varied enough that it is no word
/// (`Bearer abcdefghijklmnopqrstu`); English words stop short of 20 letters.
pub(super) fn is_lowercase_token(value: &[u8]) -> bool {
    value.len() >= 20 && value.iter().all(u8::is_ascii_lowercase) && entropy(value) >= 3.3
}

/// Whether `value` is written in the alphabets generated secrets use (base64, base64url, hex,
/// with `.`, `~` and `-` separators). A `:` or `@` makes it a composite key (`user:1234:profile`),
/// an address or a time instead.
fn is_token(value: &[u8]) -> bool {
    value.iter().all(|&c| {
        c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'.' | b'~' | b'-')
    })
}

/// A date or a time (`2026-11-26`, `2026-11-26T05:56:07Z`, `12:30:00`), which a key like
/// `token_expiry` would hold but a credential never is.
fn is_timestamp(value: &[u8]) -> bool {
    let d = |i: usize| value.get(i).is_some_and(u8::is_ascii_digit);
    (d(0) && d(1) && d(2) && d(3) && value.get(4) == Some(&b'-') && d(5) && d(6))
        || (d(0) && d(1) && value.get(2) == Some(&b':') && d(3) && d(4))
}

/// A value that a key naming a generated secret (`token`, `api_key`, `client_secret`) holds
/// when it is one: 8+ bytes without spaces, not a placeholder or a timestamp, and either
/// mixing letters with digits or cases, or long lower-case letters of high entropy.
fn is_secret_value(value: &[u8]) -> bool {
    if value.len() < 8
        || value.len() > 65536
        || is_public_key(value)
        || value.iter().any(|c| c.is_ascii_whitespace())
        || is_placeholder(value)
        || is_timestamp(value)
    {
        return false;
    }
    let digit = value.iter().any(u8::is_ascii_digit);
    let upper = value.iter().any(u8::is_ascii_uppercase);
    let lower = value.iter().any(u8::is_ascii_lowercase);
    (digit && (upper || lower)) || (upper && lower) || is_lowercase_token(value)
}

/// Stripe's publishable keys (`pk_live_…`, `pk_test_…`): public by design, shipped to every
/// browser, and what an on-call engineer needs to tell accounts apart.
pub(super) fn is_public_key(value: &[u8]) -> bool {
    value.starts_with(b"pk_live_") || value.starts_with(b"pk_test_")
}

/// A value a `key` of unknown purpose holds when it is a credential: generated, in a token
/// alphabet, and neither a hex digest nor a UUID (content hashes and ids are what such keys
/// usually hold).
fn is_weak_secret_value(value: &[u8]) -> bool {
    let hex_or_uuid = value.iter().all(|&c| c.is_ascii_hexdigit() || c == b'-');
    is_secret_value(value) && is_token(value) && !hex_or_uuid && looks_random(value)
}

/// An AWS secret access key: 40 bytes of base64.
fn is_aws_secret(value: &[u8]) -> bool {
    value.len() == 40
        && value
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'/' || c == b'+')
}

/// `code=` as a query parameter (`?code=…`, `&code=…`): an OAuth authorization code, which
/// buys an access token. Elsewhere (`status code=404`, `error code=E12`) `code` names no
/// secret, and a generated-looking value is still required. And `Pwd=` in a connection string.
fn query_credential(b: &[u8], key_start: usize, key: &[u8], sep: usize) -> Option<KeyKind> {
    let after = |set: &[u8]| key_start > 0 && set.contains(&b[key_start - 1]);
    if b[sep] != b'=' {
        return None;
    }
    if key.eq_ignore_ascii_case(b"code") && after(b"?&;") {
        return Some(KeyKind::Secret { aws: false });
    }
    // `Pwd=` in an ODBC connection string (`…;Uid=app;Pwd={…};`), not the shell's `PWD=/home`.
    if key.eq_ignore_ascii_case(b"pwd") && (after(b";") || b.get(sep + 1) == Some(&b'{')) {
        return Some(KeyKind::Password);
    }
    None
}

/// `<add key="DbPassword" value="…"/>` (.NET `appSettings`), `<property name="password"
/// value="…"/>` (Spring, Ant): the setting's name is an attribute before `value`, in the same tag.
fn named_setting(b: &[u8], key_start: usize, key: &[u8]) -> Option<KeyKind> {
    if !key.eq_ignore_ascii_case(b"value") {
        return None;
    }
    let from = key_start.saturating_sub(256);
    let tag = from + memchr::memrchr(b'<', &b[from..key_start])?;
    let attrs = &b[tag..key_start];
    for name in [&b"key="[..], b"name="] {
        let Some(at) = memchr::memmem::find(attrs, name) else {
            continue;
        };
        let mut i = at + name.len();
        while attrs.get(i) == Some(&b'\\') {
            i += 1;
        }
        let Some(&quote @ (b'"' | b'\'')) = attrs.get(i) else {
            continue;
        };
        let value = &attrs[i + 1..];
        let end = memchr::memchr(quote, value).unwrap_or(value.len());
        let end = if end > 0 && value[end - 1] == b'\\' {
            end - 1
        } else {
            end
        };
        if let Some(kind) = classify(&value[..end]) {
            return Some(kind);
        }
    }
    None
}

/// The password of an Oracle thin JDBC URL, `jdbc:oracle:thin:user/password@host…`, the colon
/// after `thin` at `colon`. Returns where scanning resumes.
fn jdbc_thin(b: &[u8], colon: usize, hits: &mut Hits) -> usize {
    let user_end = run_end(b, colon + 1, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'#' | b'.')
    });
    if user_end == colon + 1 || b.get(user_end) != Some(&b'/') {
        return colon + 1;
    }
    let start = user_end + 1;
    let limit = (start + 128).min(b.len());
    let Some(at) = b[start..limit]
        .iter()
        .position(|&c| c == b'@' || c.is_ascii_whitespace())
        .filter(|&n| b[start + n] == b'@')
    else {
        return colon + 1;
    };
    let (mut s, mut e) = (start, start + at);
    // A quoted password (`user/"p@ss"@host`) keeps its quotes in the URL.
    if e > s + 1 && b[s] == b'"' && b[e - 1] == b'"' {
        s += 1;
        e -= 1;
    }
    if e > s && !is_placeholder(&b[s..e]) {
        hits.push(Detector::KeywordSecret, s, e);
    }
    start + at
}

/// Whether `b` holds a JSON Web Key (a `"kty"` member, quoted or escaped): its one-letter
/// private members are then secrets.
fn is_jwk(b: &[u8]) -> bool {
    memchr::memmem::find_iter(b, b"kty").any(|at| {
        at > 0 && matches!(b[at - 1], b'"' | b'\\') && matches!(b.get(at + 3), Some(b'"' | b'\\'))
    })
}

/// The private members of a JSON Web Key (RFC 7518): the RSA private exponent and CRT values,
/// the EC/OKP private key `d`, and a symmetric key `k`.
pub(crate) fn is_jwk_private_member(name: &[u8]) -> bool {
    matches!(name, b"d" | b"p" | b"q" | b"dp" | b"dq" | b"qi" | b"k")
}

/// The private key lines of a PuTTY `.ppk` file: `Private-Lines: N` (the colon at `colon`)
/// and the N lines of base64 after it, whether the lines end in real or escaped (`\n`) breaks.
/// Returns where scanning resumes.
fn putty_private_lines(b: &[u8], colon: usize, hits: &mut Hits) -> usize {
    let mut i = colon + 1;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let digits_end = run_end(b, i, |c| c.is_ascii_digit());
    let Some(lines) = std::str::from_utf8(&b[i..digits_end])
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| (1..=256).contains(&n))
    else {
        return colon + 1;
    };
    let mut at = digits_end;
    for _ in 0..lines {
        // The line break: `\r\n`, `\n`, or their escapes.
        let break_len = [&b"\r\n"[..], b"\n", b"\\r\\n", b"\\n"]
            .iter()
            .find(|br| b[at..].starts_with(br))
            .map(|br| br.len());
        let Some(len) = break_len else {
            break;
        };
        let start = at + len;
        let end = run_end(b, start, |c| {
            c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')
        });
        if end == start {
            break;
        }
        hits.push(Detector::PrivateKey, start, end);
        at = end;
    }
    at
}

/// Which bytes can separate a key from its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// `=`, `:`, `=>`, `:=`.
    Assign,
    /// `Secret("…")`: a `Debug` newtype named after a secret.
    Newtype,
    /// `<password>…</password>`.
    Element,
    /// `--password value`.
    Flag,
}

/// Finds secret values after keys, the credentials of `Authorization` headers and cookies.
pub(super) fn find(text: &str, hits: &mut Hits) {
    let b = text.as_bytes();
    let jwk = is_jwk(b);
    let mut from = 0;
    while let Some(next) = b[from..]
        .iter()
        .position(|&c| matches!(c, b'=' | b':' | b'(' | b'>' | b'-'))
    {
        let pos = from + next;
        from = pos + 1;
        let (sep, kind_of_sep) = match b[pos] {
            b':' if b[pos + 1..].starts_with(b"//") => continue,
            // `==`, `!=`, `<=`, `>=`: comparisons.
            b'=' if b.get(pos + 1) == Some(&b'=')
                || (pos > 0 && matches!(b[pos - 1], b'=' | b'!' | b'<' | b'>')) =>
            {
                continue
            }
            b':' if b[..pos].ends_with(b"Private-Lines") => {
                from = from.max(putty_private_lines(b, pos, hits));
                continue;
            }
            b':' if b[..pos].ends_with(b":thin") => {
                from = from.max(jdbc_thin(b, pos, hits));
                continue;
            }
            b'=' | b':' => (pos, Sep::Assign),
            b'(' if matches!(b.get(pos + 1), Some(b'"' | b'\\' | b'\n' | b'\r')) => {
                (pos, Sep::Newtype)
            }
            b'>' if pos > 0 && b[pos - 1].is_ascii_alphanumeric() => (pos, Sep::Element),
            b'-' if b.get(pos + 1) == Some(&b'-')
                && (pos == 0 || !(is_key_byte(b[pos - 1]) || b[pos - 1] == b'-'))
                && b.get(pos + 2).is_some_and(u8::is_ascii_alphabetic) =>
            {
                match flag_end(b, pos + 2) {
                    Some(end) => (end, Sep::Flag),
                    None => continue,
                }
            }
            _ => continue,
        };
        let Some((key_start, key)) = key_before(b, sep) else {
            continue;
        };
        if kind_of_sep == Sep::Element && (key_start == 0 || b[key_start - 1] != b'<') {
            continue;
        }
        let kind = classify(key)
            .or_else(|| query_credential(b, key_start, key, sep))
            .or_else(|| named_setting(b, key_start, key))
            .or_else(|| {
                (jwk && is_jwk_private_member(key)).then_some(KeyKind::Secret { aws: false })
            });
        let Some(kind) = kind else {
            continue;
        };
        if kind == KeyKind::Authorization && kind_of_sep == Sep::Assign {
            from = from.max(super::auth::find_in_header(b, sep, hits));
            continue;
        }
        if kind == KeyKind::Cookie && kind_of_sep == Sep::Assign {
            from = from.max(cookie_values(b, sep, hits));
            continue;
        }
        let (start, end) = match kind_of_sep {
            Sep::Element => match element_value(b, sep, key) {
                Some(value) => value,
                None => continue,
            },
            // `password: correct horse battery staple`: a colon and a space, as in prose and
            // YAML, let a password run over spaces.
            _ => value_after(
                b,
                sep,
                kind == KeyKind::Password && b[sep] == b':' && b.get(sep + 1) == Some(&b' '),
            ),
        };
        let end = end.min(b.len()).max(start);
        from = from.max(end);
        let value = &b[start..end];
        let strong_context = matches!(kind_of_sep, Sep::Newtype | Sep::Element | Sep::Flag);
        let detector = match kind {
            KeyKind::Password | KeyKind::Authorization | KeyKind::Cookie
                if value.len() >= 3 && !is_placeholder(value) =>
            {
                Detector::KeywordSecret
            }
            KeyKind::Pin
                if (4..=12).contains(&value.len()) && value.iter().all(u8::is_ascii_digit) =>
            {
                Detector::KeywordSecret
            }
            KeyKind::Secret { aws: true }
                if is_aws_secret(value) && hits.wants(Detector::AwsKey) =>
            {
                Detector::AwsKey
            }
            KeyKind::Secret { .. } if is_secret_value(value) => Detector::KeywordSecret,
            KeyKind::Secret { .. } | KeyKind::Weak
                if strong_context && value.len() >= 3 && !is_placeholder(value) =>
            {
                Detector::KeywordSecret
            }
            KeyKind::Weak if is_weak_secret_value(value) => Detector::KeywordSecret,
            _ => continue,
        };
        hits.push(detector, start, end);
    }
}

/// The text of the element `key` whose start tag ends at `sep` (`<password>hunter2</password>`):
/// up to its end tag on the same line, when nothing but text comes before it, or, when the document was cut off before one, the bare
/// value glued to the tag (`<password>hunter2`). A tag followed by a space or a quote is a
/// placeholder in a usage text (`--password <password> then`), not an element: reading on to
/// the next `<` would take the rest of the text, closing quotes of a `Debug` value included.
fn element_value(b: &[u8], sep: usize, key: &[u8]) -> Option<(usize, usize)> {
    let start = sep + 1;
    // Element text holds no `<` (XML writes it `&lt;`), so the text ends at the next `<`, which
    // must open the end tag on the same line; any other tag there makes this one a placeholder.
    // The search stops at the next `<`, which starts the next element, so the scan stays linear.
    if let Some(lt) = memchr::memchr(b'<', &b[start..]).map(|lt| start + lt) {
        let same_line = memchr::memchr2(b'\n', b'\r', &b[start..lt]).is_none();
        if same_line && starts_with_end_tag(&b[lt..], key) {
            return Some((start, lt));
        }
    }
    let end = run_end(b, start, is_value_byte);
    // An escaped closing quote (`\"` in a `Debug` rendering) is not part of the value.
    let end = if end > start && b[end - 1] == b'\\' {
        end - 1
    } else {
        end
    };
    (end > start).then_some((start, end))
}

/// Whether `hay` starts with the end tag `</key>`.
fn starts_with_end_tag(hay: &[u8], key: &[u8]) -> bool {
    hay.len() > key.len() + 2
        && hay.starts_with(b"</")
        && hay[2..2 + key.len()].eq_ignore_ascii_case(key)
        && hay[2 + key.len()] == b'>'
}

/// The end of the flag name starting at `from` (after `--`), when a space and a value follow
/// (`--password hunter2`); `--password=…` is an assignment and found as one.
fn flag_end(b: &[u8], from: usize) -> Option<usize> {
    let end = run_end(b, from, |c| {
        c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
    });
    (b.get(end) == Some(&b' ') && b.get(end + 1).is_some_and(|&c| c != b'-' && c != b' '))
        .then_some(end)
}

/// Records the values of the cookies in a `Cookie`/`Set-Cookie` header value after `sep`
/// (`a=1; b=2`; for `Set-Cookie`, attributes such as `Path` and `Expires` are kept) and returns
/// where the header value ends.
fn cookie_values(b: &[u8], sep: usize, hits: &mut Hits) -> usize {
    let mut i = sep + 1;
    while i < b.len() && is_blank(b[i]) {
        i += 1;
    }
    if b.get(i) == Some(&b'{') {
        return cookie_map(b, i, hits);
    }
    if b.get(i) == Some(&b'\\') {
        i += 1;
    }
    let quote = match b.get(i) {
        Some(&q @ (b'"' | b'\'')) => {
            i += 1;
            Some(q)
        }
        _ => None,
    };
    let end = run_end(b, i, |c| {
        c != b'\n' && c != b'\r' && Some(c) != quote && c != b'\\' && (quote.is_some() || c != b'"')
    });
    const ATTRIBUTES: &[&[u8]] = &[
        b"path",
        b"domain",
        b"expires",
        b"max-age",
        b"samesite",
        b"secure",
        b"httponly",
        b"priority",
        b"partitioned",
        b"version",
        b"comment",
    ];
    let mut pair_start = i;
    while pair_start < end {
        let pair_end =
            pair_start + memchr::memchr(b';', &b[pair_start..end]).unwrap_or(end - pair_start);
        let pair = &b[pair_start..pair_end];
        let lead = pair.iter().take_while(|c| c.is_ascii_whitespace()).count();
        match memchr::memchr(b'=', pair) {
            Some(eq) => {
                let name = &pair[lead..eq.max(lead)];
                let is_attribute = ATTRIBUTES.iter().any(|a| a.eq_ignore_ascii_case(name));
                let mut v_start = pair_start + eq + 1;
                let mut v_end = pair_end;
                while v_end > v_start && b[v_end - 1].is_ascii_whitespace() {
                    v_end -= 1;
                }
                if b.get(v_start) == Some(&b'"') && v_end > v_start + 1 && b[v_end - 1] == b'"' {
                    v_start += 1;
                    v_end -= 1;
                }
                if !is_attribute && v_end > v_start && !is_placeholder(&b[v_start..v_end]) {
                    hits.push(Detector::Cookie, v_start, v_end);
                }
            }
            None if pair_start == i => {
                // A bare cookie value.
                let v = &pair[lead..];
                if v.len() >= 8 && !is_placeholder(v) {
                    hits.push(Detector::Cookie, pair_start + lead, pair_end);
                }
            }
            None => {}
        }
        pair_start = pair_end + 1;
    }
    end
}

/// The values of a cookie map in `Debug` output (`cookies: {"session": "abc", "theme":
/// "dark"}`, also `{:#?}` across lines), the `{` at `open`. Returns where the map ends.
fn cookie_map(b: &[u8], open: usize, hits: &mut Hits) -> usize {
    let limit = (open + 8192).min(b.len());
    let mut i = open + 1;
    while i < limit {
        match b[i] {
            b'}' => return i + 1,
            b':' => {
                let (start, end) = value_after(b, i, false);
                let value = &b[start..end.max(start)];
                if !value.is_empty() && !is_placeholder(value) {
                    hits.push(Detector::Cookie, start, end);
                }
                // Past the value and its closing quote, escaped or not.
                i = end.max(i + 1);
                while i < limit && matches!(b[i], b'"' | b'\\') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_as_words() {
        for (key, kind) in [
            ("password", Some(KeyKind::Password)),
            ("DB_PASSWORD", Some(KeyKind::Password)),
            ("pass", Some(KeyKind::Password)),
            ("pw", Some(KeyKind::Password)),
            ("passphrase", Some(KeyKind::Password)),
            ("password_hash", Some(KeyKind::Password)),
            ("password_changed_at", None),
            ("password_length", None),
            ("tokenizer", None),
            ("token_count", None),
            ("bypass", None),
            ("passport", None),
            ("pwd", None),
            ("db_pwd", Some(KeyKind::Password)),
            ("pin", Some(KeyKind::Pin)),
            ("spin", None),
            ("api_key", Some(KeyKind::Secret { aws: false })),
            ("x-api-key", Some(KeyKind::Secret { aws: false })),
            ("apiKey", Some(KeyKind::Secret { aws: false })),
            ("APIKey", Some(KeyKind::Secret { aws: false })),
            ("privateKey", Some(KeyKind::Secret { aws: false })),
            ("private-key", Some(KeyKind::Secret { aws: false })),
            ("access_key", Some(KeyKind::Secret { aws: false })),
            ("client_secret", Some(KeyKind::Secret { aws: true })),
            ("aws_secret_access_key", Some(KeyKind::Secret { aws: true })),
            ("secret_key_base", Some(KeyKind::Secret { aws: true })),
            ("jwt", Some(KeyKind::Secret { aws: false })),
            ("idempotency_key", None),
            ("cache_key", None),
            ("public_key", None),
            ("key", Some(KeyKind::Weak)),
            ("monkey", None),
            ("Set-Cookie", Some(KeyKind::Cookie)),
            ("Proxy-Authorization", Some(KeyKind::Authorization)),
            ("HTTP_AUTHORIZATION", Some(KeyKind::Authorization)),
            ("dbpassword", Some(KeyKind::Password)),
        ] {
            assert_eq!(classify(key.as_bytes()), kind, "{key}");
        }
    }

    #[test]
    fn identifier_names() {
        for name in ["trace_id", "span", "order_id", "traceId", "txn_ref", "ids"] {
            assert!(names_identifier(name.as_bytes()), "{name}");
        }
        for name in ["card_number", "pan", "message", "request", "amount", "note"] {
            assert!(!names_identifier(name.as_bytes()), "{name}");
        }
    }
}
