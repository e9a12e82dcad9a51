//! Verification against witnesses: the trail must extend the newest checkpoint that enough
//! independent witnesses cosigned.
//!
//! A witness cosigns a checkpoint (origin, size, root) only after checking that it extends
//! every checkpoint it cosigned before for that origin. So once `k` trusted witnesses cosigned
//! size N with root R, an honest trail of that origin has at least N records and its first N
//! records hash to R, forever: however the writer stopped, restarted or rotated, the tree only
//! grows. A trail that fails that was cut (fewer than N records), rolled back and regrown, or
//! forked (another root at N), or is another log's trail put in its place (another origin).
//!
//! Trust rules (documented in docs/verification.md):
//! - only cosignatures of the witness keys the operator gives count, each key at most once per
//!   checkpoint, and only a line that verifies (a trusted key's line that does not verify is
//!   ignored, never counted);
//! - the checkpoint used is the largest one with at least `k` such cosignatures, among those
//!   of the expected origin (the operator's `--origin`, else the trail's own);
//! - two different checkpoints of the same origin and size, each cosigned by `k`, are a split
//!   view: reported as a finding, never resolved by picking one;
//! - where the cosigned checkpoints come from does not matter to these rules (a witness's
//!   `GET`, the `.cosigned` file beside the trail, a copy the operator kept): only signatures
//!   count. But a source an attacker can roll back (the file beside the trail) can only show
//!   an older checkpoint: use the witnesses or an off-host copy to catch a recent cut.

use std::collections::BTreeSet;

use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::cosignature::CosignerVerifier;
use crate::tlog::merkle::Hash;
use crate::tlog::note::Note;

/// The witnesses an operator trusts and how many must agree.
#[derive(Debug, Clone)]
pub struct WitnessTrust {
    keys: Vec<CosignerVerifier>,
    threshold: usize,
}

impl WitnessTrust {
    /// Trusts `keys`; a checkpoint counts when `threshold` of them cosigned it (at least 1, at
    /// most the number of keys).
    ///
    /// # Errors
    /// No keys, or a threshold of 0 or above the number of keys.
    pub fn new(keys: Vec<CosignerVerifier>, threshold: usize) -> Result<Self, String> {
        if keys.is_empty() || threshold == 0 || threshold > keys.len() {
            return Err(format!(
                "witness threshold {threshold} of {} keys: give 1 to {} ",
                keys.len(),
                keys.len().max(1)
            ));
        }
        Ok(WitnessTrust { keys, threshold })
    }

    /// How many must agree.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The names of the trusted witnesses whose cosignature on `note` verifies.
    pub fn cosigners(&self, note: &Note) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for key in &self.keys {
            let signed = note.signatures().iter().any(|s| {
                s.key_name == key.name()
                    && s.key_id == key.key_id()
                    && key.verify(note.body().as_bytes(), &s.signature).is_ok()
            });
            if signed {
                names.insert(key.name().to_owned());
            }
        }
        names
    }
}

/// A checkpoint with the trusted witnesses that cosigned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    /// The cosigned checkpoint.
    pub checkpoint: Checkpoint,
    /// The trusted witnesses whose cosignature verified.
    pub witnesses: BTreeSet<String>,
}

/// What the witnessed checkpoints say about a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessVerdict {
    /// The trail extends the newest witnessed checkpoint.
    Extends(Witnessed),
    /// The trail does not extend it; the reason in words.
    Fails(Witnessed, String),
    /// Two checkpoints of one size, each cosigned by enough witnesses: a split view.
    SplitView(Witnessed, Witnessed),
    /// No checkpoint of the expected origin has enough cosignatures (the detail names the
    /// origins that do, which for a swapped trail is the other log's).
    NoneWitnessed(String),
}

