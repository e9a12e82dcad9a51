//! Property tests over the corpus families: a secret embedded in random text, escaped in any of
//! the ways the detectors decode, never survives; random identifiers of the look-alike families
//! are never altered.

#[path = "detect_corpus/cases.rs"]
mod cases;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use tracing_audit::redact::detect::DetectorSet;
use tracing_audit::redact::Scrubber;
use tracing_audit::Stream;

/// A secret as logged, and the part of it that must not survive.
#[derive(Clone, Debug)]
struct Secret {
    logged: String,
    core: String,
}

fn secret(logged: String, core: &str) -> Secret {
    Secret {
        logged,
        core: core.to_owned(),
    }
}

fn secrets() -> impl Strategy<Value = Secret> {
    prop_oneof![
        "[A-Z2-7]{16}".prop_map(|b| {
            let id = format!("AKIA{b}");
            secret(id.clone(), &id)
        }),
        "[A-Za-z0-9]{34}[A-Z][0-9]".prop_map(|b| {
            let t = format!("ghp_{b}");
            secret(t.clone(), &t)
        }),
        "[A-Za-z0-9]{22}[A-Z][0-9]".prop_map(|b| {
            let t = format!("sk_live_{b}");
            secret(t.clone(), &t)
        }),
        "[A-Za-z0-9]{19}[0-9]".prop_map(|b| {
            let t = format!("glpat-{b}");
            secret(t.clone(), &t)
        }),
        "[A-Za-z0-9]{34}[A-Z][0-9]".prop_map(|b| {
            let t = format!("npm_{b}");
            secret(t.clone(), &t)
        }),
        "[A-Za-z0-9_-]{34}[0-9]".prop_map(|b| {
            let t = format!("AIza{b}");
            secret(t.clone(), &t)
        }),
        ("[a-z0-9]{1,12}", "[A-Za-z0-9_-]{43}").prop_map(|(sub, sig)| {
            let t = format!(
                "{}.{}.{sig}",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
                URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{sub}"}}"#))
            );
            secret(t.clone(), &t)
        }),
        "[A-Za-z0-9]{10}[0-9]"
            .prop_map(|pw| secret(format!("https://app:{pw}@db.example.com/x"), &pw)),
        "[A-Za-z0-9]{8}[0-9!]".prop_map(|pw| secret(format!("password={pw}"), &pw)),
        // Generated lower-case tokens use many letters; shrinking towards `aaaa…` would make a
        // word-like string the detector rightly keeps.
        "[a-z]{24}"
            .prop_filter("varied letters", |t| {
                t.bytes().collect::<std::collections::BTreeSet<u8>>().len() >= 12
            })
            .prop_map(|t| secret(format!("api_key={t}"), &t)),
        any::<u64>().prop_map(|seed| {
            let mut rng = cases::Rng::new(seed);
            let card = cases::luhn(&mut rng, "4", 16);
            secret(format!("card {card}"), &card)
        }),
        "[a-z]{3,10}".prop_map(|local| {
            let email = format!("{local}.x@example.com");
            secret(email.clone(), &email)
        }),
    ]
}

/// The ways a secret reaches a log escaped.
#[derive(Clone, Copy, Debug)]
enum Escape {
    None,
    /// One character as `\uXXXX`.
    Unicode(usize),
    /// One character percent-encoded.
    Percent(usize),
    /// Every `/` as `\/` (JSON's optional escape).
    Slashes,
    /// Inside a `Debug` rendering of a string.
    Debug,
    /// In a JSON string inside a `Debug` rendering (escaped twice).
    DebugOfJson,
}

fn escapes() -> impl Strategy<Value = Escape> {
    prop_oneof![
        Just(Escape::None),
        (0usize..64).prop_map(Escape::Unicode),
        (0usize..64).prop_map(Escape::Percent),
        Just(Escape::Slashes),
        Just(Escape::Debug),
        Just(Escape::DebugOfJson),
    ]
}

