//! Reading the records of a trail directory (rotated and gzipped files) and filtering them.

use super::output::{warn, Out};
use super::shred::ShredArgs;
use super::{CliError, Filters, EXIT_PARTIAL};
use clap::Args;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use tracing_audit::chain::ChainKey;
use tracing_audit::investigate::{canonical_time, Query, Search, SearchSummary};
use tracing_audit::shred::Revealer;
use tracing_audit::trail::{printable_json, FileProblem, SkippedLines, Trail};

/// Parses `--since`/`--until` into the records' own timestamp form (RFC 3339 UTC, nanoseconds),
/// so that comparing is comparing strings.
pub(super) fn parse_time(s: &str) -> Result<String, String> {
    canonical_time(s).map_err(|e| e.to_string())
}

impl Filters {
    /// Whether `v` passes the filters (`export` filters record by record; searches use
    /// [`Filters::query`] once).
    pub(super) fn matches(&self, v: &serde_json::Value) -> bool {
        self.query().matches(v)
    }

    /// The library query these filters describe.
    pub(super) fn query(&self) -> Query {
        let mut q = Query::new().include_control(self.all);
        if let Some(a) = &self.actor {
            q = q.actor(a);
        }
        if let Some(a) = &self.action {
            q = q.action(a);
        }
        if let Some(o) = &self.outcome {
            q = q.outcome(o);
        }
        // Already canonical (parsed by clap), so these cannot fail.
        if let Some(s) = &self.since {
            q = q.clone().since(s).unwrap_or(q);
        }
        if let Some(u) = &self.until {
            q = q.clone().until(u).unwrap_or(q);
        }
        q
    }
}

/// The chain key a search checks side indexes with (`query`, `correlate`, `timeline`,
/// `report`) and the `index` command writes them with.
#[derive(Args, Debug, Clone, Default)]
pub(super) struct KeyArgs {
    /// The chain key file (its bytes, one trailing newline removed). Searches skip a closed
    /// file only when its side index (`<file>.idx`) authenticates under this key and matches
    /// the file's bytes; without it every file is read.
    #[arg(long, value_name = "F")]
    pub(super) key_file: Option<PathBuf>,
    /// The key id the key file belongs to (default: used for every key id).
    #[arg(long, value_name = "ID", requires = "key_file")]
    pub(super) key_id: Option<String>,
}

impl KeyArgs {
    /// A search on all cores that uses the side indexes the key given authenticates (none
    /// without `--key-file`).
    pub(super) fn searcher(&self) -> Result<Search, CliError> {
        let search = Search::new();
        Ok(match (&self.key_file, &self.key_id) {
            (Some(f), Some(id)) => search.key(ChainKey::from_file(id, f)?),
            (Some(f), None) => search.any_key_id(ChainKey::from_file("_", f)?),
            (None, _) => search,
        })
    }
}

/// The trail in `dir`.
pub(super) fn open_trail(dir: &Path, prefix: Option<&str>) -> Result<Trail, CliError> {
    Ok(Trail::open(dir, prefix)?)
}

/// Prints one warning per file that could not be read whole (damaged, unreadable) and one per
/// file with skipped lines (longer than the line limit, or not records); whether there were
/// any: the command then ends with [`EXIT_PARTIAL`].
pub(super) fn warn_unread(problems: &[FileProblem], skipped: &[SkippedLines]) -> bool {
    for p in problems {
        let mut msg = p.to_string();
        let mut src = std::error::Error::source(p);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        warn(format_args!("warning: {msg}"));
    }
    for s in skipped {
        warn(format_args!("warning: {s}"));
    }
    !problems.is_empty() || !skipped.is_empty()
}

/// [`warn_unread`] for what a search read.
pub(super) fn warn_search(summary: &SearchSummary) -> bool {
    warn_unread(summary.problems(), summary.skipped_lines())
}

/// `tracing-audit query DIR [filters] [--key-file F]`.
pub(super) fn query(
    dir: PathBuf,
    mut filters: Filters,
    key: &KeyArgs,
    shred: &ShredArgs,
) -> Result<u8, CliError> {
    let search = key.searcher()?;
    let trail = open_trail(&dir, filters.prefix.as_deref())?;
    let revealer = shred.revealer(&dir, filters.prefix.as_deref())?;
    // With the key store, an actor is searched for by its keyed hash (the encrypted value
    // holds it), never by a plain value.
    let subject = match (filters.actor.clone(), revealer.subject_hash_fn()) {
        (Some(name), Some(hash_of)) => {
            let hash = hash_of(&name);
            if let Some(erased) = revealer.erased(&hash) {
                let seq = erased.map_or_else(
                    || "in the key store".to_owned(),
                    |s| format!("by the erasure record seq {s}"),
                );
                warn(format_args!(
                    "subject {name:?} was erased ({seq}): its records can no longer be found by name"
                ));
                return Ok(0);
            }
            filters.actor = None;
            Some(hash)
        }
        _ => None,
    };
    let mut out = Out::new();
    let mut failure = None;
    let summary = search.run(&[&trail], &filters.query(), |hit| {
        if let Some(h) = &subject {
            let v: serde_json::Value = serde_json::from_slice(hit.line()).unwrap_or_default();
            if Revealer::subject_of(&v["actor"]).as_ref() != Some(h) {
                return ControlFlow::Continue(());
            }
        }
        // A debug line has no chain: anyone may have written it, so it leaves escaped.
        match out.line(&printable_json(&revealer.reveal_line(hit.line()))) {
            Ok(true) => ControlFlow::Continue(()),
            Ok(false) => ControlFlow::Break(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    out.flush()?;
    Ok(if warn_search(&summary) {
        EXIT_PARTIAL
    } else {
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_several_forms_and_compare_as_record_timestamps() {
        assert_eq!(
            parse_time("2026-11-26T07:06:05.5+02:00").unwrap(),
            "2026-11-26T05:06:05.500000000Z"
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn filters_become_a_query_that_hides_control_records() {
        let rec = serde_json::json!({"seq":3,"ts":"2026-11-26T05:00:00.000000000Z","actor":"alice","action":"login","outcome":"failure"});
        let seal =
            serde_json::json!({"seq":4,"ts":"2026-11-26T05:00:00.000000000Z","record":"seal"});
        let f = Filters {
            actor: Some("alice".into()),
            since: Some(parse_time("2026-11-26T04:00").unwrap()),
            until: Some(parse_time("2026-11-26T05:00:00.000000001Z").unwrap()),
            ..Filters::default()
        };
        assert!(f.query().matches(&rec));
        assert!(!Filters::default().query().matches(&seal));
        let late = Filters {
            until: Some(parse_time("2026-11-26T05:00").unwrap()),
            ..Filters::default()
        };
        assert!(!late.query().matches(&rec), "until is exclusive");
    }
}
