//! The chain walk: which records are authentic, and what is wrong with the rest.

use super::report::{FileSummary, Problem, ProblemKind, Report, Warning};
use super::trust::{Root, Trust};
use super::Keys;
use crate::chain::{self, Alg, ChainKey, GENESIS_PREV};
use crate::trail::TrailFile;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The parts of a control record the verifier checks.
#[derive(Debug, Clone)]
pub(super) enum Control {
    Genesis,
    Seal {
        file: String,
        first_seq: Option<u64>,
        count: Option<u64>,
        last_seq: Option<u64>,
        last_mac: Option<String>,
        next: String,
    },
    Checkpoint {
        ts: Option<String>,
    },
    Repair {
        repair: String,
        file: Option<String>,
        set_aside: Option<String>,
        bytes: Option<u64>,
        prev_line_sha256: Option<String>,
        /// `unadopted`: the range of `seq` the writer disowned after a restart.
        unadopted: Option<(u64, u64)>,
    },
    Prune {
        through_seq: Option<u64>,
        through_mac: Option<String>,
    },
    /// A `genesis` or `seal` record naming a trail format newer than [`crate::trail::FORMAT`]:
    /// this reader does not know what the rest of the trail means.
    NewerFormat(u64),
    Other,
}

#[derive(Debug)]
struct Entry {
    file: usize,
    line: u64,
    /// `None` for a line without a chain trailer.
    seq: Option<u64>,
    /// False for a line whose trailer could not be parsed.
    good: bool,
    mac: [u8; 32],
    prev_field: Option<Box<[u8; 32]>>,
    control: Option<Box<Control>>,
    /// Chains to the last good line before it (or, for a genesis record, to the zero MAC).
    pos_ok: bool,
    /// Its own `prev` key authenticates it (first record of a file).
    prev_field_ok: bool,
    /// Its MAC was checked against some predecessor (or could not be checked: no key).
    authentic: bool,
    /// It is chained with a chain key the verifier holds (its HMAC is what `authentic` checked).
    keyed: bool,
    /// The entry it chains to, found by sequence number when it is not where it should be.
    true_pred: Option<u32>,
    /// The good line before it in the trail.
    pos_pred: Option<u32>,
    /// SHA-256 of the unchained line right before it, if any.
    after_bad: Option<Box<[u8; 32]>>,
}

/// The fields of an entry the walk reads, copied so the walk can report while reading.
#[derive(Clone, Copy)]
struct View {
    file: usize,
    line: u64,
    seq: Option<u64>,
    good: bool,
    mac: [u8; 32],
    prev_field: Option<[u8; 32]>,
    genesis: bool,
    pos_ok: bool,
    prev_field_ok: bool,
    authentic: bool,
    true_pred: Option<usize>,
    pos_pred: Option<usize>,
}

impl View {
    fn of(e: &Entry) -> Self {
        View {
            file: e.file,
            line: e.line,
            seq: e.seq,
            good: e.good,
            mac: e.mac,
            prev_field: e.prev_field.as_deref().copied(),
            genesis: e.is_genesis(),
            pos_ok: e.pos_ok,
            prev_field_ok: e.prev_field_ok,
            authentic: e.authentic,
            true_pred: e.true_pred.map(|j| j as usize),
            pos_pred: e.pos_pred.map(|j| j as usize),
        }
    }
}

impl Entry {
    fn is(&self, f: impl Fn(&Control) -> bool) -> bool {
        self.control.as_deref().is_some_and(f)
    }
    fn is_genesis(&self) -> bool {
        self.is(|c| matches!(c, Control::Genesis))
    }
}

/// Accumulates one trail's lines, then walks them.
pub(crate) struct Checker<'k> {
    keys: &'k Keys,
    files: Vec<TrailFile>,
    summaries: Vec<FileSummary>,
    entries: Vec<Entry>,
    /// Signed bytes of lines that did not chain to their neighbour, for the search by seq.
    stash: HashMap<usize, (Vec<u8>, Option<ChainKey>)>,
    last_good: Option<usize>,
    last_bad_sha: Option<[u8; 32]>,
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
    keyed: bool,
    unkeyed_with_key: u64,
    unknown_kids: Vec<(String, u64)>,
    begins_at: Option<u64>,
    /// Where the present trail begins when its head is gone: the entry and the `prev` it names
    /// (`None` for a chain start), judged against retention's prune records at the end.
    head_loss: Option<(usize, Option<[u8; 32]>)>,
    /// Files whose predecessor is known to be missing (the gap is reported once, as a file).
    after_missing_file: Vec<bool>,
    /// Each file's entries (they are added file by file).
    file_entries: Vec<std::ops::Range<usize>>,
    /// The timestamp of the trail's last complete line.
    last_ts: Option<String>,
    /// Which control records count (set when the walk starts).
    trust: Trust,
}

impl<'k> Checker<'k> {
    pub(crate) fn new(keys: &'k Keys) -> Self {
        Checker {
            keys,
            files: Vec::new(),
            summaries: Vec::new(),
            entries: Vec::new(),
            stash: HashMap::new(),
            last_good: None,
            last_bad_sha: None,
            problems: Vec::new(),
            warnings: Vec::new(),
            keyed: false,
            unkeyed_with_key: 0,
            unknown_kids: Vec::new(),
            begins_at: None,
            head_loss: None,
            after_missing_file: Vec::new(),
            file_entries: Vec::new(),
            last_ts: None,
            trust: Trust::new(Root::None),
        }
    }

