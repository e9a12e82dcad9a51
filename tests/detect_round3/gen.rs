//! The generator of the issue-23 corpus: every class the issue names, secrets and look-alikes,
//! from a fixed seed. `Part::Build` is what the detectors were built against; `Part::HoldOut`
//! uses another seed and the shape variants written down in `HOLDOUT.md` before building.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use super::cases::{group, iban, luhn, Case, Field, Rng};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Part {
    Build,
    HoldOut,
}

pub const BUILD_SEED: u64 = 0x023b_011d;
pub const HOLD_OUT_SEED: u64 = 0x0234_01d0;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";

/// Sentences a secret is logged in, per part; `{}` is the logged form.
const BUILD_CONTEXTS: &[&str] = &["{}", "request failed: {}", "running `{}`"];
const HOLD_OUT_CONTEXTS: &[&str] = &["{} (retry 2/3)", "error=\"{}\"", "[worker-7] {}; giving up"];

struct Gen<'a> {
    rng: &'a mut Rng,
    part: Part,
    cases: Vec<Case>,
}

impl Gen<'_> {
    fn hold_out(&self) -> bool {
        self.part == Part::HoldOut
    }

    /// A case whose `secrets` must all vanish, logged inside one of the part's sentences.
    fn secret(&mut self, family: &'static str, logged: String, secrets: &[&str]) {
        let contexts = if self.hold_out() {
            HOLD_OUT_CONTEXTS
        } else {
            BUILD_CONTEXTS
        };
        let context = *self.rng.pick(contexts);
        self.cases.push(Case {
            family,
            text: context.replace("{}", &logged),
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            field: Field::Note,
        });
    }

    fn look_alike(&mut self, family: &'static str, text: String) {
        self.cases.push(Case {
            family,
            text,
            secrets: Vec::new(),
            field: Field::Note,
        });
    }

    /// A password as people choose them: letters, digits and a symbol.
    fn password(&mut self) -> String {
        let mut pw = self.rng.alnum(10);
        pw.push(*self.rng.pick(&['!', '#', '%', '^', '*']));
        pw
    }
}

pub fn corpus(part: Part) -> Vec<Case> {
    let seed = match part {
        Part::Build => BUILD_SEED,
        Part::HoldOut => HOLD_OUT_SEED,
    };
    let mut rng = Rng::new(seed);
    let mut g = Gen {
        rng: &mut rng,
        part,
        cases: Vec::new(),
    };
    for _ in 0..4 {
        bugs(&mut g);
        tokens(&mut g);
        command_lines(&mut g);
        configs(&mut g);
        keys(&mut g);
        web(&mut g);
        personal(&mut g);
        look_alikes(&mut g);
    }
    g.cases
}

/// The three bugs: a token after an escaped line break or tab, pretty `Debug` output.
fn bugs(g: &mut Gen<'_>) {
    let hold = g.hold_out();
    let tokens = [
        format!("ghp_{}", g.rng.alnum(36)),
        format!("sk_live_{}", g.rng.alnum(24)),
        format!("glpat-{}", g.rng.alnum(20)),
        format!("xoxb-{}-{}", g.rng.from(DIGITS, 11), g.rng.alnum(24)),
        format!(
            "AKIA{}",
            g.rng.from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        ),
        format!("npm_{}", g.rng.alnum(36)),
    ];
    for token in &tokens {
        let escape = if hold {
            *g.rng.pick(&["\\r\\n", "\\t"])
        } else {
            "\\n"
        };
        // Both the escape as logged text and a real line break (which `?` escapes).
        let real = if hold { "\r\n" } else { "\n" };
        g.secret(
            "escaped_break",
            format!("first line{escape}{token}"),
            &[token],
        );
        g.secret(
            "escaped_break",
            format!("first line{real}{token}"),
            &[token],
        );
    }
    let pw = g.password();
    let key = format!("{}{}", g.rng.alnum(20), g.rng.from(DIGITS, 4));
    let pretty = if hold {
        format!(
            "Settings {{\n    api_key: Some(\n        Token(\n            \"{key}\",\n        ),\n    ),\n    password: Secret(\n        \"{pw}\",\n    ),\n}}"
        )
    } else {
        format!(
            "Config {{\n    host: \"db\",\n    password: Some(\n        \"{pw}\",\n    ),\n    api_key: Some(\n        \"{key}\",\n    ),\n}}"
        )
    };
    g.secret("pretty_debug", pretty, &[&pw, &key]);
}

