//! Deleting a sink's oldest closed files once a retention limit is exceeded.

use super::config::Retention;
use super::naming::{self, DataName, Form};
use super::open::context;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// One logical file: its plain and/or compressed forms count as the same file.
struct Kept {
    name: DataName,
    bytes: u64,
    modified: SystemTime,
}

/// What one pruning pass did.
#[derive(Debug, Default)]
pub(super) struct Pruned {
    pub(super) files: u64,
    pub(super) errors: Vec<io::Error>,
}

/// The file the shipping cursor at `cursor` stands in for `prefix` (`None`: nothing is known to
/// be shipped). Format: `{"version":1,"streams":{"<prefix>":{"file":"<name>",...}}}`.
fn shipping_position(cursor: &Path, prefix: &str) -> Option<DataName> {
    let bytes = fs::read(cursor).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let file = v.get("streams")?.get(prefix)?.get("file")?.as_str()?;
    naming::parse(prefix, file)
}

/// Deletes closed files of `prefix` in `dir` beyond the `retention` limits, oldest first.
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
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            out.errors.push(context("cannot list", dir, e));
            return out;
        }
    };
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
        by_name
            .entry((name.stamp.clone(), name.counter))
            .and_modify(|k| {
                k.bytes += meta.len();
                k.modified = k.modified.max(modified);
            })
            .or_insert(Kept {
                name,
                bytes: meta.len(),
                modified,
            });
    }
    let mut files: Vec<Kept> = by_name.into_values().collect();
    files.sort_by(|a, b| a.name.cmp_age(&b.name));

    // Files the shipper has not had acknowledged: this one (the oldest) and all after it.
    let unshipped = retention
        .unshipped
        .as_deref()
        .map(|cursor| shipping_position(cursor, prefix));

    let mut count = files.len();
    let mut total: u64 = files.iter().map(|k| k.bytes).sum();
    for kept in &files {
        let closed = kept.name.cmp_age(&active) == Ordering::Less;
        let age = now.duration_since(kept.modified).unwrap_or(Duration::ZERO);
        if !closed || age < retention.min_age {
            continue;
        }
        if let Some(oldest_unshipped) = &unshipped {
            let shipped = oldest_unshipped
                .as_ref()
                .is_some_and(|u| kept.name.cmp_age(u) == Ordering::Less);
            if !shipped {
                continue;
            }
        }
        let too_many = retention.max_files.is_some_and(|max| count > max.max(1));
        let too_old = retention.max_age.is_some_and(|max| age > max);
        let too_big = retention.max_total_bytes.is_some_and(|max| total > max);
        if !(too_many || too_old || too_big) {
            continue;
        }
        let plain = kept.name.plain(prefix);
        let mut removed = true;
        for name in [format!("{plain}.gz"), plain] {
            let path = dir.join(&name);
            // Re-check right before deleting: only regular files are ever removed.
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_file() => {}
                _ => continue,
            }
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    removed = false;
                    out.errors.push(context("cannot delete expired", &path, e));
                }
            }
        }
        if removed {
            out.files += 1;
            count -= 1;
            total = total.saturating_sub(kept.bytes);
        }
    }
    out
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