/// The newest checkpoint of `origin` cosigned by enough trusted witnesses, merging the
/// cosignatures of notes with the same body (each source may hold some of them).
///
/// # Errors
/// A split view: two different checkpoints of the newest size each have enough cosignatures.
pub fn newest_witnessed(
    notes: &[Note],
    origin: &str,
    trust: &WitnessTrust,
) -> Result<Option<Witnessed>, (Witnessed, Witnessed)> {
    let mut merged: Vec<Witnessed> = Vec::new();
    for note in notes {
        let Ok(checkpoint) = Checkpoint::parse_body(note.body()) else {
            continue;
        };
        if checkpoint.origin != origin {
            continue;
        }
        let names = trust.cosigners(note);
        match merged.iter_mut().find(|w| w.checkpoint == checkpoint) {
            Some(w) => w.witnesses.extend(names),
            None => merged.push(Witnessed {
                checkpoint,
                witnesses: names,
            }),
        }
    }
    merged.retain(|w| w.witnesses.len() >= trust.threshold);
    merged.sort_by_key(|w| std::cmp::Reverse(w.checkpoint.size));
    let mut newest = merged.into_iter();
    let Some(first) = newest.next() else {
        return Ok(None);
    };
    if let Some(second) = newest.next() {
        if second.checkpoint.size == first.checkpoint.size {
            return Err((first, second));
        }
    }
    Ok(Some(first))
}

/// The origins for which `notes` hold a checkpoint with enough cosignatures (to name them
/// when the expected origin has none: a swapped trail shows the other log's name here).
pub fn witnessed_origins(notes: &[Note], trust: &WitnessTrust) -> BTreeSet<String> {
    let origins: BTreeSet<String> = notes
        .iter()
        .filter_map(|n| Checkpoint::parse_body(n.body()).ok())
        .map(|c| c.origin)
        .collect();
    origins
        .into_iter()
        .filter(|o| !matches!(newest_witnessed(notes, o, trust), Ok(None)))
        .collect()
}

/// The trail's own tree as the verifier recomputed it from its lines.
pub trait TrailTree {
    /// The origin the trail's checkpoints name (`None` if it has none).
    fn origin(&self) -> Option<&str>;
    /// The number of leaves.
    fn size(&self) -> u64;
    /// The root of the first `size` leaves, if the tree reaches that size.
    fn root_at(&self, size: u64) -> Option<Hash>;
}

