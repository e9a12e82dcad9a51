//! The mutation corpus: a real trail of several rotated files, written through the layer, is
//! damaged in every way the issue lists; every mutation must be detected.

mod chain_support;

use chain_support::*;
use std::fs;
use std::path::{Path, PathBuf};
use tracing_audit::verify::{Keys, ProblemKind, Report};

struct Corpus {
    trail: tempfile::TempDir,
    files: Vec<PathBuf>,
    lines: Vec<Vec<Vec<u8>>>,
    foreign: Vec<Vec<Vec<u8>>>,
    scratch: tempfile::TempDir,
    tried: usize,
    detected: usize,
    missed: Vec<String>,
}

impl Corpus {
    fn new() -> Corpus {
        let trail = tempfile::tempdir().unwrap();
        write_trail(trail.path(), keyed(), 0..120, 6 * 1024);
        let files = trail_files(trail.path());
        assert!(
            files.len() >= 4,
            "need several rotated files, got {}",
            files.len()
        );
        let lines = files.iter().map(|f| read_lines(f)).collect();
        // A second trail with the same key: its records are well formed and correctly keyed.
        let other = tempfile::tempdir().unwrap();
        write_trail(other.path(), keyed(), 500..560, 6 * 1024);
        let foreign = trail_files(other.path())
            .iter()
            .map(|f| read_lines(f))
            .collect();
        Corpus {
            trail,
            files,
            lines,
            foreign,
            scratch: tempfile::tempdir().unwrap(),
            tried: 0,
            detected: 0,
            missed: Vec::new(),
        }
    }

