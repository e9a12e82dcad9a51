//! Canary secrets of every kind the detectors know, as proptest strategies: shared by the
//! detector tests and the end-to-end tests through the layer.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use proptest::prelude::*;

/// A secret in the form it is logged in, and the parts of it that must not reach the output.
#[derive(Clone, Debug)]
pub struct Canary {
    pub logged: String,
    pub secrets: Vec<String>,
}

pub fn canary(logged: String, secret: &str) -> Canary {
    Canary {
        logged,
        secrets: vec![secret.to_owned()],
    }
}

pub fn jwt() -> impl Strategy<Value = Canary> {
    ("[a-z0-9]{1,12}", 0u64..u64::MAX, "[A-Za-z0-9_-]{43}").prop_map(|(sub, iat, sig)| {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{sub}","iat":{iat}}}"#));
        let token = format!("{header}.{payload}.{sig}");
        canary(token.clone(), &token)
    })
}

pub fn auth_header() -> impl Strategy<Value = Canary> {
    let bearer = "[A-Za-z0-9._~+/-]{8,40}"
        .prop_map(|token| canary(format!("Authorization: Bearer {token}"), &token));
    // A standalone `Bearer` needs a token that looks generated: mixed classes, 16+ bytes.
    let standalone = ("[a-z]{6,20}", "[0-9]{4,8}", "[A-Z]{6,12}").prop_map(|(a, d, u)| {
        let token = format!("{a}{d}{u}");
        canary(format!("bearer {token}"), &token)
    });
    let basic = ("[a-z]{3,10}", "[ -~]{4,20}").prop_map(|(user, password)| {
        let token = STANDARD.encode(format!("{user}:{password}"));
        canary(format!("Basic {token}"), &token)
    });
    prop_oneof![bearer, standalone, basic]
}

pub fn aws_key() -> impl Strategy<Value = Canary> {
    let id =
        (prop_oneof![Just("AKIA"), Just("ASIA")], "[A-Z0-9]{16}").prop_map(|(prefix, body)| {
            let id = format!("{prefix}{body}");
            canary(id.clone(), &id)
        });
    let secret = "[A-Za-z0-9/+]{40}"
        .prop_map(|secret| canary(format!("aws_secret_access_key={secret}"), &secret));
    prop_oneof![id, secret]
}

pub fn github_token() -> impl Strategy<Value = Canary> {
    let classic = (
        prop_oneof![
            Just("ghp_"),
            Just("gho_"),
            Just("ghu_"),
            Just("ghs_"),
            Just("ghr_")
        ],
        "[A-Za-z0-9]{36}",
    )
        .prop_map(|(prefix, body)| {
            let token = format!("{prefix}{body}");
            canary(token.clone(), &token)
        });
    let fine_grained = "[A-Za-z0-9_]{22,82}".prop_map(|body| {
        let token = format!("github_pat_{body}");
        canary(token.clone(), &token)
    });
    prop_oneof![classic, fine_grained]
}

pub fn slack_token() -> impl Strategy<Value = Canary> {
    ("[baprs]", "[0-9]{10,12}", "[A-Za-z0-9]{24}").prop_map(|(kind, team, secret)| {
        let token = format!("xox{kind}-{team}-{secret}");
        canary(token.clone(), &token)
    })
}

pub fn private_key() -> impl Strategy<Value = Canary> {
    (
        prop_oneof![Just("RSA "), Just("EC "), Just(""), Just("OPENSSH ")],
        prop::collection::vec("[A-Za-z0-9+/]{16,64}", 1..5),
        any::<bool>(),
    )
        .prop_map(|(kind, lines, truncated)| {
            let body = lines.join("\n");
            let mut logged = format!("-----BEGIN {kind}PRIVATE KEY-----\n{body}\n");
            if !truncated {
                logged.push_str(&format!("-----END {kind}PRIVATE KEY-----"));
            }
            Canary {
                logged,
                secrets: lines,
            }
        })
}

pub fn url_password() -> impl Strategy<Value = Canary> {
    (
        prop_oneof![
            Just("https"),
            Just("postgres"),
            Just("redis+tls"),
            Just("ftp")
        ],
        "[a-z]{0,8}",
        "[A-Za-z0-9._~!$-]{8,24}",
        "[a-z]{1,10}\\.[a-z]{2,5}",
    )
        .prop_map(|(scheme, user, password, host)| {
            canary(
                format!("{scheme}://{user}:{password}@{host}/path?q=1"),
                &password,
            )
        })
}

