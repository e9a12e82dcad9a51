//! Runs a verification the reference way and the streaming way (one and several threads) and
//! asserts that the reports say the same: the proof that the streaming check follows the
//! reference on every case of the mutation corpora that go through it. Where the streaming
//! check hands over to the reference check, the report *is* the reference's; the hand-over is
//! not repeated here (the exhaustive corpora would take minutes), only the decision is checked:
//! the streaming check never produces a report of its own that differs.

use super::{Keys, ReceivedVerifier, Report, Verifier, VerifyError};
use crate::trail::{files, LineReader};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

/// Everything a report says about the trail (not how it was produced: [`Report::stats`]).
pub(crate) fn findings(r: &Report) -> impl std::fmt::Debug + PartialEq + '_ {
    (
        (r.files(), r.records(), r.first_seq(), r.last_seq()),
        (r.begins_at(), r.keyed()),
        (r.problems(), r.warnings(), r.seals()),
    )
}

/// [`super::verify`], every way; returns the reference report.
pub(crate) fn verify(dir: &Path, keys: &Keys) -> Result<Report, VerifyError> {
    every_way(|| Verifier::new(dir).keys(keys.clone()))
}

/// Runs `make()`'s verifier every way and asserts the same outcome; returns the reference's.
pub(crate) fn every_way<'a>(make: impl Fn() -> Verifier<'a>) -> Result<Report, VerifyError> {
    #[cfg(feature = "signed-seals")]
    let now = std::time::SystemTime::now();
    let fixed = || {
        let v = make();
        // One clock for every run, so seal ages agree.
        #[cfg(feature = "signed-seals")]
        let v = match v.now {
            Some(_) => v,
            None => v.at(now),
        };
        v
    };
    let reference = fixed().streaming(false).verify();
    if let Ok(r) = &reference {
        received_agrees(&fixed(), r);
    }
    for threads in [1, 3] {
        let mut v = fixed().threads(threads);
        v.skip_fallback = true;
        let fast = v.verify();
        match (&reference, &fast) {
            // An intact trail is what the streaming check is for: it must not hand over.
            (Ok(a), Ok(b)) if !b.stats().streamed() => assert!(
                !a.intact(),
                "the streaming check with {threads} threads handed an intact trail over:\n{a}"
            ),
            (Ok(a), Ok(b)) => assert_eq!(
                findings(a),
                findings(b),
                "reference (left) and streaming with {threads} threads (right) disagree"
            ),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{a} / {b}"),
            (a, b) => panic!("reference {a:?}, streaming with {threads} threads {b:?}"),
        }
    }
    reference
}

/// [`every_way`] for corpora that only need the cross-check (the exhaustive bit flips): the
/// reference check runs only when the streaming check produced a report of its own; where it
/// hands over, the report would be the reference's by construction.
#[cfg(feature = "signed-seals")]
pub(crate) fn cross_check<'a>(make: impl Fn() -> Verifier<'a>) {
    let streamed = [1, 3].iter().any(|&threads| {
        let mut v = make().threads(threads);
        v.skip_fallback = true;
        v.verify().is_ok_and(|r| r.stats().streamed())
    });
    if streamed {
        let _ = every_way(make);
    }
}

/// The received walk, over a copy that holds the trail's records in order (what a central
/// receiver that got every record wrote), checked against the side file: where the reference
/// finds the trail intact, the copy is intact too. (A damaged trail makes a damaged copy only
/// where the damage is in the records, not in the files around them, so the converse is
/// checked by the corpora of `tests/received_cut.rs` instead.)
fn received_agrees(v: &Verifier<'_>, reference: &Report) {
    if !reference.intact() {
        return;
    }
    let Ok(listing) = files::list(&v.dir, v.prefix.as_deref()) else {
        return;
    };
    let mut copy = tempfile::NamedTempFile::new().expect("temp file");
    for f in &listing.files {
        LineReader::new().read_lines(f, |line| {
            copy.write_all(line).expect("write the copy");
            copy.write_all(b"\n").expect("write the copy");
            ControlFlow::Continue(())
        });
    }
    copy.flush().expect("write the copy");
    let mut received = ReceivedVerifier::new(copy.path()).keys(v.keys.clone());
    if let Some(prefix) = listing.files.first().map(|f| f.prefix.clone()) {
        let side = v.dir.join(format!("{prefix}.checkpoint"));
        if side.exists() {
            received = received.checkpoint(side);
        }
    }
    let r = received.verify().expect("the copy is readable");
    assert!(
        r.intact(),
        "the reference finds the trail intact, the received walk over its records does not:\n{reference}\n{:?}",
        r.problems()
    );
}
