//! Deleting a sink's oldest closed files once a retention limit is exceeded.
//!
//! An unchained stream (debug) deletes them at once ([`prune`]). A chained stream (audit) must be
//! able to prove what retention deleted, so there it is split in two: the background thread
//! [`plan`](plan_chained)s which files go and up to which record, and the writer thread frames a
//! chained `prune` record saying so, makes it durable, and only then calls [`delete`] (and, for
//! a signed trail, [`archive_seals`] first: the epoch seals of the deleted files are what lets
//! a verifier follow the epoch keys from `pk0` to the first file still present).

use super::config::Retention;
use crate::trail::naming::{self, DataName, Form};
use crate::trail::write::{self, context};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Longest line read while looking for a file's first record or its seals; a longer one is
/// skipped (a trail's own lines are far shorter).
const MAX_LINE: usize = 16 << 20;

/// One logical file: its plain and/or compressed forms count as the same file.
struct Kept {
    name: DataName,
    bytes: u64,
    modified: SystemTime,
    /// The forms present, for reading it.
    plain: bool,
    gz: bool,
}

/// What one pruning pass did.
#[derive(Debug, Default)]
pub(super) struct Pruned {
    pub(super) files: u64,
    pub(super) errors: Vec<io::Error>,
}

/// What retention of a chained stream is about to delete, handed from the background thread to
/// the writer thread, which records it in the chain before anything is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PruneIntent {
    /// The files to delete, as written (`.jsonl` names), oldest first.
    pub(crate) files: Vec<String>,
    /// The last sequence number in them: the first record kept is `through_seq + 1`.
    pub(crate) through_seq: u64,
    /// The MAC of record `through_seq`: the `"prev"` of the first record kept.
    pub(crate) through_mac: [u8; 32],
    /// The epoch seal lines found in the files, verbatim (no newline), in order.
    pub(crate) seals: Vec<Vec<u8>>,
}

/// The file the shipping cursor at `cursor` stands in for `prefix` (`None`: nothing is known to
/// be shipped). Format: `{"version":1,"streams":{"<prefix>":{"file":"<name>",...}}}`.
fn shipping_position(cursor: &Path, prefix: &str) -> Option<DataName> {
    let bytes = crate::trail::open::read_capped(cursor, crate::trail::open::SMALL_FILE_MAX).ok()?;
    let streams = crate::trail::cursor::parse(&bytes)?;
    naming::parse(prefix, &streams.get(prefix)?.file)
}

/// This prefix's data files in `dir` (regular files only, both forms of one file merged), oldest
/// first.
fn scan(dir: &Path, prefix: &str, now: SystemTime) -> io::Result<Vec<Kept>> {
    let entries = fs::read_dir(dir).map_err(|e| context("cannot list", dir, e))?;
    // Plain and compressed forms of one file meet under the same key.
    let mut by_name: HashMap<(String, u64), Kept> = HashMap::new();
    for entry in entries.flatten() {
        let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|n| naming::parse(prefix, n))
        else {
            continue;
        };
        if name.form == Form::GzTmp {
            continue;
        }
        // file_type() does not follow symlinks: a planted link is never counted nor deleted.
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        let modified = meta.modified().unwrap_or(now);
        let (plain, gz) = (name.form == Form::Plain, name.form == Form::Gz);
        by_name
            .entry((name.stamp.clone(), name.counter))
            .and_modify(|k| {
                k.bytes += meta.len();
                k.modified = k.modified.max(modified);
                k.plain |= plain;
                k.gz |= gz;
            })
            .or_insert(Kept {
                name,
                bytes: meta.len(),
                modified,
                plain,
                gz,
            });
    }
    let mut files: Vec<Kept> = by_name.into_values().collect();
    files.sort_by(|a, b| a.name.cmp_age(&b.name));
    Ok(files)
}

/// The indexes of the files in `files` (oldest first) that retention deletes as of `now`, as a
/// contiguous run from the oldest when `oldest_first_only` (a chained trail may only lose its
/// head, never a file in the middle).
fn doomed(
    files: &[Kept],
    prefix: &str,
    retention: &Retention,
    active: &DataName,
    now: SystemTime,
    oldest_first_only: bool,
) -> Vec<usize> {
    // Files the shipper has not had acknowledged: this one (the oldest) and all after it.
    let unshipped = retention
        .unshipped
        .as_deref()
        .map(|cursor| shipping_position(cursor, prefix));
    let mut out = Vec::new();
    let mut count = files.len();
    let mut total: u64 = files.iter().map(|k| k.bytes).sum();
    for (i, kept) in files.iter().enumerate() {
        let closed = kept.name.cmp_age(active) == Ordering::Less;
        let age = now.duration_since(kept.modified).unwrap_or(Duration::ZERO);
        let mut goes = closed && age >= retention.min_age;
        if goes {
            if let Some(oldest_unshipped) = &unshipped {
                goes = oldest_unshipped
                    .as_ref()
                    .is_some_and(|u| kept.name.cmp_age(u) == Ordering::Less);
            }
        }
        if goes {
            let too_many = retention.max_files.is_some_and(|max| count > max.max(1));
            let too_old = retention.max_age.is_some_and(|max| age > max);
            let too_big = retention.max_total_bytes.is_some_and(|max| total > max);
            goes = too_many || too_old || too_big;
        }
        if !goes {
            if oldest_first_only {
                break;
            }
            continue;
        }
        out.push(i);
        count -= 1;
        total = total.saturating_sub(kept.bytes);
    }
    out
}