    fn name(&self, f: usize) -> String {
        self.files[f]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn record(&mut self, what: &str, r: Report) -> Option<Report> {
        self.tried += 1;
        if r.intact() {
            self.missed.push(what.to_owned());
            None
        } else {
            self.detected += 1;
            Some(r)
        }
    }

    /// Copies the intact trail, lets `mutate` damage the copy (files renamed, removed, added),
    /// verifies it.
    fn check(&mut self, what: &str, mutate: impl FnOnce(&Path, &Self)) -> Option<Report> {
        let dir = self.scratch.path().join(format!("m{}", self.tried));
        fs::create_dir(&dir).unwrap();
        copy_dir(self.trail.path(), &dir);
        mutate(&dir, self);
        let r = verify(&dir, &Keys::from(key())).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        self.record(what, r)
    }

    /// Rewrites one file of a working copy, verifies, puts the file back.
    fn edit(
        &mut self,
        what: &str,
        f: usize,
        change: impl FnOnce(&mut Vec<Vec<u8>>),
    ) -> Option<Report> {
        let work = self.scratch.path().join("work");
        if !work.exists() {
            fs::create_dir(&work).unwrap();
            copy_dir(self.trail.path(), &work);
        }
        let mut lines = self.lines[f].clone();
        change(&mut lines);
        let path = work.join(self.name(f));
        write_lines(&path, &lines);
        let r = verify(&work, &Keys::from(key())).unwrap();
        fs::copy(&self.files[f], &path).unwrap();
        self.record(what, r)
    }
}

/// Byte positions that hit every field of a JSON line: the last byte of each key, and the
/// first two bytes of its value.
fn field_bytes(line: &[u8]) -> Vec<usize> {
    let mut at = Vec::new();
    for p in 0..line.len().saturating_sub(2) {
        if &line[p..p + 2] == b"\":" {
            at.extend(
                [p - 1, p + 2, p + 3]
                    .into_iter()
                    .filter(|&i| i < line.len()),
            );
        }
    }
    at.push(line.len() - 1);
    at.push(0);
    at.sort_unstable();
    at.dedup();
    at
}

fn has(r: &Option<Report>, kind: ProblemKind) -> bool {
    r.as_ref()
        .is_some_and(|r| r.problems().iter().any(|p| p.kind() == kind))
}

#[test]
fn every_mutation_of_a_real_trail_is_detected() {
    let mut c = Corpus::new();
    let intact = verify(c.trail.path(), &Keys::from(key())).unwrap();
    assert!(intact.intact(), "{intact}");
    let n = c.files.len();
    let mid = n / 2;
    let last = n - 1;

    // Byte flips in every field (key and value) of a body record, the first record of a file
    // (with `prev`), a checkpoint, a seal and the genesis record; every byte of one record.
    let is = |l: &[u8], kind: &str| {
        String::from_utf8_lossy(l).contains(&format!("\"record\":\"{kind}\""))
    };
    let mut targets = vec![(0, 0), (mid, 0), (mid, c.lines[mid].len() - 1)];
    if let Some((f, i)) = c
        .lines
        .iter()
        .enumerate()
        .find_map(|(f, ls)| ls.iter().position(|l| is(l, "checkpoint")).map(|i| (f, i)))
    {
        targets.push((f, i));
    }
    assert!(is(&c.lines[mid][c.lines[mid].len() - 1], "seal"));
    assert!(is(&c.lines[0][0], "genesis"));
    for (f, i) in targets {
        for at in field_bytes(&c.lines[f][i]) {
            let r = c.edit(&format!("flip field byte {f}:{i}@{at}"), f, |l| {
                l[i][at] ^= 0x01
            });
            assert!(r.is_some(), "flip {f}:{i}@{at}");
        }
    }
    for at in 0..c.lines[mid][3].len() {
        c.edit(&format!("flip byte {mid}:3@{at}"), mid, |l| {
            l[3][at] ^= 0x20
        });
    }
    let flips = c.tried;

    // Insertions.
    let plain = br#"{"ts":"2026-11-26T05:56:07.123456789Z","stream":"audit","actor":"mallory","action":"grant","outcome":"success"}"#.to_vec();
    for at in [0, 2, c.lines[mid].len() - 1, c.lines[mid].len()] {
        let p = plain.clone();
        let r = c.edit("insert unchained line", mid, |l| l.insert(at, p));
        assert!(has(&r, ProblemKind::Inserted) || r.is_some());
    }
    let forged = {
        let v = String::from_utf8(c.lines[mid][3].clone()).unwrap();
        v.replace("\"read\"", "\"delete\"")
    };
    c.edit("insert forged copy", mid, |l| {
        l.insert(4, forged.into_bytes())
    });
    let copy = c.lines[1][2].clone();
    c.edit("insert old record elsewhere", mid, |l| l.insert(2, copy));
    c.edit("insert empty line", mid, |l| l.insert(2, Vec::new()));

    // Deletions.
    for at in [0, 1, 4] {
        let r = c.edit(&format!("delete line {at}"), mid, |l| {
            l.remove(at);
        });
        assert!(r.is_some());
    }
    let r = c.edit("delete genesis", 0, |l| {
        l.remove(0);
    });
    assert!(has(&r, ProblemKind::Deleted), "{r:?}");
    let r = c.edit("delete seal", mid, |l| {
        l.pop();
    });
    assert!(has(&r, ProblemKind::BrokenSeal), "{r:?}");
    let r = c.edit("delete a run", mid, |l| {
        l.drain(2..6);
    });
    assert!(has(&r, ProblemKind::Deleted), "{r:?}");

    // Reordering.
    let r = c.edit("swap neighbours", mid, |l| l.swap(2, 3));
    assert!(has(&r, ProblemKind::Reordered), "{r:?}");
    let r = c.edit("swap far apart", mid, |l| l.swap(1, 6));
    assert!(has(&r, ProblemKind::Reordered), "{r:?}");
    let moved = c.lines[mid][2].clone();
    c.edit("move a record to another file", mid + 1, |l| {
        l.insert(3, moved)
    });
    let (a, b) = (c.name(1), c.name(2));
    c.check("swap two files' names", |dir, _| {
        fs::rename(dir.join(&a), dir.join("tmp")).unwrap();
        fs::rename(dir.join(&b), dir.join(&a)).unwrap();
        fs::rename(dir.join("tmp"), dir.join(&b)).unwrap();
    });

    // Duplication.
    let r = c.edit("duplicate in place", mid, |l| l.insert(3, l[2].clone()));
    assert!(has(&r, ProblemKind::Duplicated), "{r:?}");
    let dup = c.lines[1][3].clone();
    c.edit("duplicate into the newest file", last, |l| l.push(dup));
    let src = c.name(mid);
    c.check("duplicate a whole file", |dir, _| {
        fs::copy(dir.join(&src), dir.join("audit.9999-12-31.0000.jsonl")).unwrap();
    });

    // A file missing in the middle.
    for f in 1..last {
        let name = c.name(f);
        let r = c.check(&format!("remove file {f}"), |dir, _| {
            fs::remove_file(dir.join(name)).unwrap()
        });
        assert!(has(&r, ProblemKind::MissingFile), "{r:?}");
    }

    // Splicing from another trail written with the same key.
    let run: Vec<Vec<u8>> = c.foreign[1][2..5].to_vec();
    c.edit("splice a run", mid, |l| {
        for (k, x) in run.into_iter().enumerate() {
            l.insert(3 + k, x);
        }
    });
    let one = c.foreign[1][4].clone();
    c.edit("splice one record", mid, |l| l.insert(3, one));
    let replaced = c.foreign[1][3].clone();
    c.edit("replace a record with a foreign one", mid, |l| {
        l[3] = replaced
    });
    let whole = c.foreign[1].clone();
    c.edit("replace a file with another trail's", mid, |l| *l = whole);
    let start = c.foreign[0].clone();
    let r = c.edit("splice another trail's start", mid, |l| {
        for (k, x) in start.into_iter().take(3).enumerate() {
            l.insert(2 + k, x);
        }
    });
    assert!(r.is_some());

    // Tail truncation after a checkpoint: the side file (or the seal) shows what is missing.
    let last_len = c.lines[last].len();
    for cut in 1..=last_len.min(6) {
        let r = c.edit(&format!("cut {cut} lines off the end"), last, |l| {
            l.truncate(last_len - cut)
        });
        assert!(has(&r, ProblemKind::Truncated), "{r:?}");
    }
    let name = c.name(last);
    let r = c.check("remove the newest file", |dir, _| {
        fs::remove_file(dir.join(name)).unwrap()
    });
    assert!(has(&r, ProblemKind::Truncated), "{r:?}");

    let (tried, detected) = (c.tried, c.detected);
    println!(
        "{detected}/{tried} mutations detected ({flips} byte flips, {} structural)",
        tried - flips
    );
    assert!(c.missed.is_empty(), "undetected: {:?}", c.missed);
    assert_eq!(detected, tried);
}

#[test]
fn intact_trail_verifies_and_a_head_deleted_by_hand_is_deletion() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), keyed(), 0..80, 4096);
    let r = verify(dir.path(), &Keys::from(key())).unwrap();
    assert!(r.intact(), "{r}");
    assert_eq!(r.begins_at(), None);
    let files = trail_files(dir.path());
    // Not retention: no chained prune record says these files were deleted.
    fs::remove_file(&files[0]).unwrap();
    fs::remove_file(&files[1]).unwrap();
    let r = verify(dir.path(), &Keys::from(key())).unwrap();
    assert!(
        r.problems()
            .iter()
            .any(|p| p.kind() == ProblemKind::Deleted),
        "{r}"
    );
    assert!(r.to_string().contains("no prune record"), "{r}");
}
