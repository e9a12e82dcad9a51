#![allow(dead_code)]

//! The corpus: generated secrets of every detector family, each in the forms services log it,
//! and look-alikes that must survive unchanged.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// One corpus case.
#[derive(Clone, Debug)]
pub struct Case {
    pub family: &'static str,
    /// What is logged.
    pub text: String,
    /// For a secret: the strings none of which may appear in any output. Empty for a
    /// look-alike, which must come out unchanged.
    pub secrets: Vec<String>,
    /// The field name the layer logs it under, when the name is the context that decides
    /// (`trace_id` for a Luhn-valid identifier).
    pub field: Field,
}

/// Field names the corpus logs values under (tracing needs them at compile time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Note,
    TraceId,
    OrderId,
}

impl Case {
    pub fn is_secret(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The case written in free text: a value whose field name is its context is written after
    /// that name as a key (`trace_id=…`).
    pub fn in_text(&self) -> String {
        match self.field {
            Field::Note => self.text.clone(),
            Field::TraceId => format!("trace_id={}", self.text),
            Field::OrderId => format!("order_id={}", self.text),
        }
    }
}

/// A small deterministic generator (xorshift64*), so the corpus is the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn from(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }

    pub fn alnum(&mut self, len: usize) -> String {
        // Every generated body mixes classes, as generated tokens do.
        let mut s = self.from(ALNUM, len.saturating_sub(2));
        s.push(self.from(b"ABCDEFGHJKLMNPQRSTUVWXYZ", 1).remove(0));
        s.push(self.from(b"0123456789", 1).remove(0));
        s
    }

    pub fn hex(&mut self, len: usize) -> String {
        let mut s = self.from(b"0123456789abcdef", len.saturating_sub(1));
        s.push('7');
        s
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Sentences a secret is logged in; `{}` is the secret's logged form.
const CONTEXTS: &[&str] = &[
    "{}",
    "request failed: {}",
    "config loaded ({}) from env",
    "retrying with {} after 401",
    "\"{}\"",
];

fn secret(family: &'static str, rng: &mut Rng, logged: String, secrets: &[&str]) -> Case {
    let context = rng.pick(CONTEXTS);
    Case {
        family,
        text: context.replace("{}", &logged),
        secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        field: Field::Note,
    }
}

fn look_alike(family: &'static str, text: String, field: Field) -> Case {
    Case {
        family,
        text,
        secrets: Vec::new(),
        field,
    }
}

/// A Luhn-valid number of `len` digits starting with `prefix`.
pub fn luhn(rng: &mut Rng, prefix: &str, len: usize) -> String {
    let mut digits: Vec<u8> = prefix.bytes().collect();
    while digits.len() < len - 1 {
        digits.push(b'0' + rng.below(10) as u8);
    }
    for check in b'0'..=b'9' {
        let mut candidate = digits.clone();
        candidate.push(check);
        let sum: u32 = candidate
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                let v = u32::from(d - b'0');
                if i % 2 == 1 {
                    let v = v * 2;
                    if v > 9 {
                        v - 9
                    } else {
                        v
                    }
                } else {
                    v
                }
            })
            .sum();
        if sum % 10 == 0 {
            return String::from_utf8(candidate).unwrap_or_default();
        }
    }
    unreachable!("one check digit always fits")
}

/// A valid IBAN for `country` with a BBAN of `bban_len` characters.
pub fn iban(rng: &mut Rng, country: &str, bban_len: usize, letters: usize) -> String {
    let bban = format!(
        "{}{}",
        rng.from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", letters),
        rng.from(b"0123456789", bban_len - letters)
    );
    let rearranged = format!("{bban}{country}00");
    let mut rem = 0u64;
    for c in rearranged.bytes() {
        let v = if c.is_ascii_digit() {
            u64::from(c - b'0')
        } else {
            u64::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    format!("{country}{:02}{bban}", 98 - rem)
}

pub fn group(s: &str, size: usize, sep: &str) -> String {
    s.as_bytes()
        .chunks(size)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}

fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xfee0).unwrap_or(c),
            c => c,
        })
        .collect()
}

