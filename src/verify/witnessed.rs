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
use crate::verify::{Problem, ProblemKind};
use std::ops::ControlFlow;
use std::path::Path;

use crate::tlog::merkle::{empty_root, leaf_hash, Frontier, Hash};
use crate::tlog::note::Note;
use crate::tlog::tiles::{tile_dir, TileReader};
use crate::trail::read::LineReader;
use crate::trail::trailer::parse_seq;

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
#[allow(clippy::result_large_err)] // Read once per verification; the pair is the finding.
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
    match newest_witnessed(notes, origin, trust) {
        Ok(Some(w)) => extends(w, trail),
        Ok(None) => WitnessVerdict::NoneWitnessed(none_witnessed(notes, origin, trust)),
        Err((a, b)) => WitnessVerdict::SplitView(a, b),
    }
}

fn none_witnessed(notes: &[Note], origin: &str, trust: &WitnessTrust) -> String {
    let others: Vec<_> = witnessed_origins(notes, trust).into_iter().collect();
    let mut detail = format!(
        "no checkpoint of {origin} is cosigned by {} of the trusted witnesses",
        trust.threshold
    );
    if !others.is_empty() {
        detail.push_str(&format!("; they cosigned {}", others.join(", ")));
    }
    detail
}

/// Whether `trail` extends the witnessed checkpoint `newest`.
pub fn extends(newest: Witnessed, trail: &impl TrailTree) -> WitnessVerdict {
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

/// What `verify --witness-key` checks: the trusted witnesses, where their cosigned checkpoints
/// come from, and which log the trail must be.
#[derive(Debug, Clone)]
pub struct WitnessCheck {
    trust: WitnessTrust,
    origin: Option<String>,
    notes: Vec<Note>,
    urls: Vec<String>,
    stored: bool,
}

impl WitnessCheck {
    /// Checks against `trust`; the cosigned checkpoints come from the sources added below (none
    /// added: the `<prefix>.cosigned` file beside the trail).
    pub fn new(trust: WitnessTrust) -> Self {
        WitnessCheck {
            trust,
            origin: None,
            notes: Vec::new(),
            urls: Vec::new(),
            stored: false,
        }
    }

    /// The log the trail must be (default: the origin its `<prefix>.tlog-checkpoint` names).
    /// Naming it is what catches another log's trail swapped into this directory.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Cosigned checkpoints the operator holds (a file of signed notes kept off the host).
    pub fn notes(mut self, notes: impl IntoIterator<Item = Note>) -> Self {
        self.notes.extend(notes);
        self
    }

    /// A witness to ask for its latest cosigned checkpoint of the origin (`GET
    /// <url>/<origin hash>/checkpoint`).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.urls.push(url.into());
        self
    }

    /// Also read `<prefix>.cosigned` beside the trail (what the writer stored). An attacker on
    /// the host can roll that file back to an older state, so it only catches a cut below the
    /// checkpoints it still holds; witnesses or an off-host copy catch the rest.
    pub fn stored(mut self, yes: bool) -> Self {
        self.stored = yes;
        self
    }

    /// Runs the check on the trail `prefix` in `dir`: `None` when it extends the newest
    /// witnessed checkpoint.
    pub(crate) fn run(&self, dir: &Path, prefix: &str) -> Option<Problem> {
        let problem = |detail: String| Problem {
            kind: ProblemKind::WitnessMismatch,
            file: None,
            line: None,
            seq: None,
            detail,
        };
        let trail_origin = trail_origin(dir, prefix);
        let mut notes = self.notes.clone();
        let mut unreachable = Vec::new();
        if self.stored || (self.notes.is_empty() && self.urls.is_empty()) {
            let path = dir.join(crate::trail::naming::cosigned(prefix));
            notes.extend(crate::tlog::submit::read_notes(&path).unwrap_or_default());
        }
        let Some(origin) = self.origin.clone().or_else(|| trail_origin.clone()) else {
            return Some(problem(
                "the trail names no log origin (no .tlog-checkpoint): give --origin".into(),
            ));
        };
        for url in &self.urls {
            match crate::tlog::submit::fetch_latest(url, &origin) {
                Ok(note) => notes.push(note),
                Err(e) => unreachable.push(e),
            }
        }
        let newest = match newest_witnessed(&notes, &origin, &self.trust) {
            Ok(Some(w)) => w,
            Ok(None) => {
                let mut detail = none_witnessed(&notes, &origin, &self.trust);
                for e in unreachable {
                    detail.push_str(&format!("; {e}"));
                }
                return Some(problem(detail));
            }
            Err((a, b)) => {
                return Some(problem(format!(
                "split view: the witnesses cosigned two trees of size {} of {origin} ({} and {})",
                a.checkpoint.size,
                names(&a.witnesses),
                names(&b.witnesses)
            )))
            }
        };
        let size = newest.checkpoint.size;
        let tree = match LineTree::scan(dir, prefix, size, trail_origin) {
            Ok(t) => t,
            Err(e) => return Some(problem(format!("cannot read the trail: {e}"))),
        };
        if let Some(gap) = &tree.gap {
            return Some(problem(format!(
                "cannot check the checkpoint of size {size} the witnesses cosigned: {gap}"
            )));
        }
        match extends(newest, &tree) {
            WitnessVerdict::Extends(_) => None,
            WitnessVerdict::Fails(w, why) => Some(Problem {
                seq: Some(w.checkpoint.size),
                ..problem(format!("{why} (cosigned by {})", names(&w.witnesses)))
            }),
            other => Some(problem(format!("{other:?}"))),
        }
    }
}