/// Provider tokens in URLs, a credentials CSV, a key sid, JWE, vendor shapes.
fn tokens(g: &mut Gen<'_>) {
    let hold = g.hold_out();
    let bot = format!("{}:AA{}", g.rng.from(DIGITS, 10), g.rng.from(URLSAFE, 33));
    let method = if hold { "getUpdates" } else { "sendMessage" };
    g.secret(
        "token_in_url",
        format!("POST https://api.telegram.org/bot{bot}/{method} failed"),
        &[&bot[11..]],
    );
    let id = format!(
        "AKIA{}",
        g.rng.from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    );
    let secret = format!("{}{}", g.rng.from(B64, 38), g.rng.from(DIGITS, 2));
    let csv = if hold {
        format!("User name,Password,Access key ID,Secret access key\nalice,,{id},{secret}")
    } else {
        format!("Access key ID,Secret access key\n{id},{secret}")
    };
    g.secret("credentials_csv", csv, &[&id, &secret]);
    let sid = format!("SK{}", g.rng.hex(32));
    let prose = if hold {
        format!("The key sid {sid} was rotated by ops")
    } else {
        format!("using API key {sid} for account")
    };
    g.secret("key_sid", prose, &[&sid]);
    let header = if hold {
        r#"{"alg":"dir","enc":"A256GCM"}"#
    } else {
        r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#
    };
    let key = if hold {
        String::new()
    } else {
        g.rng.from(URLSAFE, 342)
    };
    let (iv, ct, tag) = (
        g.rng.from(URLSAFE, 16),
        g.rng.from(URLSAFE, 60),
        g.rng.from(URLSAFE, 22),
    );
    let jwe = format!("{}.{key}.{iv}.{ct}.{tag}", URL_SAFE_NO_PAD.encode(header));
    g.secret(
        "jwe",
        format!("id_token={jwe}").replace("id_token=", "got "),
        &[&ct],
    );
    // Vendor shapes without a keyword.
    let (len, at, sig): (usize, usize, &str) = if hold {
        *g.rng
            .pick(&[(88, 76, "ACDb"), (56, 44, "AzFu"), (52, 42, "AzSe")])
    } else {
        *g.rng.pick(&[(88, 76, "+ASt"), (88, 76, "+ASb")])
    };
    let mut azure = g.rng.from(ALNUM, at);
    azure.push_str(sig);
    let tail = len - at - sig.len();
    if len == 52 {
        azure.push_str(&g.rng.from(ALNUM, tail));
    } else {
        azure.push_str(&g.rng.from(ALNUM, tail - 3));
        azure.push(*g.rng.pick(&['A', 'Q', 'g', 'w']));
        azure.push_str("==");
    }
    g.secret(
        "vendor_shape",
        format!("connecting with {azure}"),
        &[&azure[..40]],
    );
    let entra = format!(
        "{}{}Q~{}",
        g.rng.from(ALNUM, 3),
        g.rng.below(10),
        g.rng.alnum(if hold { 31 } else { 34 })
    );
    g.secret(
        "vendor_shape",
        format!("client secret rotated to {entra}"),
        &[&entra[6..]],
    );
}

/// Passwords on command lines and in `.netrc` lines.
fn command_lines(g: &mut Gen<'_>) {
    let hold = g.hold_out();
    let pw = g.password().replace(['!', '^', '*', '#', '%'], "x");
    let user = g.rng.from(b"abcdefghijklmnop", 6);
    let lines = if hold {
        [
            format!("mysqldump -u root -p{pw} --all-databases"),
            format!("sshpass -p '{pw}' ssh deploy@host"),
            format!("curl --user {user}:{pw} https://api.internal/v1"),
            format!("redis-cli -h cache -a {pw} ping"),
            format!("ldapsearch -x -w {pw} -b dc=corp"),
            format!("default login {user} password {pw}"),
        ]
    } else {
        [
            format!("mysql -u root -p{pw} shop"),
            format!("sshpass -p {pw} ssh host"),
            format!("curl -u {user}:{pw} https://api.internal/v1"),
            format!("redis-cli -a {pw}"),
            format!("ldapsearch -w {pw} -D cn=admin"),
            format!("machine api.example.com login {user} password {pw}"),
        ]
    };
    for line in lines {
        g.secret("command_line", line, &[&pw]);
    }
}