    fn problem(
        &mut self,
        kind: ProblemKind,
        at: Option<(usize, u64)>,
        seq: Option<u64>,
        detail: String,
    ) {
        self.problems.push(Problem {
            kind,
            file: at.map(|(f, _)| self.files[f].name.clone()),
            line: at.map(|(_, l)| l).filter(|&l| l > 0),
            seq,
            detail,
        });
    }

    fn warn(&mut self, at: Option<(usize, u64)>, message: String) {
        self.warnings.push(Warning {
            file: at.map(|(f, _)| self.files[f].name.clone()),
            line: at.map(|(_, l)| l).filter(|&l| l > 0),
            message,
        });
    }

    /// Adds one file's content. `newest` allows one torn last line.
    pub(crate) fn add_file(&mut self, file: TrailFile, content: &[u8], newest: bool) {
        let fi = self.files.len();
        self.files.push(file);
        let first_entry = self.entries.len();
        let mut body = content;
        let mut lines = 0u64;
        let (mut first_seq, mut last_seq) = (None, None);
        if !body.is_empty() && !body.ends_with(b"\n") {
            let cut = body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let torn = body.len() - cut;
            let at = Some((
                fi,
                body[..cut].iter().filter(|&&b| b == b'\n').count() as u64 + 1,
            ));
            if newest && !chain::plausibly_torn(&body[cut..]) {
                self.problem(
                    ProblemKind::Inserted,
                    at,
                    chain::parse_seq(&body[cut..]),
                    format!(
                        "the last line ({torn} bytes) lacks its newline but is not a record cut short by a crash (it is complete, or holds bytes the writer never writes): it was added"
                    ),
                );
            } else if newest {
                self.warn(
                    at,
                    format!("torn last line ({torn} bytes) ignored: the writer was interrupted"),
                );
            } else {
                self.problem(
                    ProblemKind::Modified,
                    at,
                    chain::parse_seq(&body[cut..]),
                    format!(
                        "file ends in a partial line ({torn} bytes) but is not the newest file"
                    ),
                );
            }
            body = &body[..cut];
        }
        let body = body.strip_suffix(b"\n").unwrap_or(body);
        for line in crate::trail::read::split_lines(body).filter(|_| !body.is_empty()) {
            lines += 1;
            let at = Some((fi, lines));
            match chain::parse_trailer(line) {
                None => {
                    let seq = chain::parse_seq(line);
                    let (kind, detail) = if line.windows(7).any(|w| w == b"\"mac\":\"") {
                        (
                            ProblemKind::Modified,
                            "line is damaged: its chain keys cannot be read",
                        )
                    } else {
                        (ProblemKind::Inserted, "line is not a chained record")
                    };
                    self.problem(kind, at, seq, detail.to_owned());
                    self.last_bad_sha = Some(Sha256::digest(line).into());
                    self.entries.push(Entry {
                        file: fi,
                        line: lines,
                        seq,
                        good: false,
                        mac: [0; 32],
                        prev_field: None,
                        control: None,
                        pos_ok: false,
                        prev_field_ok: false,
                        authentic: false,
                        keyed: false,
                        true_pred: None,
                        pos_pred: None,
                        after_bad: None,
                    });
                }
                Some(tr) => {
                    first_seq.get_or_insert(tr.seq);
                    last_seq = Some(tr.seq);
                    let signed = &line[..tr.signed_len];
                    let key = match tr.alg {
                        Alg::Sha256 => {
                            if !self.keys.is_empty() {
                                self.unkeyed_with_key += 1;
                                if self.unkeyed_with_key == 1 {
                                    self.problem(
                                        ProblemKind::Unverifiable,
                                        at,
                                        Some(tr.seq),
                                        "record is chained without a key although a key was given"
                                            .to_owned(),
                                    );
                                }
                            }
                            Ok(None)
                        }
                        Alg::HmacSha256 => {
                            self.keyed = true;
                            let kid = tr.kid.clone().unwrap_or_default();
                            match self.keys.lookup(&kid) {
                                Some(k) => Ok(Some(k.clone())),
                                None => Err(kid),
                            }
                        }
                    };
                    let control = chain::control_kind(line).map(|k| parse_control(k, line));
                    let genesis = matches!(control, Some(Control::Genesis));
                    let (pos_ok, prev_field_ok, checked) = match &key {
                        Ok(key) => {
                            let mac_key = key.as_ref().map(ChainKey::mac);
                            let check = |prev: &[u8; 32]| {
                                chain::compute(mac_key.as_ref(), prev, signed) == tr.mac
                            };
                            let pos_ok = if genesis {
                                check(&GENESIS_PREV)
                            } else {
                                self.last_good.is_some_and(|p| check(&self.entries[p].mac))
                            };
                            let prev_field_ok = tr.prev.as_ref().is_some_and(check);
                            (pos_ok, prev_field_ok, true)
                        }
                        Err(kid) => {
                            match self.unknown_kids.iter_mut().find(|(k, _)| k == kid) {
                                Some((_, n)) => *n += 1,
                                None => self.unknown_kids.push((kid.clone(), 1)),
                            }
                            (true, tr.prev.is_some(), false)
                        }
                    };
                    let idx = self.entries.len();
                    let keyed = matches!(key, Ok(Some(_)));
                    if !pos_ok && !prev_field_ok {
                        self.stash
                            .insert(idx, (signed.to_vec(), key.ok().flatten()));
                    }
                    self.entries.push(Entry {
                        file: fi,
                        line: lines,
                        seq: Some(tr.seq),
                        good: true,
                        mac: tr.mac,
                        prev_field: tr.prev.map(Box::new),
                        control: control.map(Box::new),
                        pos_ok,
                        prev_field_ok,
                        authentic: pos_ok || prev_field_ok || !checked,
                        keyed,
                        true_pred: None,
                        pos_pred: self.last_good.map(|p| p as u32),
                        after_bad: self.last_bad_sha.take().map(Box::new),
                    });
                    self.last_good = Some(idx);
                }
            }
        }
        if let Some(last) = crate::trail::read::split_lines(body).next_back() {
            if let Some(at) = memchr::memmem::find(last, b",\"ts\":\"") {
                let rest = &last[at + 7..];
                if let Some(end) = rest.iter().position(|&b| b == b'"') {
                    self.last_ts = Some(String::from_utf8_lossy(&rest[..end]).into_owned());
                }
            }
        }
        self.file_entries.push(first_entry..self.entries.len());
        self.summaries.push(FileSummary {
            name: self.files[fi].name.clone(),
            lines,
            first_seq,
            last_seq,
        });
    }