fn names(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// The origin the trail's newest published checkpoint names, if any.
fn trail_origin(dir: &Path, prefix: &str) -> Option<String> {
    let path = dir.join(crate::trail::naming::tlog_checkpoint(prefix));
    let text = crate::trail::open::read_capped_to_string(&path, crate::trail::open::SMALL_FILE_MAX)
        .ok()?;
    let note = Note::parse(&text).ok()?;
    Checkpoint::parse_body(note.body()).ok().map(|c| c.origin)
}

/// The most placeholder leaves one gap in the seq numbers gets (as the writer: a forged huge
/// seq does not make the verifier hash for hours).
const MAX_PAD: u64 = 1 << 20;

/// The trail's tree recomputed from its lines, the way the writer builds it (`chain::tree`):
/// leaf `i` is the line of seq `i` without its newline, control records included; a seq the
/// trail skips gets the empty entry's leaf; a seq at or below one already seen is ignored.
///
/// A pruned trail starts from the frontier the tile files hold at its first seq. Tiles are
/// derived data an attacker can rewrite, but that cannot make a changed trail pass: the root at
/// the cosigned size commits to every retained line through the hash tree, so only the pruned
/// (gone) records' hashes come from the tiles.
#[derive(Debug, Clone)]
pub struct LineTree {
    origin: Option<String>,
    frontier: Frontier,
    captured: Option<(u64, Hash)>,
    /// Why the tree could not be built from the start (pruned and no usable tiles).
    pub gap: Option<String>,
}

impl LineTree {
    /// Hashes every line of the trail `prefix` in `dir`, keeping the root at size `capture`.
    /// `origin` is the log the trail claims to be (for the message when it differs).
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn scan(
        dir: &Path,
        prefix: &str,
        capture: u64,
        origin: Option<String>,
    ) -> std::io::Result<LineTree> {
        let listing = crate::trail::files::list(dir, Some(prefix))?;
        let mut tree = LineTree {
            origin,
            frontier: Frontier::new(),
            captured: (capture == 0).then(|| (0, empty_root())),
            gap: None,
        };
        let reader = LineReader::new();
        let mut started = false;
        for file in &listing.files {
            reader.read_lines(file, |line| {
                let Some(seq) = parse_seq(line) else {
                    return ControlFlow::Continue(());
                };
                if !started {
                    started = true;
                    tree.start_at(dir, prefix, seq);
                }
                tree.push(seq, line, capture);
                ControlFlow::Continue(())
            });
        }
        Ok(tree)
    }

    /// A trail whose first line is seq `first > 0` was pruned: start from the tiles' frontier.
    fn start_at(&mut self, dir: &Path, prefix: &str, first: u64) {
        if first == 0 {
            return;
        }
        match TileReader::open(&tile_dir(dir, prefix)).frontier(first) {
            Ok(f) => self.frontier = f,
            Err(e) => {
                self.gap = Some(format!(
                    "the trail begins at seq {first} and the tiles do not hold the tree before it ({e})"
                ));
            }
        }
    }

    fn push(&mut self, seq: u64, line: &[u8], capture: u64) {
        let size = self.frontier.size();
        if seq < size || seq - size > MAX_PAD || self.gap.is_some() {
            return;
        }
        for _ in size..seq {
            self.push_leaf(leaf_hash(b""), capture);
        }
        self.push_leaf(leaf_hash(line), capture);
    }

    fn push_leaf(&mut self, leaf: Hash, capture: u64) {
        self.frontier.push(leaf);
        if self.frontier.size() == capture {
            self.captured = Some((capture, self.frontier.root()));
        }
    }
}

impl TrailTree for LineTree {
    fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }
    fn size(&self) -> u64 {
        self.frontier.size()
    }
    fn root_at(&self, size: u64) -> Option<Hash> {
        self.captured.filter(|c| c.0 == size).map(|c| c.1)
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