/// ODBC, JDBC thin, .NET XML settings.
fn configs(g: &mut Gen<'_>) {
    let hold = g.hold_out();
    let pw = g.password().replace(['!', '^', '*', '#', '%'], "k");
    let odbc = if hold {
        let inner = format!("{};{}", &pw[..5], &pw[5..]);
        g.secret(
            "odbc",
            format!("Driver={{ODBC Driver 18}};Server=db;UID=app;PWD={{{inner}}};"),
            &[&inner, &pw[5..]],
        );
        return configs_rest(g, &pw);
    } else {
        format!(
            "Driver={{ODBC Driver 18 for SQL Server}};Server=db;Uid=app;Pwd={{{pw}}};Encrypt=yes"
        )
    };
    g.secret("odbc", odbc, &[&pw]);
    configs_rest(g, &pw);
}

fn configs_rest(g: &mut Gen<'_>, pw: &str) {
    let hold = g.hold_out();
    let jdbc = if hold {
        format!("jdbc:oracle:thin:scott/{pw}@//db.internal:1521/ORCLPDB1")
    } else {
        format!("jdbc:oracle:thin:scott/{pw}@db.internal:1521:ORCL")
    };
    g.secret("jdbc_thin", jdbc, &[pw]);
    let xml = if hold {
        format!(r#"<add name="SmtpPassword" value="{pw}" />"#)
    } else {
        format!(r#"<add key="DbPassword" value="{pw}"/>"#)
    };
    g.secret("xml_setting", xml, &[pw]);
}

/// JWK private members, PuTTY keys, Docker auth blobs.
fn keys(g: &mut Gen<'_>) {
    let hold = g.hold_out();
    let part = |g: &mut Gen<'_>, n: usize| {
        format!("{}{}", g.rng.from(URLSAFE, n - 2), g.rng.below(90) + 10)
    };
    let (n, d, p, q, dp, dq, qi) = (
        part(g, 64),
        part(g, 64),
        part(g, 32),
        part(g, 32),
        part(g, 32),
        part(g, 32),
        part(g, 32),
    );
    let jwk = if hold {
        format!(
            "{{\n  \"n\": \"{n}\",\n  \"e\": \"AQAB\",\n  \"d\": \"{d}\",\n  \"p\": \"{p}\",\n  \"q\": \"{q}\",\n  \"dp\": \"{dp}\",\n  \"dq\": \"{dq}\",\n  \"qi\": \"{qi}\",\n  \"kty\": \"RSA\"\n}}"
        )
    } else {
        format!(
            r#"{{"kty":"RSA","n":"{n}","e":"AQAB","d":"{d}","p":"{p}","q":"{q}","dp":"{dp}","dq":"{dq}","qi":"{qi}"}}"#
        )
    };
    g.secret("jwk", jwk, &[&d, &p, &q, &dp, &dq, &qi]);
    let lines: Vec<String> = (0..3).map(|_| g.rng.from(B64, 64)).collect();
    let ppk = format!(
        "PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nComment: deploy\nPublic-Lines: 1\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\nPrivate-Lines: 3\n{}\nPrivate-MAC: {}",
        lines.join(if hold { "\r\n" } else { "\n" }),
        g.rng.hex(64)
    );
    let secrets: Vec<&str> = lines.iter().map(String::as_str).collect();
    g.secret("putty_ppk", ppk, &secrets);
    let pw = g.password();
    let auth = STANDARD.encode(format!("ci-bot:{pw}"));
    let json = format!(r#"{{"auths":{{"registry.example.com":{{"auth":"{auth}"}}}}}}"#);
    if hold {
        let pretty = format!(
            "{{\n  \"auths\": {{\n    \"registry.example.com\": {{\n      \"auth\": \"{auth}\"\n    }}\n  }}\n}}"
        );
        let blob = STANDARD.encode(&pretty);
        g.secret(
            "docker_config",
            format!(".dockerconfigjson: {blob}"),
            &[&blob[20..]],
        );
    } else {
        let blob = STANDARD.encode(&json);
        g.secret(
            "docker_config",
            format!(".dockerconfigjson: {blob}"),
            &[&blob[20..]],
        );
        g.secret("docker_config", json.clone(), &[&auth]);
    }
}

/// OAuth codes, SAML responses, session ids in paths, cookie maps in `Debug`.
fn web(g: &mut Gen<'_>) {
    let hold = g.hold_out();
    let code = g.rng.alnum(30);
    let url = if hold {
        format!("GET /oauth/callback?state=af0ifjsldkj&code={code} 302")
    } else {
        format!("GET https://app.example.com/callback?code={code}&state=xyz 302")
    };
    g.secret("oauth_code", url, &[&code]);
    let saml = STANDARD.encode(format!(
        "<samlp:Response ID=\"_{}\"><saml:Assertion>{}</saml:Assertion></samlp:Response>",
        g.rng.hex(16),
        g.rng.alnum(120)
    ));
    let (logged, core) = if hold {
        let enc = saml
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        (
            format!("POST /sso/acs SAMLResponse={enc}&RelayState=home"),
            enc[10..60].to_owned(),
        )
    } else {
        (
            format!("POST /sso/acs SAMLResponse={saml}"),
            saml[10..60].to_owned(),
        )
    };
    g.secret("saml_response", logged, &[&core]);
    let sid = g.rng.from(b"0123456789ABCDEF", 32);
    let name = if hold { "JSESSIONID" } else { "jsessionid" };
    g.secret(
        "jsessionid",
        format!("GET /shop/cart;{name}={sid}?item=3"),
        &[&sid],
    );
    let token = g.rng.alnum(32);
    let map = if hold {
        format!("cookies: {{\n    \"session\": \"{token}\",\n    \"theme\": \"dark\",\n}}")
    } else {
        format!("cookies: {{\"session\": \"{token}\", \"lang\": \"en\"}}")
    };
    g.secret("cookie_map", map, &[&token]);
}

fn dni_letter(n: u64) -> char {
    b"TRWAGMYFPDXBNJZSQVHLCKE"[(n % 23) as usize] as char
}

fn bsn(rng: &mut Rng) -> String {
    loop {
        let d: Vec<u32> = (0..8).map(|_| rng.below(10) as u32).collect();
        let sum: u32 = d.iter().enumerate().map(|(k, &v)| (9 - k as u32) * v).sum();
        let last = sum % 11;
        if last < 10 && d[0] != 0 {
            return d
                .iter()
                .map(|v| char::from(b'0' + *v as u8))
                .collect::<String>()
                + &last.to_string();
        }
    }
}

fn nir(rng: &mut Rng) -> String {
    let body = format!(
        "{}{:02}{:02}{:02}{:03}{:03}",
        1 + rng.below(2),
        rng.below(99),
        1 + rng.below(12),
        1 + rng.below(95),
        1 + rng.below(999),
        1 + rng.below(999)
    );
    let n: u64 = body.parse().unwrap_or(0);
    format!("{body}{:02}", 97 - n % 97)
}

fn nino(rng: &mut Rng) -> String {
    let first = *rng.pick(&[
        'A', 'B', 'C', 'E', 'H', 'J', 'K', 'L', 'M', 'P', 'R', 'S', 'W',
    ]);
    let second = *rng.pick(&['A', 'B', 'C', 'E', 'H', 'J', 'L', 'M', 'P', 'R', 'S', 'W']);
    format!(
        "{first}{second}{}{}",
        rng.from(DIGITS, 6),
        *rng.pick(&['A', 'B', 'C', 'D'])
    )
}

fn ssn(rng: &mut Rng) -> String {
    format!(
        "{}{:02}{:04}",
        100 + rng.below(565),
        1 + rng.below(98),
        1 + rng.below(9998)
    )
}

/// Personal data: national ids, passports, dates of birth, obfuscated e-mails, IBANs and cards
/// in other writings, national phone numbers.
fn personal(g: &mut Gen<'_>) {
    let hold = g.hold_out();
    let s = ssn(g.rng);
    let logged = if hold {
        format!("SSN: {s}")
    } else {
        format!(
            "customer ssn={s}, social security number {} {} {}",
            &s[..3],
            &s[3..5],
            &s[5..]
        )
    };
    g.secret("ssn_no_dashes", logged, &[&s, &s[5..]]);
    let ni = nino(g.rng);
    let logged = if hold {
        format!(
            "national insurance number {} {} {} {} {}",
            &ni[..2],
            &ni[2..4],
            &ni[4..6],
            &ni[6..8],
            &ni[8..]
        )
    } else {
        format!("NINO: {ni}")
    };
    g.secret("uk_nino", logged, &[&ni[2..8], &ni[4..6]]);
    let n: u64 = g.rng.from(DIGITS, 8).parse().unwrap_or(12_345_678);
    let dni = format!("{n:08}{}", dni_letter(n));
    g.secret(
        "es_dni",
        format!("titular DNI {dni} verificado"),
        &[&dni[..8]],
    );
    let (prefix, digit) = if hold { ('Y', 1) } else { ('X', 0) };
    let m: u64 = g.rng.from(DIGITS, 7).parse().unwrap_or(1_234_567);
    let nie = format!("{prefix}{m:07}{}", dni_letter(digit * 10_000_000 + m));
    g.secret("es_nie", format!("NIE {nie}"), &[&nie[1..8]]);
    let b = bsn(g.rng);
    let logged = if hold {
        format!("bsn={b}")
    } else {
        format!("BSN: {b}")
    };
    g.secret("nl_bsn", logged, &[&b]);
    let first = *g.rng.pick(&["1", "2", "4", "5", "6", "7"]);
    let sin = luhn(g.rng, first, 9);
    let logged = if hold {
        format!("SIN: {}", group(&sin, 3, " "))
    } else {
        format!("SIN: {sin}")
    };
    g.secret("ca_sin", logged, &[&sin, &sin[3..6]]);
    let fr = nir(g.rng);
    let logged = if hold {
        format!(
            "NIR {} {} {} {} {} {} {}",
            &fr[..1],
            &fr[1..3],
            &fr[3..5],
            &fr[5..7],
            &fr[7..10],
            &fr[10..13],
            &fr[13..]
        )
    } else {
        format!("numero securite sociale {fr}")
    };
    g.secret("fr_nir", logged, &[&fr, &fr[7..10]]);
    let passport = if hold {
        format!(
            "{}{}{}{}",
            g.rng.from(UPPER, 1),
            g.rng.from(DIGITS, 2),
            g.rng.from(UPPER, 1),
            g.rng.from(DIGITS, 5)
        )
    } else {
        format!("{}{}", g.rng.from(UPPER, 1), g.rng.from(DIGITS, 7))
    };
    let logged = if hold {
        format!("passport no. {passport}")
    } else {
        format!("passport: {passport}")
    };
    g.secret("passport", logged, &[&passport]);
    let (y, mo, d) = (
        1940 + g.rng.below(70),
        1 + g.rng.below(12),
        1 + g.rng.below(28),
    );
    let dob = if hold {
        if g.rng.below(2) == 0 {
            format!("DOB: {y}-{mo:02}-{d:02}")
        } else {
            format!("date_of_birth={d:02}/{mo:02}/{y}")
        }
    } else if g.rng.below(2) == 0 {
        format!("date of birth: {d:02}.{mo:02}.{y}")
    } else {
        format!("birthdate={y}-{mo:02}-{d:02}")
    };
    g.secret("date_of_birth", dob, &[&y.to_string()]);
    let local = format!(
        "{}.{}",
        g.rng.from(b"abcdefghij", 5),
        g.rng.from(b"klmnopqrst", 6)
    );
    let email = if hold {
        let (at, dot) = *g.rng.pick(&[("(at)", "(dot)"), ("{at}", "{dot}")]);
        format!("{local}{at}example{dot}org")
    } else {
        format!("{local} [at] example [dot] com")
    };
    g.secret(
        "obfuscated_email",
        format!("contact {email} for access"),
        &[&local],
    );
    let i = iban(g.rng, "DE", 18, 0);
    let logged = if hold {
        if g.rng.below(2) == 0 {
            group(&i.to_lowercase(), 4, " ")
        } else {
            group(&i.to_lowercase(), 4, "-")
        }
    } else if g.rng.below(2) == 0 {
        i.to_lowercase()
    } else {
        group(&i, 4, "-")
    };
    g.secret(
        "iban_forms",
        format!("payout to {logged}"),
        &[&i[4..12], &i[4..12].to_lowercase()],
    );
    let card = if hold {
        luhn(g.rng, "37", 15)
    } else {
        luhn(g.rng, "4", 16)
    };
    let logged = if hold {
        format!("{}/{}/{}", &card[..4], &card[4..10], &card[10..])
    } else {
        group(&card, 4, "/")
    };
    g.secret("card_forms", format!("charged {logged}"), &[&card[6..12]]);
    let json_card = luhn(g.rng, "5", 16);
    g.secret(
        "card_forms",
        format!("{{\"pan\":{json_card},\"amount\":12}}"),
        &[&json_card[6..12]],
    );
    let phone = if hold {
        format!(
            "({}) {}-{}",
            201 + g.rng.below(700),
            200 + g.rng.below(700),
            g.rng.from(DIGITS, 4)
        )
    } else {
        format!("020 {} {}", g.rng.from(DIGITS, 4), g.rng.from(DIGITS, 4))
    };
    let key = if hold { "mobile number" } else { "phone" };
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    g.secret(
        "national_phone",
        format!("{key}: {phone}"),
        &[&phone, &digits[digits.len() - 7..]],
    );
}

/// What must come out unchanged.
fn look_alikes(g: &mut Gen<'_>) {
    let hold = g.hold_out();
    let major = 100 + g.rng.below(30);
    let ua = if hold {
        format!("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/{major}.0.1.2")
    } else {
        format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36")
    };
    g.look_alike("user_agent", format!("ua=\"{ua}\""));
    if hold {
        let text = format!("Version/17.4.1.{} Safari/605.1.15", g.rng.below(9));
        g.look_alike("user_agent", text);
    }
    g.look_alike(
        "already_masked",
        (if hold {
            "login password=**** rejected"
        } else {
            "login password: *** rejected"
        })
        .to_owned(),
    );
    g.look_alike(
        "already_masked",
        "db url postgres://app:***@db/x".to_owned(),
    );
    let pk = format!(
        "pk_{}_{}",
        if hold { "test" } else { "live" },
        g.rng.alnum(24)
    );
    let key = if hold {
        "stripe_key"
    } else {
        "publishable_key"
    };
    g.look_alike("publishable_key", format!("checkout {key}={pk}"));
    let nonce = STANDARD.encode(g.rng.alnum(16));
    let header = if hold {
        "Sec-WebSocket-Accept"
    } else {
        "Sec-WebSocket-Key"
    };
    g.look_alike("websocket_nonce", format!("{header}: {nonce}"));
    g.look_alike(
        "usage_text",
        "usage: db-cli --password <password> --host <host> [--verbose]".to_owned(),
    );
    g.look_alike(
        "usage_text",
        "run: mysql -u root -p shop   (prompts for the password)".to_owned(),
    );
    let text = format!("ssh -p {} deploy@host", 2000 + g.rng.below(999));
    g.look_alike("command_line", text);
    g.look_alike(
        "command_line",
        "ls -a /tmp && curl -u deploy https://api.internal/".to_owned(),
    );
    let order = luhn(g.rng, "7", 10);
    g.look_alike("order_number", format!("order {order} shipped"));
    let v = format!(
        "{}.{}.{}.{}",
        1 + g.rng.below(9),
        g.rng.below(40),
        g.rng.below(400),
        g.rng.below(5000)
    );
    g.look_alike("version", format!("upgraded agent to {v}"));
    let sha = g.rng.hex(40);
    g.look_alike("git", format!("commit {sha} (HEAD -> main)"));
    let text = format!(
        "status code={} error code=E{}",
        400 + g.rng.below(100),
        1000 + g.rng.below(9000)
    );
    g.look_alike("code_words", text);
    let b = bsn(g.rng);
    g.look_alike("bare_number", format!("ref {b} queued"));
    let fr = nir(g.rng);
    let wrong = format!(
        "{}{:02}",
        &fr[..13],
        (fr[13..].parse::<u32>().unwrap_or(0) + 1) % 100
    );
    g.look_alike("bare_number", format!("batch {wrong} done"));
    let n: u64 = g.rng.from(DIGITS, 8).parse().unwrap_or(1);
    g.look_alike("bare_number", format!("lot {n:08}{} ok", dni_letter(n + 1)));
    g.look_alike("prose", "meet the team at home dot party later".to_owned());
    g.look_alike("prose", "passport expired; renewal required".to_owned());
    let text = format!(
        "deployed {}-{:02}-{:02}",
        2020 + g.rng.below(6),
        1 + g.rng.below(12),
        1 + g.rng.below(28)
    );
    g.look_alike("date", text);
}