/// Card numbers with a valid issuer prefix and check digit, written plain, spaced or dashed.
pub fn card_number() -> impl Strategy<Value = Canary> {
    // Issuer prefixes with the lengths their networks issue (Amex 15, the others 16).
    (
        prop_oneof![
            Just(("4", 16usize)),
            Just(("51", 16)),
            Just(("55", 16)),
            Just(("37", 15)),
            Just(("34", 15)),
            Just(("6011", 16)),
        ],
        "[0-9]{20}",
        prop_oneof![Just(""), Just(" "), Just("-")],
    )
        .prop_map(|((prefix, len), filler, sep)| {
            let mut digits: Vec<u8> = format!("{prefix}{filler}").bytes().take(len - 1).collect();
            digits.push(b'0');
            let sum: u32 = digits
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
            let last = digits.len() - 1;
            digits[last] = b'0' + ((10 - sum % 10) % 10) as u8;
            let plain = String::from_utf8(digits).unwrap_or_default();
            let logged = plain
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(sep);
            Canary {
                secrets: vec![logged.clone(), plain],
                logged,
            }
        })
}

pub fn email() -> impl Strategy<Value = Canary> {
    // Random top-level labels, except the file extensions that make `logo@2x.png` an asset.
    let tld = "[a-z]{2,6}".prop_filter("a file extension, not a domain", |t| {
        ![
            "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "avif", "css", "js", "mjs",
            "map", "json", "html", "htm", "txt", "pdf", "woff", "woff2", "ttf", "mp4", "webm",
            "wasm", "rs", "toml", "yaml", "yml", "lock", "tgz", "gz",
        ]
        .contains(&t.as_str())
    });
    ("[a-z0-9][a-z0-9._+-]{0,15}", "[a-z0-9]{1,10}", tld).prop_map(|(local, host, tld)| {
        let email = format!("{local}@{host}.{tld}");
        canary(email.clone(), &email)
    })
}

pub fn us_ssn() -> impl Strategy<Value = Canary> {
    (1u16..900, 1u8..100, 1u16..10000)
        .prop_filter("never issued", |&(area, group, serial)| {
            area != 666
                && (area, group, serial) != (78, 5, 1120)
                && (area, group, serial) != (219, 9, 9999)
        })
        .prop_map(|(area, group, serial)| {
            let ssn = format!("{area:03}-{group:02}-{serial:04}");
            canary(ssn.clone(), &ssn)
        })
}

pub fn ip_address() -> impl Strategy<Value = Canary> {
    let v4 = any::<[u8; 4]>().prop_map(|o| {
        let ip = std::net::Ipv4Addr::from(o).to_string();
        canary(ip.clone(), &ip)
    });
    let v6 = any::<[u16; 8]>().prop_map(|s| {
        let ip = std::net::Ipv6Addr::from(s).to_string();
        canary(ip.clone(), &ip)
    });
    prop_oneof![v4, v6]
}

pub fn keyword_secret() -> impl Strategy<Value = Canary> {
    (
        prop_oneof![
            Just("token"),
            Just("api_key"),
            Just("client_secret"),
            Just("X-Api-Key"),
            Just("password")
        ],
        prop_oneof![Just("="), Just(": "), Just("=\""), Just("\": \"")],
        // Generated secrets are uniformly random; at this length one of a single character
        // class or with little entropy is vanishingly rare.
        "[A-Za-z0-9]{20,40}",
    )
        .prop_map(|(key, sep, value)| {
            let close = if sep.ends_with('"') { "\"" } else { "" };
            let open = if sep.starts_with('"') { "\"" } else { "" };
            canary(format!("{open}{key}{sep}{value}{close}"), &value)
        })
}

pub fn any_canary() -> impl Strategy<Value = Canary> {
    prop_oneof![
        jwt(),
        auth_header(),
        aws_key(),
        github_token(),
        slack_token(),
        private_key(),
        url_password(),
        card_number(),
        email(),
        us_ssn(),
        ip_address(),
        keyword_secret(),
    ]
}

/// Printable ASCII with the bytes detectors react to, and some non-ASCII text.
pub fn filler() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ -~]{0,40}",
        1 => "[a-zé€🦀 ]{0,20}",
    ]
}

/// A message of random text with canaries at random positions, each set off by spaces.
pub fn message() -> impl Strategy<Value = (String, Vec<Canary>)> {
    prop::collection::vec((filler(), any_canary()), 1..4).prop_flat_map(|parts| {
        filler().prop_map(move |tail| {
            let mut text = String::new();
            for (before, canary) in &parts {
                text.push_str(before);
                text.push(' ');
                text.push_str(&canary.logged);
                text.push(' ');
            }
            text.push_str(&tail);
            (text, parts.iter().map(|(_, c)| c.clone()).collect())
        })
    })
}
