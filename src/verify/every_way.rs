//! Runs a verification the reference way and the streaming way (one and several threads) and
//! asserts that the reports say the same: the proof that the streaming check follows the
//! reference on every case of the mutation corpora that go through it.

use super::{Keys, Report, Verifier, VerifyError};
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
    for threads in [1, 3] {
        let fast = fixed().threads(threads).verify();
        match (&reference, &fast) {
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