/// Decides whether `trail` extends the newest checkpoint of `origin` in `notes` that `trust`'s
/// threshold of witnesses cosigned.
pub fn judge(
    notes: &[Note],
    origin: &str,
    trust: &WitnessTrust,
    trail: &impl TrailTree,
) -> WitnessVerdict {
    let newest = match newest_witnessed(notes, origin, trust) {
        Ok(Some(w)) => w,
        Ok(None) => {
            let others = witnessed_origins(notes, trust);
            let detail = if others.is_empty() {
                format!(
                    "no checkpoint of {origin} is cosigned by {} of the trusted witnesses",
                    trust.threshold
                )
            } else {
                let list: Vec<_> = others.into_iter().collect();
                format!(
                    "no checkpoint of {origin} is cosigned by {} of the trusted witnesses; they cosigned {}",
                    trust.threshold,
                    list.join(", ")
                )
            };
            return WitnessVerdict::NoneWitnessed(detail);
        }
        Err((a, b)) => return WitnessVerdict::SplitView(a, b),
    };
    let cp = &newest.checkpoint;
    if let Some(trail_origin) = trail.origin() {
        if trail_origin != cp.origin {
            let why = format!(
                "the trail is log {trail_origin}, the witnesses cosigned log {}: another log's trail is in its place",
                cp.origin
            );
            return WitnessVerdict::Fails(newest, why);
        }
    }
    if trail.size() < cp.size {
        let why = format!(
            "the witnesses cosigned {} records of {}, the trail has {}: its tail was cut (or the trail rolled back)",
            cp.size,
            cp.origin,
            trail.size()
        );
        return WitnessVerdict::Fails(newest, why);
    }
    match trail.root_at(cp.size) {
        Some(root) if root == cp.root => WitnessVerdict::Extends(newest),
        _ => {
            let why = format!(
                "the trail's first {} records are not the ones the witnesses cosigned (another root): it was rolled back and rewritten, forked, or swapped",
                cp.size
            );
            WitnessVerdict::Fails(newest, why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::cosignature::Cosigner;
    use crate::tlog::merkle::{tree_root, MemoryHashes};
    use crate::tlog::note::Signer;

    struct Tree(Option<String>, MemoryHashes);

    impl TrailTree for Tree {
        fn origin(&self) -> Option<&str> {
            self.0.as_deref()
        }
        fn size(&self) -> u64 {
            self.1.size()
        }
        fn root_at(&self, size: u64) -> Option<Hash> {
            tree_root(size, &self.1).ok()
        }
    }

    fn tree(origin: &str, tags: &[(&str, usize)]) -> Tree {
        let mut t = MemoryHashes::new();
        for (tag, n) in tags {
            for i in 0..*n {
                t.push_entry(format!("{tag}{i}").as_bytes());
            }
        }
        Tree(Some(origin.into()), t)
    }

    fn cosigned(log: &Signer, t: &Tree, witnesses: &[&Cosigner]) -> Note {
        let cp = Checkpoint {
            origin: log.name().into(),
            size: t.size(),
            root: t.1.root(),
            extensions: vec![],
        };
        let mut note = Note::new(&cp.body()).unwrap();
        note.add_signature(log.sign(note.body()));
        for w in witnesses {
            note.add_signature(
                w.cosign(note.body().as_bytes(), 1)
                    .unwrap()
                    .note_signature(),
            );
        }
        note
    }

    #[test]
    fn k_of_n_picks_the_newest_agreed_checkpoint_and_judges_the_trail() {
        let log = Signer::generate("a.example/audit").unwrap();
        let (w1, w2, w3) = (
            Cosigner::generate("w/1").unwrap(),
            Cosigner::generate("w/2").unwrap(),
            Cosigner::generate("w/3").unwrap(),
        );
        let trust =
            WitnessTrust::new(vec![w1.verifier().clone(), w2.verifier().clone()], 2).unwrap();
        let t5 = tree("a.example/audit", &[("r", 5)]);
        let t9 = tree("a.example/audit", &[("r", 9)]);
        // Size 9 only by w1 (and an untrusted w3): size 5, by both, is the one that counts.
        let notes = vec![
            cosigned(&log, &t5, &[&w1, &w2]),
            cosigned(&log, &t9, &[&w1, &w3]),
        ];
        let verdict = judge(&notes, "a.example/audit", &trust, &t9);
        assert!(
            matches!(&verdict, WitnessVerdict::Extends(w) if w.checkpoint.size == 5),
            "{verdict:?}"
        );
        // The same checkpoint's cosignatures from two sources merge.
        let notes = vec![cosigned(&log, &t9, &[&w1]), cosigned(&log, &t9, &[&w2])];
        let verdict = judge(&notes, "a.example/audit", &trust, &t9);
        assert!(matches!(&verdict, WitnessVerdict::Extends(w) if w.checkpoint.size == 9));
        // A cut, a fork, another origin.
        assert!(
            matches!(judge(&notes, "a.example/audit", &trust, &t5), WitnessVerdict::Fails(_, why) if why.contains("cut"))
        );
        let fork = tree("a.example/audit", &[("r", 4), ("x", 6)]);
        assert!(
            matches!(judge(&notes, "a.example/audit", &trust, &fork), WitnessVerdict::Fails(_, why) if why.contains("rolled back and rewritten"))
        );
        let other = tree("b.example/audit", &[("r", 9)]);
        assert!(
            matches!(judge(&notes, "a.example/audit", &trust, &other), WitnessVerdict::Fails(_, why) if why.contains("another log"))
        );
        assert!(
            matches!(judge(&notes, "b.example/audit", &trust, &other), WitnessVerdict::NoneWitnessed(why) if why.contains("a.example/audit"))
        );
    }

    #[test]
    fn a_forged_cosignature_does_not_count_and_a_split_view_is_reported() {
        let log = Signer::generate("a.example/audit").unwrap();
        let (w1, w2) = (
            Cosigner::generate("w/1").unwrap(),
            Cosigner::generate("w/2").unwrap(),
        );
        let trust =
            WitnessTrust::new(vec![w1.verifier().clone(), w2.verifier().clone()], 2).unwrap();
        let t = tree("a.example/audit", &[("r", 4)]);
        let mut note = cosigned(&log, &t, &[&w1]);
        let mut forged = w2
            .cosign(note.body().as_bytes(), 1)
            .unwrap()
            .note_signature();
        forged.signature[20] ^= 1;
        note.add_signature(forged);
        assert!(matches!(
            judge(&[note], "a.example/audit", &trust, &t),
            WitnessVerdict::NoneWitnessed(_)
        ));
        let fork = tree("a.example/audit", &[("y", 4)]);
        let notes = vec![
            cosigned(&log, &t, &[&w1, &w2]),
            cosigned(&log, &fork, &[&w1, &w2]),
        ];
        assert!(matches!(
            judge(&notes, "a.example/audit", &trust, &t),
            WitnessVerdict::SplitView(..)
        ));
        assert!(WitnessTrust::new(vec![w1.verifier().clone()], 2).is_err());
    }
}
