//! The issue-23 corpus: every class of secret and personal data the third detection round
//! added, and look-alikes of each, generated from a fixed seed and run through the real layer
//! (field, message, `Debug` value, error source) and through `scrub` (text and JSON). The build
//! part is what the detectors were built against; the hold-out part (another seed, the shape
//! variants of `tests/detect_round3/HOLDOUT.md`) was run only once they were done.

#[path = "detect_corpus/cases.rs"]
mod cases;
#[path = "detect_round3/gen.rs"]
mod gen;
#[path = "detect_corpus/paths.rs"]
mod paths;

use gen::{corpus, Part};

fn run(part: Part) {
    let cases = corpus(part);
    let secrets = cases.iter().filter(|c| c.is_secret()).count();
    assert!(secrets >= 150, "{secrets} secrets");
    assert!(
        cases.len() - secrets >= 60,
        "{} look-alikes",
        cases.len() - secrets
    );
    println!("== {part:?} ==");
    let (_, failures) = paths::score(&cases);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn build_part_every_secret_vanishes_and_every_look_alike_survives() {
    run(Part::Build);
}

#[test]
fn hold_out_part_every_secret_vanishes_and_every_look_alike_survives() {
    run(Part::HoldOut);
}
