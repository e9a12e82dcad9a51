//! The detection corpus: several hundred generated secrets of every detector family, each in the
//! forms services log it, and look-alikes of every family, run through the real layer (as an
//! event field, in the message, as a `Debug` value and as an error's source) and through the
//! scrub library (text mode and JSON mode). Recall and the false-positive rate are printed per
//! family and path; every case is asserted: each secret vanishes everywhere, each look-alike
//! comes out unchanged everywhere.

#[path = "detect_corpus/cases.rs"]
mod cases;

#[path = "detect_corpus/paths.rs"]
mod paths;

use cases::corpus;

#[test]
fn every_secret_vanishes_and_every_look_alike_survives_on_every_path() {
    let cases = corpus();
    let secrets = cases.iter().filter(|c| c.is_secret()).count();
    assert!(secrets >= 300, "{secrets} secrets");
    assert!(
        cases.len() - secrets >= 200,
        "{} look-alikes",
        cases.len() - secrets
    );
    let (_, failures) = paths::score(&cases);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