    /// Reports that the file added last could not be read to its end (a truncated or corrupt
    /// `.gz`): the lines before the damage were added; the chain walk shows what follows.
    pub(crate) fn damaged(&mut self, detail: String) {
        let fi = self.files.len().saturating_sub(1);
        let lines = self.summaries.last().map_or(0, |s| s.lines);
        self.problem(ProblemKind::Modified, Some((fi, lines + 1)), None, detail);
    }

    /// Bytes the walk holds for the records added so far (the model grows with the trail).
    pub(crate) fn held_bytes(&self) -> u64 {
        let entries = self.entries.capacity() * std::mem::size_of::<Entry>();
        let stash: usize = self.stash.values().map(|(b, _)| b.capacity() + 64).sum();
        (entries + stash) as u64
    }

    /// Walks the whole trail and produces the report; `root` is what control records must be
    /// authenticated by (see [`super::trust`]).
    pub(crate) fn finish(mut self, checkpoints: &[CheckpointFile], root: Root) -> Report {
        self.trust = Trust::new(root);
        for e in self.entries.iter().filter(|e| e.good) {
            if let Some(Control::Repair {
                unadopted: Some((from, to)),
                ..
            }) = e.control.as_deref()
            {
                self.trust.disowned(*from, *to);
            }
        }
        let by_seq = SeqIndex::new(&self.entries);
        // Lines that are not where they should be may still be authentic: look for the record
        // they chain to by sequence number.
        let mut stash: Vec<_> = std::mem::take(&mut self.stash).into_iter().collect();
        stash.sort_by_key(|(i, _)| *i);
        for (i, (signed, key)) in stash {
            let (Some(seq), mac) = (self.entries[i].seq, self.entries[i].mac) else {
                continue;
            };
            let mac_key = key.as_ref().map(ChainKey::mac);
            let found = seq.checked_sub(1).and_then(|p| {
                by_seq.get(p).find(|&c| {
                    chain::compute(mac_key.as_ref(), &self.entries[c].mac, &signed) == mac
                })
            });
            if let Some(c) = found {
                self.entries[i].authentic = true;
                self.entries[i].true_pred = Some(c as u32);
            }
        }
        self.walk(&by_seq);
        self.judge_head_loss();
        self.check_seals();
        self.check_checkpoints(checkpoints, &by_seq);
        if self.unkeyed_with_key > 1 {
            let n = self.unkeyed_with_key;
            if let Some(p) = self
                .problems
                .iter_mut()
                .find(|p| p.kind == ProblemKind::Unverifiable)
            {
                p.detail = format!("{} ({n} such records)", p.detail);
            }
        }
        for (kid, n) in std::mem::take(&mut self.unknown_kids) {
            self.problem(
                ProblemKind::Unverifiable,
                None,
                None,
                format!("no key given for key id {kid:?}: {n} records were not checked"),
            );
        }
        if !self.keyed && self.entries.iter().any(|e| e.good) {
            self.warn(None, UNKEYED_WARNING.to_owned());
        }
        let good = self.entries.iter().filter(|e| e.good);
        let seqs = || good.clone().filter_map(|e| e.seq);
        Report {
            records: good.clone().count() as u64,
            first_seq: seqs().min(),
            last_seq: seqs().max(),
            begins_at: self.begins_at,
            keyed: self.keyed,
            files: self.summaries,
            problems: self.problems,
            warnings: self.warnings,
            seals: None,
            stats: Default::default(),
        }
    }
}

/// The warning for records the writer disowned after a restart (see [`super::trust`]).
pub(super) fn unadopted_warning(from: u64, to: u64) -> String {
    format!("repair: records {from}..={to} follow the writer's last durable record and it could not tell it wrote them; control records among them are disregarded")
}

/// The finding for a record of a trail format this reader does not know.
pub(super) fn newer_format(format: u64) -> String {
    format!(
        "the trail is written in format {format}, newer than this reader's format {}: verify it with a newer tracing-audit",
        crate::trail::FORMAT
    )
}

/// The warning for a trail chained without a key.
pub(super) const UNKEYED_WARNING: &str = "the chain is unkeyed (sha256): it shows accidental damage and careless edits, but anyone who can write the files can recompute it";

/// Why a genesis record in the middle of a trail is legitimate.
#[derive(Clone, Copy)]
enum SegmentStart {
    /// A `new_chain` repair record follows it and names the unchained line before it.
    Repair,
    /// It opens a file that the previous file's seal names.
    AfterSeal,
}

