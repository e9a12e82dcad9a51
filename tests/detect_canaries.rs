//! Random canary secrets of every kind, embedded at random positions in random text, never
//! survive `scrub`, whatever the action; and scrubbing a scrubbed text again changes nothing.

mod support;

use proptest::prelude::*;
use support::canaries::message;
use tracing_audit::redact::detect::{Detector, DetectorSet};
use tracing_audit::redact::{Action, Pseudonymizer};
use tracing_audit::Stream;

fn every_detector(action: Action) -> DetectorSet {
    Detector::ALL
        .iter()
        .fold(DetectorSet::none(), |set, &d| set.set(d, action))
}

fn sets() -> Vec<(String, DetectorSet)> {
    let mut sets = vec![
        (
            "audit defaults".to_owned(),
            DetectorSet::for_stream(Stream::Audit),
        ),
        (
            "debug defaults".to_owned(),
            DetectorSet::for_stream(Stream::Debug),
        ),
    ];
    for action in [Action::Mask, Action::Drop, Action::Partial, Action::Hash] {
        sets.push((format!("{action:?}"), every_detector(action)));
    }
    sets
}

proptest! {
    // 512 cases by default; `PROPTEST_CASES=100000` for a deeper run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn canaries_never_survive_scrub((text, canaries) in message()) {
        let hasher = Pseudonymizer::new(b"canary key");
        for (name, set) in sets() {
            for hasher in [None, Some(&hasher)] {
                let out = set.scrub(&text, hasher);
                for canary in &canaries {
                    for secret in &canary.secrets {
                        prop_assert!(
                            !out.contains(secret.as_str()),
                            "{name}: {secret:?} survived in {out:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scrubbing_twice_changes_nothing((text, _canaries) in message()) {
        let hasher = Pseudonymizer::new(b"canary key");
        for action in [Action::Mask, Action::Partial, Action::Hash] {
            let set = every_detector(action);
            let once = set.scrub(&text, Some(&hasher)).into_owned();
            let twice = set.scrub(&once, Some(&hasher));
            prop_assert_eq!(&twice, &once, "{:?}", action);
        }
    }

    #[test]
    fn scrub_never_panics_on_arbitrary_text(text in "\\PC{0,200}", bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let set = every_detector(Action::Partial);
        let _ = set.scrub(&text, None);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = DetectorSet::for_stream(Stream::Audit).scrub(&lossy, None);
    }
}