/// Deletes closed files of `prefix` in `dir` beyond the `retention` limits, oldest first, with
/// their indexes. For an unchained stream: nothing records what was deleted.
///
/// Never touches `active` or anything started after it, symlinks, files younger than
/// `min_age`, or names that are not exactly this prefix's data files.
pub(super) fn prune(
    dir: &Path,
    prefix: &str,
    retention: &Retention,
    active: &str,
    now: SystemTime,
) -> Pruned {
    let mut out = Pruned::default();
    if retention.keeps_everything() {
        return out;
    }
    let Some(active) = naming::parse(prefix, active) else {
        return out;
    };
    let files = match scan(dir, prefix, now) {
        Ok(files) => files,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    for i in doomed(&files, prefix, retention, &active, now, false) {
        match delete(dir, &files[i].name.plain(prefix)) {
            Ok(removed) => out.files += u64::from(removed),
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// Plans retention for a chained stream: which files go, the last record in them, and (with
/// `keep_seals`) their epoch seals. Deletes nothing. `Ok(None)`: nothing to delete.
pub(super) fn plan_chained(
    dir: &Path,
    prefix: &str,
    retention: &Retention,
    active: &str,
    now: SystemTime,
    keep_seals: bool,
) -> io::Result<Option<PruneIntent>> {
    if retention.keeps_everything() {
        return Ok(None);
    }
    let Some(active) = naming::parse(prefix, active) else {
        return Ok(None);
    };
    let files = scan(dir, prefix, now)?;
    let doomed = doomed(&files, prefix, retention, &active, now, true);
    let Some(&newest) = doomed.last() else {
        return Ok(None);
    };
    let (through_seq, through_mac) =
        match files.get(newest + 1).map(|k| first_record(dir, prefix, k)) {
            Some(Ok(Some(found))) => found,
            // The oldest kept file has no complete first record yet (the active file right after a
            // rotation): the last record of the newest deleted file says the same.
            Some(Ok(None)) | None => last_record(dir, prefix, &files[newest])?,
            Some(Err(e)) => return Err(e),
        };
    let mut seals = Vec::new();
    if keep_seals {
        for &i in &doomed {
            each_line(dir, prefix, &files[i], |line| {
                if crate::chain::control_kind(line) == Some(b"epoch_seal".as_slice()) {
                    seals.push(line.to_vec());
                }
                ControlFlow::Continue(())
            })?;
        }
    }
    Ok(Some(PruneIntent {
        files: doomed
            .iter()
            .map(|&i| files[i].name.plain(prefix))
            .collect(),
        through_seq,
        through_mac,
        seals,
    }))
}

/// `(seq - 1, prev)` of the first record of `file`, if it has a complete one that carries
/// `"prev"` (every file after the first does).
fn first_record(dir: &Path, prefix: &str, file: &Kept) -> io::Result<Option<(u64, [u8; 32])>> {
    let mut found = None;
    each_line(dir, prefix, file, |line| {
        found =
            crate::chain::parse_trailer(line).and_then(|t| Some((t.seq.checked_sub(1)?, t.prev?)));
        ControlFlow::Break(())
    })?;
    Ok(found)
}

/// `(seq, mac)` of the last record of `file`.
fn last_record(dir: &Path, prefix: &str, file: &Kept) -> io::Result<(u64, [u8; 32])> {
    let mut found = None;
    each_line(dir, prefix, file, |line| {
        if let Some(t) = crate::chain::parse_trailer(line) {
            found = Some((t.seq, t.mac));
        }
        ControlFlow::Continue(())
    })?;
    found.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "cannot tell which records retention would delete: {} holds no chained record, and the file after it none yet",
                file.name.plain(prefix)
            ),
        )
    })
}