/// Entries by sequence number: sorted (seq, entry) pairs, 16 bytes a record.
struct SeqIndex(Vec<(u64, u32)>);

impl SeqIndex {
    fn new(entries: &[Entry]) -> Self {
        let mut pairs: Vec<(u64, u32)> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match (e.good, e.seq) {
                (true, Some(s)) => Some((s, i as u32)),
                _ => None,
            })
            .collect();
        pairs.sort_unstable();
        SeqIndex(pairs)
    }

    /// The entries with sequence number `seq`, in trail order.
    fn get(&self, seq: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.0.partition_point(|p| p.0 < seq);
        self.0[start..]
            .iter()
            .take_while(move |p| p.0 == seq)
            .map(|p| p.1 as usize)
    }

    /// Whether any record in `from..=to` is present.
    fn any_in(&self, from: u64, to: u64) -> bool {
        let start = self.0.partition_point(|p| p.0 < from);
        self.0.get(start).is_some_and(|p| p.0 <= to)
    }

    fn min(&self) -> Option<u64> {
        self.0.first().map(|p| p.0)
    }

    fn max(&self) -> Option<u64> {
        self.0.last().map(|p| p.0)
    }
}

pub(super) fn parse_control(kind: &[u8], line: &[u8]) -> Control {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
        return Control::Other;
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let n = |k: &str| v.get(k).and_then(|x| x.as_u64());
    if let (b"genesis" | b"seal", Some(format)) = (kind, n("format")) {
        if format > crate::trail::FORMAT {
            return Control::NewerFormat(format);
        }
    }
    match kind {
        b"genesis" => Control::Genesis,
        b"checkpoint" => Control::Checkpoint { ts: s("ts") },
        b"prune" => Control::Prune {
            through_seq: n("through_seq"),
            through_mac: s("through_mac"),
        },
        b"seal" => Control::Seal {
            file: s("file").unwrap_or_default(),
            first_seq: n("first_seq"),
            count: n("count"),
            last_seq: n("last_seq"),
            last_mac: s("last_mac"),
            next: s("next").unwrap_or_default(),
        },
        b"repair" => Control::Repair {
            repair: s("repair").unwrap_or_default(),
            file: s("file"),
            set_aside: s("set_aside"),
            bytes: n("bytes"),
            prev_line_sha256: s("prev_line_sha256"),
            unadopted: super::trust::unadopted_range(&v),
        },
        _ => Control::Other,
    }
}

/// How long after writing a checkpoint the writer may take to publish it to the side file (it
/// replaces the file at most once a second), with a second of slack.
pub(super) const SIDE_FILE_LAG: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) fn parse_time(s: &str) -> Option<std::time::SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| std::time::SystemTime::from(t.with_timezone(&chrono::Utc)))
}

/// A checkpoint file to check the trail against: the side file in the trail's directory
/// (`side`; `content` is `None` when it is missing) or a copy kept elsewhere.
#[derive(Debug)]
pub(crate) struct CheckpointFile {
    pub(crate) name: String,
    pub(crate) content: Option<Vec<u8>>,
    pub(crate) side: bool,
}

impl CheckpointFile {
    /// Whether the file names no checkpoint at all: missing, or emptied (which hides a cut
    /// tail as well as deleting it would). Says which, for the report.
    pub(crate) fn vacant(&self) -> Option<&'static str> {
        match self.content.as_deref() {
            None => Some("is missing"),
            Some(c) if c.trim_ascii().is_empty() => Some("is empty"),
            Some(_) => None,
        }
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    crate::trail::hex::to_hex(bytes)
}

