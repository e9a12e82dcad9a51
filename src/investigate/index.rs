//! Side indexes as searches use them: whether an index rules a query out, and building the
//! indexes of an existing trail when asked ([`build_indexes`]). The format, its key and what
//! makes an index trustworthy live in `chain::index`; see docs/verification.md, "What each
//! reader trusts: search indexes".

use super::query::Query;
use crate::chain::index::{build_for_closed, FileIndex, IndexKey, KeyRing};
use crate::chain::ChainKey;
use crate::trail::Trail;
use std::fmt;
use std::io;

/// Whether a record of the file `index` describes can match `q` (false only when none can).
pub(crate) fn may_match(index: &FileIndex, q: &Query) -> bool {
    if let Some(id) = &q.id {
        if !index.contains("correlation_id", id) && !index.contains("trace_id", id) {
            return false;
        }
    }
    for (field, want) in [
        ("actor", &q.actor),
        ("action", &q.action),
        ("outcome", &q.outcome),
    ] {
        if let Some(w) = want {
            if !index.contains(field, w) {
                return false;
            }
        }
    }
    if q.since.is_some() || q.until.is_some() {
        // No record with a time: none can be in a window.
        let Some((lo, hi)) = index.time_range() else {
            return false;
        };
        if q.since.as_deref().is_some_and(|s| hi < s) || q.until.as_deref().is_some_and(|u| lo >= u)
        {
            return false;
        }
    }
    true
}

/// What [`build_indexes`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct IndexBuild {
    /// Indexes written.
    pub built: usize,
    /// Closed files whose index already held under the key (left as they are).
    pub kept: usize,
    failures: Vec<IndexFailure>,
}

impl IndexBuild {
    /// The closed files that could not be indexed (the rest were): searches scan them.
    pub fn failures(&self) -> &[IndexFailure] {
        &self.failures
    }
}

/// One file [`build_indexes`] could not index.
#[derive(Debug)]
pub struct IndexFailure {
    file: String,
    source: io::Error,
}

impl IndexFailure {
    /// The data file's name.
    pub fn file(&self) -> &str {
        &self.file
    }
}

impl fmt::Display for IndexFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot index {}: {}", self.file, self.source)
    }
}

impl std::error::Error for IndexFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Writes the side index (`<file>.idx`) of every closed, compressed file of `trail` (all but
/// its newest `.jsonl.gz` files) whose index is missing or does not hold under `key`,
/// authenticated with a key derived from `key`, so that searches given that key can skip the
/// files a query rules out. Plain files get none: a search scans them anyway, since checking
/// that an index describes one would read it whole.
///
/// This is the only way a reader writes into a trail directory, and only when called: every
/// index is created exclusively, never through a link, mode 0600, and never replaces anything
/// but a regular file. A file that cannot be indexed is reported and left to be scanned.
///
/// ```no_run
/// use tracing_audit::chain::ChainKey;
/// use tracing_audit::investigate::build_indexes;
/// use tracing_audit::trail::Trail;
///
/// let key = ChainKey::from_file("k1", "/etc/myapp/audit.key")?;
/// let built = build_indexes(&Trail::open("logs/audit", None)?, &key);
/// for f in built.failures() {
///     eprintln!("warning: {f}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn build_indexes(trail: &Trail, key: &ChainKey) -> IndexBuild {
    let index_key = IndexKey::derive(key);
    let mut keys = KeyRing::default();
    keys.add(key.clone());
    let files = trail.files();
    let closed = &files[..files.len().saturating_sub(1)];
    let mut done = IndexBuild::default();
    for file in closed.iter().filter(|f| f.is_compressed()) {
        if FileIndex::load(file, &keys).is_ok_and(|ix| ix.describes(file).is_some()) {
            done.kept += 1;
            continue;
        }
        match build_for_closed(file.path(), &index_key) {
            Ok(()) => done.built += 1,
            // Pruned or compressed since the listing: nothing to index.
            Err(e) if e.kind() == io::ErrorKind::NotFound && !file.path().exists() => {}
            Err(source) => done.failures.push(IndexFailure {
                file: file.name().to_owned(),
                source,
            }),
        }
    }
    done
}