fn jwt(rng: &mut Rng, header: &str, encode: fn(&[u8]) -> String) -> String {
    let payload = format!(
        r#"{{"sub":"{}","iat":{},"scope":"read write"}}"#,
        rng.alnum(10),
        1_700_000_000 + rng.below(1_000_000)
    );
    format!(
        "{}.{}.{}",
        encode(header.as_bytes()),
        encode(payload.as_bytes()),
        rng.from(URLSAFE, 43)
    )
}

/// Every case of the corpus.
pub fn corpus() -> Vec<Case> {
    let mut rng = Rng::new(0x5eed_c0ffee);
    let mut cases = Vec::new();
    let n = 6;
    for _ in 0..n {
        secrets_of_every_family(&mut rng, &mut cases);
    }
    for _ in 0..n {
        look_alikes_of_every_family(&mut rng, &mut cases);
    }
    cases
}

#[allow(clippy::too_many_lines)]
fn secrets_of_every_family(rng: &mut Rng, cases: &mut Vec<Case>) {
    let r = rng;
    // Cloud keys and secrets.
    let id = format!("AKIA{}", r.from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    cases.push(secret("aws", r, id.clone(), &[&id]));
    let id = format!("ASIA{}", r.from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    cases.push(secret("aws", r, id.clone(), &[&id]));
    let key = r.from(B64, 40);
    cases.push(secret(
        "aws",
        r,
        format!("aws_secret_access_key={key}"),
        &[&key],
    ));
    let key = r.from(B64, 40);
    cases.push(secret(
        "aws",
        r,
        format!("AWS_SECRET_ACCESS_KEY: \"{key}\""),
        &[&key],
    ));
    let escaped_id = r.from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
    cases.push(secret(
        "escapes",
        r,
        format!("key id AK\\u0049A{escaped_id}"),
        &[&escaped_id],
    ));
    let g = format!("AIza{}", r.from(URLSAFE, 35));
    cases.push(secret("google", r, g.clone(), &[&g]));
    let g = format!("ya29.{}", r.alnum(60));
    cases.push(secret("google", r, g.clone(), &[&g]));
    let g = format!("GOCSPX-{}", r.alnum(28));
    cases.push(secret("google", r, g.clone(), &[&g]));
    let t = format!("dop_v1_{}", r.hex(64));
    cases.push(secret("cloud", r, t.clone(), &[&t]));
    let t = format!("hvs.{}", r.alnum(90));
    cases.push(secret("cloud", r, t.clone(), &[&t]));
    let k = r.alnum(88);
    cases.push(secret(
        "cloud",
        r,
        format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={k}==;EndpointSuffix=core.windows.net"),
        &[&k],
    ));
    // VCS and CI tokens.
    let t = format!("ghp_{}", r.alnum(36));
    cases.push(secret("github", r, t.clone(), &[&t]));
    let t = format!("github_pat_{}_{}", r.alnum(22), r.alnum(59));
    cases.push(secret("github", r, t.clone(), &[&t]));
    let t = format!("glpat-{}", r.alnum(20));
    cases.push(secret("gitlab", r, t.clone(), &[&t]));
    let t = format!("glrt-{}", r.alnum(20));
    cases.push(secret("gitlab", r, t.clone(), &[&t]));
    let t = format!("dckr_pat_{}", r.alnum(27));
    cases.push(secret("ci", r, t.clone(), &[&t]));
    // Payment and messaging providers.
    let t = format!("sk_live_{}", r.alnum(24));
    cases.push(secret("stripe", r, t.clone(), &[&t]));
    let t = format!("rk_live_{}", r.alnum(24));
    cases.push(secret("stripe", r, t.clone(), &[&t]));
    let t = format!(
        "xoxb-{}-{}-{}",
        r.from(b"0123456789", 11),
        r.from(b"0123456789", 12),
        r.alnum(24)
    );
    cases.push(secret("slack", r, t.clone(), &[&t]));
    let t = format!(
        "xapp-1-A{}-{}-{}",
        r.alnum(10),
        r.from(b"0123456789", 13),
        r.hex(64)
    );
    cases.push(secret("slack", r, t.clone(), &[&t]));
    let path = format!("T{}/B{}/{}", r.alnum(8), r.alnum(10), r.alnum(24));
    cases.push(secret(
        "slack",
        r,
        format!("posting to https://hooks.slack.com/services/{path}"),
        &[&path],
    ));
    let t = format!("SG.{}.{}", r.from(URLSAFE, 22), r.from(URLSAFE, 43));
    cases.push(secret("messaging", r, t.clone(), &[&t]));
    let t = format!("{}:AA{}", r.from(b"0123456789", 10), r.from(URLSAFE, 33));
    cases.push(secret("messaging", r, t.clone(), &[&t]));
    // Package registries.
    let t = format!("npm_{}", r.alnum(36));
    cases.push(secret("registry", r, t.clone(), &[&t]));
    let t = format!("pypi-AgEIcHlwaS5vcmc{}", r.from(URLSAFE, 70));
    cases.push(secret("registry", r, t.clone(), &[&t]));
    // AI APIs.
    let t = format!("sk-proj-{}", r.from(URLSAFE, 100));
    cases.push(secret("ai", r, t.clone(), &[&t]));
    let t = format!("sk-ant-api03-{}", r.from(URLSAFE, 93));
    cases.push(secret("ai", r, t.clone(), &[&t]));
    // JWTs.
    let t = jwt(r, r#"{"alg":"HS256","typ":"JWT"}"#, |b| {
        URL_SAFE_NO_PAD.encode(b)
    });
    cases.push(secret("jwt", r, t.clone(), &[&t]));
    let t = jwt(r, r#"{"alg":"RS256","kid":"k1"}"#, |b| URL_SAFE.encode(b));
    cases.push(secret("jwt", r, t.clone(), &[&t]));
    let t = jwt(r, r#"{ "alg": "ES256" }"#, |b| STANDARD.encode(b));
    cases.push(secret("jwt", r, t.clone(), &[&t]));
    let t = jwt(r, "{\n  \"alg\": \"HS512\"\n}", |b| {
        URL_SAFE_NO_PAD.encode(b)
    });
    cases.push(secret("jwt", r, t.clone(), &[&t]));
    // Private keys.
    let body: Vec<String> = (0..4).map(|_| r.from(B64, 64)).collect();
    let label = *r.pick(&[
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ]);
    let pem = format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----",
        body.join("\n")
    );
    let refs: Vec<&str> = body.iter().map(String::as_str).collect();
    cases.push(secret(
        "private_key",
        r,
        format!("loaded key\n{pem}\n"),
        &refs,
    ));
    let crlf = pem.replace('\n', "\r\n");
    cases.push(secret("private_key", r, crlf, &refs));
    // Database and broker URLs.
    let pw = r.alnum(14);
    let scheme = *r.pick(&[
        "postgres",
        "mysql",
        "mongodb+srv",
        "amqp",
        "redis",
        "rediss",
    ]);
    cases.push(secret(
        "url_password",
        r,
        format!("{scheme}://app:{pw}@db.internal:5432/app"),
        &[&pw],
    ));
    let pw = format!(
        "{}/{}#{}?{}",
        r.alnum(5),
        r.alnum(4),
        r.alnum(4),
        r.alnum(3)
    );
    cases.push(secret(
        "url_password",
        r,
        format!("connecting to postgres://svc:{pw}@10.1.2.3/db"),
        &[&pw],
    ));
    let pw = r.alnum(12);
    cases.push(secret(
        "escapes",
        r,
        format!("url=https:\\/\\/deploy:{pw}@git.example.com\\/repo"),
        &[&pw],
    ));
    // Basic, Bearer, Cookie.
    let user_pass = format!("{}:{}", r.alnum(6).to_lowercase(), r.alnum(12));
    let b64 = STANDARD.encode(&user_pass);
    cases.push(secret(
        "auth_header",
        r,
        format!("Authorization: Basic {b64}"),
        &[&b64],
    ));
    let pct = b64.replace('=', "%3D");
    cases.push(secret(
        "auth_header",
        r,
        format!("header=Basic%20{pct}"),
        &[b64.trim_end_matches('=')],
    ));
    let t = r.from(b"abcdefghijklmnopqrstuvwxyz", 32);
    cases.push(secret(
        "auth_header",
        r,
        format!("sent Bearer {t} upstream"),
        &[&t],
    ));
    let t = r.alnum(40);
    cases.push(secret(
        "auth_header",
        r,
        format!("Proxy-Authorization: Bearer {t}"),
        &[&t],
    ));
    let c = r.alnum(32);
    cases.push(secret(
        "cookie",
        r,
        format!("Cookie: theme=dark; session_id={c}"),
        &[&c],
    ));
    let c = r.alnum(40);
    cases.push(secret(
        "cookie",
        r,
        format!("Set-Cookie: sid={c}; Path=/; HttpOnly; Secure; SameSite=Lax"),
        &[&c],
    ));
    // Keyword assignments in every common syntax.
    let pw = format!("{}{}", r.alnum(8), "!x");
    let forms = [
        format!("pass={pw}"),
        format!("pw={pw}"),
        format!("--password {pw}"),
        format!("password => '{pw}'"),
        format!("password := \"{pw}\""),
        format!("password%3D{pw}"),
        format!("<password>{pw}</password>"),
        format!("{}={pw}", fullwidth("password")),
        format!("раssword={pw}"),
        format!("passphrase: {pw}"),
        format!("db_pwd = {pw}"),
        format!("Credentials {{ user: \"bob\", password: Some(\"{pw}\") }}"),
        format!("Login {{ user: \"bob\", pass: Secret(\"{pw}\") }}"),
        format!("Object {{\"password\": String(\"{pw}\"), \"user\": String(\"bob\")}}"),
        format!("body={{\\\"password\\\":\\\"{pw}\\\"}}"),
        format!("PASSWORD=\"{pw}\""),
    ];
    for form in forms {
        cases.push(secret("keyword", r, form, &[&pw]));
    }
    let words = "correct horse battery staple";
    cases.push(secret("keyword", r, format!("password: {words}"), &[words]));
    let t = r.hex(40);
    cases.push(secret("keyword", r, format!("token={t}"), &[&t]));
    let t = r.from(b"abcdefghijklmnopqrstuvwxyz", 24);
    cases.push(secret("keyword", r, format!("api_key={t}"), &[&t]));
    let t = r.alnum(32);
    for key in [
        "x-api-key",
        "client_secret",
        "privateKey",
        "access_key",
        "jwt",
        "apiKey",
    ] {
        cases.push(secret("keyword", r, format!("{key}: {t}"), &[&t]));
    }
    let pin_len = 4 + r.below(3);
    let pin = r.from(b"0123456789", pin_len);
    cases.push(secret("keyword", r, format!("pin={pin}"), &[&pin]));
    // Payment cards.
    let card = luhn(r, "4", 16);
    for sep in [" ", "-", ".", "_", "  ", "\u{a0}"] {
        cases.push(secret(
            "card",
            r,
            format!("paid with {}", group(&card, 4, sep)),
            &[&group(&card, 4, sep)],
        ));
    }
    let fw = fullwidth(&card);
    cases.push(secret("card", r, format!("card {fw}"), &[&fw]));
    let amex = luhn(r, "37", 15);
    let amex_grouped = format!("{} {} {}", &amex[..4], &amex[4..10], &amex[10..]);
    cases.push(secret(
        "card",
        r,
        format!("amex {amex_grouped}"),
        &[&amex_grouped],
    ));
    let mc = luhn(r, "5", 16);
    cases.push(secret("card", r, format!("card_number={mc}"), &[&mc]));
    let mc2 = luhn(r, "2221", 16);
    cases.push(secret(
        "card",
        r,
        format!("charged {mc2} for order 12"),
        &[&mc2],
    ));
    // IBANs.
    let de = iban(r, "DE", 18, 0);
    cases.push(secret("iban", r, format!("payout to {de}"), &[&de]));
    let gb = iban(r, "GB", 18, 4);
    let gb_grouped = group(&gb, 4, " ");
    cases.push(secret(
        "iban",
        r,
        format!("IBAN {gb_grouped}"),
        &[&gb_grouped],
    ));
    let fr = iban(r, "FR", 23, 0);
    cases.push(secret("iban", r, format!("iban={fr}"), &[&fr]));
    // Personal data.
    let local = r.alnum(8).to_lowercase();
    let email = format!("{local}@example.com");
    cases.push(secret("email", r, format!("mail to {email}"), &[&email]));
    let idn = format!("{local}@bücher.de");
    cases.push(secret("email", r, format!("mail to {idn}"), &[&idn]));
    let underscore = format!("{local}@mail_relay.example.org");
    cases.push(secret(
        "email",
        r,
        format!("from <{underscore}>"),
        &[&underscore],
    ));
    let ip = format!("10.{}.{}.{}", r.below(256), r.below(256), 1 + r.below(254));
    cases.push(secret("ip", r, format!("client {ip} connected"), &[&ip]));
    let ip6 = format!(
        "2001:db8:{:x}::{:x}",
        r.below(65535) + 1,
        r.below(65535) + 1
    );
    cases.push(secret("ip", r, format!("peer [{ip6}]:443"), &[&ip6]));
    let phone = format!(
        "+{} {} {} {}",
        r.pick(&["44", "49", "33", "1"]),
        200 + r.below(700),
        100 + r.below(900),
        1000 + r.below(9000)
    );
    cases.push(secret("phone", r, format!("call {phone} back"), &[&phone]));
    let phone = format!("+1 ({}) 555-{:04}", 200 + r.below(700), r.below(10000));
    cases.push(secret("phone", r, format!("sms to {phone}"), &[&phone]));
    let ssn = format!(
        "{:03}-{:02}-{:04}",
        100 + r.below(500),
        10 + r.below(89),
        1000 + r.below(8999)
    );
    cases.push(secret("ssn", r, format!("ssn {ssn} on file"), &[&ssn]));
}

fn look_alikes_of_every_family(rng: &mut Rng, cases: &mut Vec<Case>) {
    let r = rng;
    let n = Field::Note;
    // Luhn-valid identifiers where identifiers stand.
    let id = luhn(r, "4", 16);
    cases.push(look_alike("card", id.clone(), Field::TraceId));
    let id = luhn(r, "5", 16);
    cases.push(look_alike("card", id, Field::OrderId));
    let id = luhn(r, "4", 16);
    cases.push(look_alike("card", format!("trace_id={id} done"), n));
    let id = luhn(r, "6011", 16);
    cases.push(look_alike("card", format!("{{\"order_id\": \"{id}\"}}"), n));
    let id = luhn(r, "4", 19);
    cases.push(look_alike("card", format!("span_id: {id}"), n));
    // Numbers with no issuer or the wrong length.
    let id = luhn(r, "1", 16);
    cases.push(look_alike("card", format!("ts {id}"), n));
    let id = luhn(r, "9", 16);
    cases.push(look_alike("card", format!("id {id}"), n));
    let id = luhn(r, "4", 15);
    cases.push(look_alike("card", format!("ref {id} ok"), n));
    // Versions, CIDR blocks, Rust paths.
    let v = format!(
        "{}.{}.{}.{}",
        r.below(3),
        r.below(20),
        r.below(20),
        r.below(200)
    );
    cases.push(look_alike("ip", format!("version {v}"), n));
    cases.push(look_alike("ip", format!("app_version={v}"), n));
    let cidr = format!("10.{}.0.0/16", r.below(256));
    cases.push(look_alike("ip", format!("allow {cidr}"), n));
    cases.push(look_alike(
        "ip",
        "route 2001:db8::/32 via core".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "ip",
        "panicked at crate::cache::bad::face and std::io::Error".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "ip",
        "calling dead::beef::cafe::fn".to_owned(),
        n,
    ));
    // E-mail look-alikes.
    cases.push(look_alike(
        "email",
        "loaded /static/logo@2x.png and icon@3x.webp".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "email",
        "cloning git@github.com:acme/app.git".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "email",
        "@alice said hi to user@localhost".to_owned(),
        n,
    ));
    // Keyword look-alikes.
    let uuid = format!(
        "{}-{}-4{}-a{}-{}",
        r.hex(8),
        r.hex(4),
        r.hex(3),
        r.hex(3),
        r.hex(12)
    );
    cases.push(look_alike("keyword", format!("idempotency_key={uuid}"), n));
    cases.push(look_alike("keyword", format!("request {uuid} done"), n));
    let sha1 = r.hex(40);
    cases.push(look_alike("keyword", format!("cache_key={sha1}"), n));
    cases.push(look_alike("keyword", format!("commit {sha1} pushed"), n));
    let sha256 = r.hex(64);
    cases.push(look_alike("keyword", format!("digest sha256:{sha256}"), n));
    cases.push(look_alike(
        "keyword",
        "password_changed_at=2026-11-26T05:56:07Z".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "keyword",
        format!("password_length={}", 8 + r.below(20)),
        n,
    ));
    cases.push(look_alike(
        "keyword",
        "tokenizer=wordpiece_uncased".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "keyword",
        format!("token_count={}", r.below(100_000)),
        n,
    ));
    cases.push(look_alike(
        "keyword",
        "authorization: granted".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "keyword",
        "token=none key=42 secret: required".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "keyword",
        "password: null, pwd=/home/alice".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "keyword",
        "token_type=bearer expires_in=3600".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "keyword",
        "public_key=ssh-ed25519".to_owned(),
        n,
    ));
    // Provider look-alikes.
    cases.push(look_alike(
        "provider",
        "sk_live_ is the prefix; ghp_short".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "provider",
        "key-management-service-config loaded".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "provider",
        format!("trace eyJ{} is not a token", r.alnum(10)),
        n,
    ));
    // IBAN look-alikes: wrong check digits, wrong length.
    let de = iban(r, "DE", 18, 0);
    let broken = format!("{}{}", &de[..21], (de.as_bytes()[21] - b'0' + 1) % 10);
    cases.push(look_alike("iban", format!("payout to {broken}"), n));
    cases.push(look_alike(
        "iban",
        "product DE22 and model GB29X".to_owned(),
        n,
    ));
    // Timestamps, durations, order numbers.
    cases.push(look_alike(
        "general",
        format!(
            "at 2026-11-26T05:56:07.{:09}Z took 12.5ms",
            r.below(1_000_000_000)
        ),
        n,
    ));
    cases.push(look_alike(
        "general",
        format!("order ORD-2024-{:06} shipped", r.below(999_999)),
        n,
    ));
    cases.push(look_alike(
        "phone",
        "call 555-123-4567 or (202) 555-0143".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "phone",
        "at 2026-11-26T05:56:07+00:00, offset +0100".to_owned(),
        n,
    ));
    cases.push(look_alike(
        "phone",
        format!("build 1.2.3+{}", 20_260_000 + r.below(9999)),
        n,
    ));
}