impl Checker<'_> {
    fn at(&self, i: usize) -> Option<(usize, u64)> {
        Some((self.entries[i].file, self.entries[i].line))
    }

    /// Whether any record in `from..=to` is present somewhere in the trail.
    fn gap(&mut self, i: usize, from: u64, to: u64, by_seq: &SeqIndex) {
        let seq = self.entries[i].seq;
        let at = self.at(i);
        let range = if from == to {
            format!("record {from} is")
        } else {
            format!("records {from}..={to} are")
        };
        if by_seq.any_in(from, to) {
            self.problem(
                ProblemKind::Reordered,
                at,
                seq,
                format!("{range} not in their place before this one"),
            );
        } else {
            self.problem(
                ProblemKind::Deleted,
                at,
                seq,
                format!("{range} missing before this one"),
            );
        }
    }

    fn walk(&mut self, by_seq: &SeqIndex) {
        self.after_missing_file = vec![false; self.files.len()];
        self.mark_missing_files();
        let mut last_seq: Option<u64> = None;
        let mut last_mac: Option<[u8; 32]> = None;
        let mut prev_damaged = false;
        // Lines judged not part of this trail: records chaining only to them are foreign too.
        let mut rejected = vec![false; self.entries.len()];
        for i in 0..self.entries.len() {
            let e = View::of(&self.entries[i]);
            let expected = last_seq.map(|s| s.saturating_add(1));
            let at = self.at(i);
            let file_start_after_missing = e.line == 1 && self.after_missing_file[e.file];
            if !e.good {
                if let (Some(s), Some(x)) = (e.seq, expected) {
                    if s == x {
                        last_seq = Some(s);
                    }
                }
                prev_damaged = true;
                continue;
            }
            let seq = e.seq.unwrap_or(0);
            if let Some(Control::NewerFormat(format)) = self.entries[i].control.as_deref() {
                let detail = newer_format(*format);
                self.problem(ProblemKind::Unverifiable, at, Some(seq), detail);
            }
            if e.genesis && e.authentic {
                if last_seq.is_some() || i > 0 {
                    if let Some(why) = self.segment_start_allowed(i) {
                        let msg = match why {
                            SegmentStart::Repair => format!(
                                "a new chain segment starts at seq {seq} (the repair record after it says why)"
                            ),
                            SegmentStart::AfterSeal => format!(
                                "a new chain segment starts at seq {seq}, at the start of a file the previous file's seal names"
                            ),
                        };
                        self.warn(at, msg);
                    } else {
                        self.problem(
                            ProblemKind::Spliced,
                            at,
                            Some(seq),
                            "a chain start (genesis) in the middle of the trail: records of another trail were mixed in".to_owned(),
                        );
                        rejected[i] = true;
                        prev_damaged = true;
                        continue;
                    }
                }
                if i == 0 && seq > 0 {
                    // A chain start at a later seq is still the end of a longer trail.
                    self.head_loss = Some((i, None));
                }
                last_seq = Some(seq);
                last_mac = Some(e.mac);
                prev_damaged = false;
                continue;
            }
            if !e.authentic {
                let next_chains = self.entries.get(i + 1).is_some_and(|n| n.good && n.pos_ok);
                let same_seq_authentic =
                    by_seq.get(seq).any(|j| j != i && self.entries[j].authentic);
                if same_seq_authentic {
                    self.problem(
                        ProblemKind::Inserted,
                        at,
                        Some(seq),
                        "line is not part of this trail (an authentic record with this seq exists)"
                            .to_owned(),
                    );
                    rejected[i] = true;
                    prev_damaged = true;
                    continue;
                } else if prev_damaged && expected == Some(seq) {
                    // Its predecessor was damaged, so it cannot be checked; that is reported.
                    if !next_chains {
                        self.problem(
                            ProblemKind::Modified,
                            at,
                            Some(seq),
                            "record does not match its MAC".to_owned(),
                        );
                    }
                } else if expected.is_none_or(|x| x == seq) {
                    if file_start_after_missing {
                        // Reported as the missing file.
                    } else if expected.is_none() && e.prev_field.is_none() && next_chains {
                        self.problem(
                            ProblemKind::Deleted,
                            at,
                            Some(seq),
                            "the first records of the trail are missing: it starts inside a file"
                                .to_owned(),
                        );
                    } else {
                        self.problem(
                            ProblemKind::Modified,
                            at,
                            Some(seq),
                            "record does not match its MAC".to_owned(),
                        );
                    }
                } else if let (true, Some(x)) = (next_chains, expected.filter(|&x| seq > x)) {
                    if !file_start_after_missing {
                        self.gap(i, x, seq - 1, by_seq);
                    }
                } else {
                    self.problem(
                        ProblemKind::Inserted,
                        at,
                        Some(seq),
                        "line is not part of this trail".to_owned(),
                    );
                    rejected[i] = true;
                    prev_damaged = true;
                    continue;
                }
                last_seq = Some(seq);
                last_mac = Some(e.mac);
                prev_damaged = !next_chains;
                continue;
            }
            // Authentic record.
            let source_ok = e.prev_field_ok
                || e.true_pred.is_some_and(|j| !rejected[j])
                || (e.pos_ok && e.pos_pred.is_some_and(|p| !rejected[p]));
            if !source_ok {
                self.problem(
                    ProblemKind::Spliced,
                    at,
                    Some(seq),
                    "record chains to a line that is not part of this trail: records of another trail were spliced in".to_owned(),
                );
                rejected[i] = true;
                prev_damaged = true;
                continue;
            }
            let duplicate = by_seq
                .get(seq)
                .any(|j| j < i && self.entries[j].authentic && self.entries[j].mac == e.mac);
            if duplicate {
                self.problem(
                    ProblemKind::Duplicated,
                    at,
                    Some(seq),
                    "record appears more than once".to_owned(),
                );
                continue;
            }
            match expected {
                None => {
                    if e.true_pred.is_some() {
                        self.problem(
                            ProblemKind::Reordered,
                            at,
                            Some(seq),
                            "record appears before its predecessor".to_owned(),
                        );
                    } else if e.prev_field_ok && e.line == 1 {
                        self.head_loss = Some((i, e.prev_field));
                    } else {
                        self.problem(
                            ProblemKind::Deleted,
                            at,
                            Some(seq),
                            "the first records of the trail are missing: it starts inside a file"
                                .to_owned(),
                        );
                    }
                }
                Some(x) if seq == x => {
                    let chained = e.pos_ok
                        || e.true_pred
                            .is_some_and(|j| Some(self.entries[j].mac) == last_mac)
                        || (e.prev_field_ok && e.prev_field == last_mac);
                    if !chained && !prev_damaged && !file_start_after_missing {
                        self.problem(
                            ProblemKind::Spliced,
                            at,
                            Some(seq),
                            "record chains to a different predecessor than the record before it"
                                .to_owned(),
                        );
                    }
                }
                Some(x) if seq < x => {
                    self.problem(
                        ProblemKind::Reordered,
                        at,
                        Some(seq),
                        format!("record appears after record {}", x - 1),
                    );
                    continue;
                }
                Some(x) => {
                    if !file_start_after_missing {
                        self.gap(i, x, seq - 1, by_seq);
                    }
                }
            }
            last_seq = Some(seq);
            last_mac = Some(e.mac);
            prev_damaged = false;
        }
    }

    /// A genesis record after the trail started is legitimate only where the writer had to start
    /// a new chain: after an unchained last line (and the repair record says which), or at the
    /// start of a file whose predecessor is sealed and names it.
    fn segment_start_allowed(&self, i: usize) -> Option<SegmentStart> {
        let e = &self.entries[i];
        let repair_matches = self.entries.get(i + 1).is_some_and(|r| {
            self.trusted(i + 1, "new_chain repair").is_ok()
                && matches!(r.control.as_deref(), Some(Control::Repair { repair, prev_line_sha256: Some(h), .. })
                    if repair == "new_chain" && e.after_bad.as_ref().is_some_and(|b| hex(&b[..]) == *h))
        });
        if repair_matches {
            return Some(SegmentStart::Repair);
        }
        if e.line != 1 || e.file == 0 {
            return None;
        }
        let name = &self.files[e.file].base;
        self.entries[..i]
            .iter()
            .rev()
            .find(|p| p.good)
            .is_some_and(|p| {
                p.authentic
                    && matches!(p.control.as_deref(), Some(Control::Seal { next, .. }) if next == name)
            })
            .then_some(SegmentStart::AfterSeal)
    }

    /// The file present under `name`, or else the one whose authentic seal says it was written
    /// as `name` (renamed or moved): such a file is out of place, not missing.
    fn present_as(&self, name: &str) -> Option<usize> {
        self.files.iter().position(|x| x.base == name).or_else(|| {
            (0..self.files.len()).find(|&g| {
                self.file_entries[g].clone().last().is_some_and(|i| {
                    self.entries[i].authentic
                        && matches!(self.entries[i].control.as_deref(), Some(Control::Seal { file, .. }) if file == name)
                })
            })
        })
    }

    /// Seals that name a next file which is not present, while later files are.
    fn mark_missing_files(&mut self) {
        for f in 0..self.files.len().saturating_sub(1) {
            let Some(last) = self.file_entries[f].clone().last() else {
                continue;
            };
            if let Some(Control::Seal { next, .. }) = self.entries[last].control.as_deref() {
                if *next != self.files[f + 1].base && self.present_as(next).is_none() {
                    self.after_missing_file[f + 1] = true;
                }
            }
        }
    }

    fn check_seals(&mut self) {
        let n = self.files.len();
        for f in 0..n {
            let idx: Vec<usize> = self.file_entries[f].clone().collect();
            for (k, &i) in idx.iter().enumerate() {
                let e = &self.entries[i];
                let Some(Control::Seal {
                    file,
                    first_seq,
                    count,
                    last_seq,
                    last_mac,
                    next,
                }) = e.control.as_deref().cloned()
                else {
                    continue;
                };
                let at = self.at(i);
                let seq = e.seq;
                if !e.authentic {
                    continue;
                }
                if k + 1 != idx.len() {
                    self.problem(
                        ProblemKind::BrokenSeal,
                        at,
                        seq,
                        "lines follow the seal in the same file".to_owned(),
                    );
                }
                let base = self.files[f].base.clone();
                if file != base {
                    self.problem(
                        ProblemKind::BrokenSeal,
                        at,
                        seq,
                        format!("seal is for file {file:?}, found in {base:?}"),
                    );
                }
                if last_seq != seq {
                    self.problem(
                        ProblemKind::BrokenSeal,
                        at,
                        seq,
                        "seal's last_seq is not its own seq".to_owned(),
                    );
                }
                let first_present = idx.first().and_then(|&j| self.entries[j].seq);
                if first_seq.is_some() && first_seq != first_present {
                    self.problem(
                        ProblemKind::Deleted,
                        at,
                        seq,
                        format!(
                            "seal says the file starts at seq {}, it starts at {:?}",
                            first_seq.unwrap_or(0),
                            first_present
                        ),
                    );
                }
                // The chain already shows any line added or removed; the count only speaks
                // when nothing else in the file was reported.
                let fname = &self.files[f].name;
                let file_reported = self.problems.iter().any(|p| p.file.as_ref() == Some(fname));
                if let Some(c) = count.filter(|_| !file_reported) {
                    if c != idx.len() as u64 {
                        self.problem(
                            ProblemKind::BrokenSeal,
                            at,
                            seq,
                            format!(
                                "seal counts {c} records, the file holds {} lines",
                                idx.len()
                            ),
                        );
                    }
                }
                let before = idx[..k].iter().rev().find(|&&j| self.entries[j].good);
                if let (Some(lm), Some(&j)) = (&last_mac, before) {
                    if *lm != hex(&self.entries[j].mac) {
                        self.problem(
                            ProblemKind::BrokenSeal,
                            at,
                            seq,
                            "seal's last_mac does not match the record before it".to_owned(),
                        );
                    }
                }
                if f + 1 < n {
                    if next != self.files[f + 1].base {
                        if self.after_missing_file[f + 1] {
                            self.problem(
                                ProblemKind::MissingFile,
                                at,
                                seq,
                                format!("file {next} named by this seal is missing (next present file: {})", self.files[f + 1].name),
                            );
                        } else {
                            let present = match self.present_as(&next) {
                                Some(g) if self.files[g].base != next => {
                                    format!(" ({next} is present as {})", self.files[g].name)
                                }
                                _ => String::new(),
                            };
                            self.problem(
                                ProblemKind::BrokenSeal,
                                at,
                                seq,
                                format!(
                                    "seal names the next file {next}, but {} follows{present}",
                                    self.files[f + 1].name
                                ),
                            );
                        }
                    }
                } else if let Some(g) = self.present_as(&next) {
                    let name = &self.files[g].name;
                    self.problem(
                        ProblemKind::BrokenSeal,
                        at,
                        seq,
                        format!("the last file in order is sealed, and its successor {next} is present ({name}) but earlier: the files are out of order"),
                    );
                } else {
                    self.problem(
                        ProblemKind::Truncated,
                        at,
                        seq,
                        format!("the newest file is sealed but its successor {next} is missing"),
                    );
                }
            }
            if f + 1 < n {
                let sealed = idx.last().is_some_and(|&i| {
                    matches!(
                        self.entries[i].control.as_deref(),
                        Some(Control::Seal { .. })
                    )
                });
                if !sealed {
                    let at = idx
                        .last()
                        .map(|&i| (f, self.entries[i].line))
                        .or(Some((f, 0)));
                    let seq = idx.last().and_then(|&i| self.entries[i].seq);
                    self.problem(
                        ProblemKind::BrokenSeal,
                        at,
                        seq,
                        "file is not the newest but does not end with a seal".to_owned(),
                    );
                }
            }
            // Repair records are events worth reporting.
            for &i in &idx {
                if let Some(Control::Repair {
                    repair,
                    unadopted: Some((from, to)),
                    ..
                }) = self.entries[i].control.as_deref()
                {
                    if self.entries[i].good && repair == "unadopted" {
                        let msg = unadopted_warning(*from, *to);
                        self.warn(self.at(i), msg);
                    }
                }
                if let Some(Control::Repair {
                    repair,
                    file,
                    set_aside,
                    bytes,
                    ..
                }) = self.entries[i].control.as_deref()
                {
                    if self.trusted(i, "torn_tail repair").is_ok() && repair == "torn_tail" {
                        let msg = format!(
                            "repair: a torn line of {} ({} bytes) was set aside to {}",
                            file.as_deref().unwrap_or("?"),
                            bytes.unwrap_or(0),
                            set_aside.as_deref().unwrap_or("?")
                        );
                        self.warn(self.at(i), msg);
                    }
                }
            }
        }
    }

    fn check_checkpoints(&mut self, checkpoints: &[CheckpointFile], by_seq: &SeqIndex) {
        let max = by_seq.max();
        let min = by_seq.min();
        let in_trail: Vec<(u64, Option<String>)> = self
            .entries
            .iter()
            .filter(|e| e.authentic)
            .filter_map(|e| match e.control.as_deref() {
                Some(Control::Checkpoint { ts }) => Some((e.seq.unwrap_or(0), ts.clone())),
                _ => None,
            })
            .collect();
        for cf in checkpoints {
            let name = &cf.name;
            if let Some(what) = cf.vacant() {
                if let Some((seq, _)) = in_trail.last() {
                    self.problems.push(Problem {
                        kind: ProblemKind::Deleted,
                        file: Some(name.clone()),
                        line: None,
                        seq: Some(*seq),
                        detail: format!(
                            "the checkpoint {}file {what} although the trail holds checkpoint records (the writer publishes every one)",
                            if cf.side { "side " } else { "" }
                        ),
                    });
                }
                continue;
            }
            let content = cf.content.as_deref().unwrap_or_default();
            let lines = crate::trail::read::split_lines(content)
                .enumerate()
                .filter(|(_, l)| !l.trim_ascii().is_empty());
            let mut newest: Option<(u64, Option<String>)> = None;
            for (n, line) in lines {
                let line = line.trim_ascii_end();
                let problem = |kind, seq, detail: String| Problem {
                    kind,
                    file: Some(name.clone()),
                    line: Some(n as u64 + 1),
                    seq,
                    detail,
                };
                let Some(tr) = chain::parse_trailer(line) else {
                    self.problems.push(problem(
                        ProblemKind::Modified,
                        None,
                        "checkpoint file line is not a chained record".to_owned(),
                    ));
                    continue;
                };
                if chain::control_kind(line) != Some(b"checkpoint".as_slice()) {
                    self.problems.push(problem(
                        ProblemKind::Inserted,
                        Some(tr.seq),
                        "checkpoint file line is a chained record but not a checkpoint".to_owned(),
                    ));
                    continue;
                }
                if newest.as_ref().is_none_or(|(s, _)| tr.seq > *s) {
                    let ts = match parse_control(b"checkpoint", line) {
                        Control::Checkpoint { ts } => ts,
                        _ => None,
                    };
                    newest = Some((tr.seq, ts));
                }
                let present: Vec<usize> = by_seq.get(tr.seq).collect();
                match present.first() {
                Some(_) if present.iter().any(|&j| self.entries[j].mac == tr.mac) => {}
                Some(_) => self.problems.push(problem(
                    ProblemKind::Modified,
                    Some(tr.seq),
                    "the trail's record with the checkpoint's seq differs from the checkpoint"
                        .to_owned(),
                )),
                None if max.is_none_or(|m| tr.seq > m) => self.problems.push(problem(
                    ProblemKind::Truncated,
                    Some(tr.seq),
                    format!(
                        "checkpoint shows seq {}, the trail ends at {}",
                        tr.seq,
                        max.map_or_else(|| "nothing".to_owned(), |m| m.to_string())
                    ),
                )),
                None if min.is_some_and(|m| tr.seq < m)
                    && self.begins_at.is_some()
                    && self.pruned_through().is_some_and(|p| p >= tr.seq) =>
                {
                    self.warnings.push(Warning {
                        file: Some(name.clone()),
                        line: None,
                        message: format!(
                            "checkpoint at seq {} predates the pruned head of the trail (a prune record covers it)",
                            tr.seq
                        ),
                    });
                }
                None if min.is_some_and(|m| tr.seq < m) => self.problems.push(problem(
                    ProblemKind::Deleted,
                    Some(tr.seq),
                    format!(
                        "the trail begins at seq {}, after this checkpoint, and no prune record of retention covers the loss",
                        min.unwrap_or(0)
                    ),
                )),
                None => self.problems.push(problem(
                    ProblemKind::Deleted,
                    Some(tr.seq),
                    "the record this checkpoint names is missing from the trail".to_owned(),
                )),
            }
            }
            // The side file is replaced with the newest checkpoint at most a second after it
            // was written: one that is older than a checkpoint the writer outlived by more than
            // that was put back by someone else.
            if let (true, Some((seq, Some(ts)))) = (cf.side, &newest) {
                let stale = in_trail.iter().find(|(s, t)| {
                    *s > *seq
                        && t.as_deref()
                            .and_then(parse_time)
                            .zip(self.last_ts.as_deref().and_then(parse_time))
                            .is_some_and(|(c, last)| last > c + SIDE_FILE_LAG)
                });
                let _ = ts;
                if let Some((newer, _)) = stale {
                    self.problems.push(Problem {
                        kind: ProblemKind::Modified,
                        file: Some(name.clone()),
                        line: None,
                        seq: Some(*seq),
                        detail: format!(
                            "the checkpoint side file names seq {seq}, but the writer published checkpoint {newer} after it: the side file was replaced with an older line"
                        ),
                    });
                }
            }
        }
    }

    /// The highest `through_seq` of an authentic prune record of retention.
    fn pruned_through(&self) -> Option<u64> {
        self.prune_records().map(|(_, s, _)| s).max()
    }

    /// Whether the control record at entry `i` counts (see [`super::trust`]).
    fn trusted(&self, i: usize, kind: &str) -> Result<(), String> {
        let e = &self.entries[i];
        if !e.authentic {
            return Err(format!(
                "the {kind} record at seq {} was disregarded: it does not chain",
                e.seq.unwrap_or(0)
            ));
        }
        self.trust.judge(kind, e.seq.unwrap_or(0), e.keyed)
    }

    /// Why prune records that would have covered records up to `lost` were disregarded.
    fn disregarded_prunes(&self, lost: u64) -> Vec<String> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.good)
            .filter(|(_, e)| matches!(e.control.as_deref(), Some(Control::Prune { through_seq: Some(s), .. }) if *s >= lost))
            .filter_map(|(i, _)| self.trusted(i, "prune").err())
            .collect()
    }

    /// Authentic prune records that count: (entry, `through_seq`, `through_mac`).
    fn prune_records(&self) -> impl Iterator<Item = (usize, u64, Option<&str>)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, _)| self.trusted(*i, "prune").is_ok())
            .filter_map(|(i, e)| match e.control.as_deref() {
                Some(Control::Prune {
                    through_seq: Some(s),
                    through_mac,
                }) => Some((i, *s, through_mac.as_deref())),
                _ => None,
            })
    }

    /// A trail whose first present record is not its first: retention may delete the oldest
    /// files, but it says so first, in a chained prune record naming the last deleted seq and
    /// the chain value there. Any other loss of the head is tampering.
    fn judge_head_loss(&mut self) {
        let Some((i, prev)) = self.head_loss else {
            return;
        };
        let seq = self.entries[i].seq.unwrap_or(0);
        let at = self.at(i);
        let Some(lost) = seq.checked_sub(1) else {
            // Seq 0 is the chain's start: a record there that chains to something before it
            // was put in place of the genesis record.
            self.problem(
                ProblemKind::Deleted,
                at,
                Some(seq),
                "the trail's first record (seq 0) is not its chain start: the genesis record was removed or replaced".to_owned(),
            );
            return;
        };
        let covering: Vec<(u64, Option<String>)> = self
            .prune_records()
            .filter(|&(_, s, _)| s >= lost)
            .map(|(_, s, m)| (s, m.map(str::to_owned)))
            .collect();
        let exact = covering.iter().find(|(s, _)| *s == lost);
        let widest = covering.iter().map(|(s, _)| *s).max();
        let disregarded = match self.disregarded_prunes(lost).first() {
            Some(why) if widest.is_none() => format!(" ({why})"),
            _ => String::new(),
        };
        let prev_hex = prev.map(|p| hex(&p));
        let replaced = prev_hex.is_some()
            && exact.is_some_and(|(_, mac)| mac.as_deref() != prev_hex.as_deref());
        match (replaced, widest, self.pruned_through()) {
            (true, _, _) => {
                self.problem(
                    ProblemKind::Spliced,
                    at,
                    Some(seq),
                    format!(
                        "the trail begins at seq {seq}, but the record before it is not the one retention's prune record names (through_mac differs): the head was replaced"
                    ),
                );
            }
            (_, Some(_), _) => {
                self.begins_at = Some(seq);
                self.warn(
                    at,
                    format!("trail begins at sequence {seq}: older files were pruned by retention (a prune record covers records up to {lost})"),
                );
            }
            (_, None, Some(through)) => self.problem(
                ProblemKind::Deleted,
                at,
                Some(seq),
                format!(
                    "records {}..={lost} are missing from the head of the trail: retention's prune records cover only records up to {through}{disregarded}",
                    through + 1
                ),
            ),
            (_, None, None) => self.problem(
                ProblemKind::Deleted,
                at,
                Some(seq),
                format!(
                    "records 0..={lost} are missing from the head of the trail and no prune record of retention covers the loss{disregarded}"
                ),
            ),
        }
    }
}