/// Calls `f` with every complete line of `file` (its plain form if present: during a
/// compression that one is complete; else the `.gz`), without following symlinks.
fn each_line(
    dir: &Path,
    prefix: &str,
    file: &Kept,
    f: impl FnMut(&[u8]) -> ControlFlow<()>,
) -> io::Result<()> {
    let plain = file.name.plain(prefix);
    let (path, gz) = if file.plain {
        (dir.join(&plain), false)
    } else if file.gz {
        (dir.join(format!("{plain}.gz")), true)
    } else {
        return Ok(());
    };
    let Some(trail_file) = crate::trail::TrailFile::at(&path) else {
        return Ok(());
    };
    debug_assert_eq!(trail_file.gz, gz);
    let mut read = crate::trail::LineReader::new()
        .max_line(MAX_LINE)
        .read_lines(&trail_file, f);
    match read.take_problem() {
        None => Ok(()),
        Some(p) => Err(context("cannot read", &path, p.into_io_error())),
    }
}

/// Deletes the file written as `plain` in every form (`.jsonl`, `.jsonl.gz`) and its indexes.
/// Only regular files are ever removed; one already gone is fine. `Ok(true)`: a data file was
/// deleted (not only found gone).
pub(super) fn delete(dir: &Path, plain: &str) -> io::Result<bool> {
    let mut result = Ok(false);
    for (i, name) in [
        format!("{plain}.gz"),
        plain.to_owned(),
        format!("{plain}.gz.idx"),
        format!("{plain}.idx"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.join(&name);
        // Re-check right before deleting: only regular files are ever removed.
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_file() => {}
            _ => continue,
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                if i < 2 {
                    if let Ok(removed) = &mut result {
                        *removed = true;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                if result.is_ok() {
                    result = Err(context("cannot delete expired", &path, e));
                }
            }
        }
    }
    result
}

/// Appends `seals` (epoch seal lines, in order) to `<prefix>.seals.jsonl` in `dir` and fsyncs
/// it: the seals archive, which certifies the epoch keys of a pruned signed trail from `pk0`.
///
/// Seals of epochs the archive already ends with or passed are not appended again (a crash
/// between archiving and deleting leaves the files, and the next pass archives them again). A
/// torn last line, left by a crash while appending, is cut off first: the seal it was is still
/// in a file that was not deleted, and is appended again now.
pub(super) fn archive_seals(
    dir: &Path,
    prefix: &str,
    seals: &[Vec<u8>],
    mode: u32,
) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if seals.is_empty() {
        return Ok(());
    }
    let path = dir.join(naming::seals_archive(prefix));
    let file = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| context("cannot open", &path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| context("cannot inspect", &path, e))?;
    if !meta.is_file() {
        return Err(context(
            "refusing to append to",
            &path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let len = meta.len();
    let end =
        super::recover::complete_len(&file, len).map_err(|e| context("cannot read", &path, e))?;
    if end < len {
        file.set_len(end)
            .map_err(|e| context("cannot cut the torn last line of", &path, e))?;
    }
    let archived = super::recover::last_line(&file, end)
        .map_err(|e| context("cannot read", &path, e))?
        .and_then(|l| crate::chain::parse_trailer(&l)?.epoch);
    let mut out = Vec::new();
    for seal in seals {
        let epoch = crate::chain::parse_trailer(seal).and_then(|t| t.epoch);
        let new = match (epoch, archived) {
            (Some(e), Some(a)) => e > a,
            _ => true,
        };
        if new {
            out.extend_from_slice(seal);
            out.push(b'\n');
        }
    }
    if out.is_empty() {
        return Ok(());
    }
    (&file)
        .write_all(&out)
        .map_err(|e| context("cannot append to", &path, e))?;
    file.sync_data()
        .map_err(|e| context("cannot fsync", &path, e))?;
    if len == 0 {
        // A new archive: its directory entry must be durable before anything is deleted.
        write::sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".jsonl"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn files_not_yet_shipped_are_kept_whatever_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in 1..=5 {
            fs::write(d.join(format!("audit.2026-12-01.000{n}.jsonl")), b"x\n").unwrap();
        }
        let cursor = d.join("ship.cursor");
        let keep = Retention::keep_all().max_files(1).keep_unshipped(&cursor);
        let now = SystemTime::now();
        let active = "audit.2026-12-01.0005.jsonl";
        // No cursor yet: nothing is known to be shipped.
        assert_eq!(prune(d, "audit", &keep, active, now).files, 0);
        fs::write(
            &cursor,
            br#"{"version":1,"streams":{"audit":{"file":"audit.2026-12-01.0003.jsonl","offset":1}}}"#,
        )
        .unwrap();
        assert_eq!(prune(d, "audit", &keep, active, now).files, 2);
        assert_eq!(
            names(d),
            [
                "audit.2026-12-01.0003.jsonl",
                "audit.2026-12-01.0004.jsonl",
                "audit.2026-12-01.0005.jsonl"
            ]
        );
    }
}