/// Escapes one character of the core inside `logged`, returning the escaped text and the
/// escaped form of the core (which must not survive either).
fn escape(s: &Secret, how: Escape) -> (String, String) {
    let pick = |i: usize| {
        let chars: Vec<char> = s.core.chars().collect();
        let at = i % chars.len().max(1);
        (chars, at)
    };
    let escaped_core = match how {
        Escape::None | Escape::Debug | Escape::DebugOfJson | Escape::Slashes => s.core.clone(),
        Escape::Unicode(i) => {
            let (chars, at) = pick(i);
            chars
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    if k == at {
                        format!("\\u{:04x}", *c as u32)
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        }
        Escape::Percent(i) => {
            let (chars, at) = pick(i);
            chars
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    if k == at {
                        format!("%{:02X}", *c as u32)
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        }
    };
    let logged = s.logged.replacen(&s.core, &escaped_core, 1);
    let logged = match how {
        Escape::Slashes => logged.replace('/', "\\/"),
        Escape::Debug => format!("{logged:?}"),
        Escape::DebugOfJson => format!("{:?}", serde_json::json!({ "v": logged }).to_string()),
        _ => logged,
    };
    (logged, escaped_core)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn escaped_secrets_in_random_text_never_survive(
        s in secrets(),
        how in escapes(),
        before in "[a-zA-Z0-9 ,.:;()]{0,24}",
        after in "[a-zA-Z0-9 ,.:;()]{0,24}",
    ) {
        let (logged, escaped_core) = escape(&s, how);
        let text = format!("{before} {logged} {after}");
        let scrubber = Scrubber::for_stream(Stream::Debug);
        let out = scrubber.scrub_text(&text);
        prop_assert!(!out.contains(&s.core), "{:?} survived in {:?}", s.core, out);
        prop_assert!(!out.contains(&escaped_core), "{:?} survived in {:?}", escaped_core, out);
        let line = serde_json::json!({ "msg": text }).to_string();
        let json = scrubber.scrub_json_line(&line).expect("JSON line");
        let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        let msg = value["msg"].as_str().unwrap_or_default();
        prop_assert!(!msg.contains(&s.core) && !msg.contains(&escaped_core), "{:?} in {:?}", s.core, msg);
    }

    #[test]
    fn uuids_and_digests_are_never_altered(
        uuid in "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        sha1 in "[0-9a-f]{40}",
        sha256 in "[0-9a-f]{64}",
        word in "[a-z]{3,10}",
    ) {
        let set = DetectorSet::for_stream(Stream::Debug);
        for text in [
            format!("{word} {uuid} done"),
            format!("request_id={uuid}"),
            format!("idempotency_key={uuid}"),
            format!("commit {sha1}"),
            format!("cache_key={sha1}"),
            format!("digest sha256:{sha256}"),
            format!("{{\"etag\":\"{sha256}\"}}"),
        ] {
            let out = set.scrub(&text, None);
            prop_assert_eq!(&out, &text);
        }
    }

    #[test]
    fn luhn_valid_ids_in_id_fields_are_never_altered(
        seed in any::<u64>(),
        prefix in prop_oneof![Just("4"), Just("51"), Just("37"), Just("6011"), Just("35")],
        len in 16usize..=19,
        name in prop_oneof![Just("trace_id"), Just("order_id"), Just("span_id"), Just("txn_ref"), Just("traceId")],
    ) {
        let mut rng = cases::Rng::new(seed);
        let id = cases::luhn(&mut rng, prefix, len);
        let set = DetectorSet::for_stream(Stream::Debug);
        prop_assert_eq!(set.scrub_field(name, &id, None), id.as_str());
        for text in [
            format!("{name}={id}"),
            format!("{name}: {id}"),
            format!("{{\"{name}\":\"{id}\"}}"),
            format!("{{\"{name}\":{id}}}"),
        ] {
            prop_assert_eq!(&set.scrub(&text, None), &text);
        }
        let line = format!("{{\"{name}\":\"{id}\"}}");
        let scrubbed = Scrubber::for_stream(Stream::Debug).scrub_json_line(&line).expect("JSON");
        prop_assert_eq!(scrubbed, line);
    }

    #[test]
    fn versions_are_never_altered(
        parts in proptest::collection::vec(0u8..=255, 4),
        word in prop_oneof![Just("version "), Just("version: "), Just("app_version="), Just("firmware "), Just("upgraded from ")],
    ) {
        let v = format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[3]);
        let set = DetectorSet::for_stream(Stream::Debug);
        for text in [format!("{word}{v}"), format!("v{v}"), format!("{v}-beta"), format!("{v}.1")] {
            prop_assert_eq!(&set.scrub(&text, None), &text);
        }
    }
}
