//! The exact names a trail's files have, and recognising them (and nothing else) in a directory:
//! the one name parser of the crate, used by the sink that writes them, retention, the readers
//! and the shipper.
//!
//! `<prefix>.<stamp>.<NNNN>.jsonl`, gzipped `<prefix>.<stamp>.<NNNN>.jsonl.gz`, where the stamp
//! is `YYYY-MM-DD`, `YYYY-MM-DDTHH` or `YYYY-MM-DDTHH-MM` (UTC) and `NNNN` a counter of at least
//! four digits. Matching is exact so that two sinks can share a directory: `audit` never claims
//! `audit_debug.*`, `auditx.*`, `audit.debug.*` or `audit.2026-11-26.0001.jsonl.bak`.

use chrono::NaiveDate;
use std::cmp::Ordering;
use std::io;

const EXT: &str = ".jsonl";
const GZ: &str = ".gz";
const GZ_TMP: &str = ".gz.tmp";

/// Which form of a data file a name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Form {
    /// `….jsonl`, possibly still being written.
    Plain,
    /// `….jsonl.gz`, a complete compressed copy.
    Gz,
    /// `….jsonl.gz.tmp`, a compression interrupted by a crash.
    GzTmp,
}

/// A parsed own file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DataName {
    pub(crate) stamp: String,
    /// Unix second the stamp denotes.
    pub(crate) start: i64,
    pub(crate) counter: u64,
    pub(crate) form: Form,
}

impl DataName {
    /// The `.jsonl` name this file is (or was, before compression).
    pub(crate) fn plain(&self, prefix: &str) -> String {
        file_name(prefix, &self.stamp, self.counter)
    }

    /// Orders files by the time they were started.
    pub(crate) fn cmp_age(&self, other: &DataName) -> Ordering {
        (self.start, self.counter, &self.stamp).cmp(&(other.start, other.counter, &other.stamp))
    }
}

/// Checks that `prefix` is usable as the first part of a file name in the sink's directory.
pub(crate) fn validate_prefix(prefix: &str) -> io::Result<()> {
    let bad = prefix.is_empty()
        || prefix.starts_with('.')
        || prefix.contains('/')
        || prefix.contains('\0')
        || prefix.len() > 200;
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file sink prefix {prefix:?} is not a plain file name part"),
        ));
    }
    Ok(())
}

/// `<prefix>.<stamp>.<NNNN>.jsonl`.
pub(crate) fn file_name(prefix: &str, stamp: &str, counter: u64) -> String {
    format!("{prefix}.{stamp}.{counter:04}{EXT}")
}

/// The name of the always-current symlink.
pub(crate) fn current_link(prefix: &str) -> String {
    format!("{prefix}.current{EXT}")
}

/// The name of the checkpoint side file.
pub(crate) fn checkpoint(prefix: &str) -> String {
    format!("{prefix}.checkpoint")
}

/// The newest signed Merkle checkpoint of a trail (a C2SP signed note), for witnesses.
#[cfg_attr(not(feature = "tlog"), allow(dead_code))]
pub(crate) fn tlog_checkpoint(prefix: &str) -> String {
    format!("{prefix}.tlog-checkpoint")
}

/// The archive of the epoch seals of pruned files (signed trails).
pub(crate) fn seals_archive(prefix: &str) -> String {
    format!("{prefix}.seals{EXT}")
}

/// The cosignatures witnesses returned for a trail's checkpoints (signed notes), kept beside it.
#[cfg_attr(not(feature = "tlog"), allow(dead_code))]
pub(crate) fn cosigned(prefix: &str) -> String {
    format!("{prefix}.cosigned")
}

/// Where a torn last line found at `unix_nanos` is set aside.
pub(crate) fn torn(prefix: &str, unix_nanos: u128) -> String {
    format!("{prefix}.torn-{unix_nanos}.partial")
}

/// Parses `name` if (and only if) it is one of this prefix's data files.
pub(crate) fn parse(prefix: &str, name: &str) -> Option<DataName> {
    let (p, data) = parse_any(name)?;
    (p == prefix).then_some(data)
}

/// Parses `name` if it is any trail's data file: its prefix and what the rest says. The prefix
/// is what precedes the last three dot-separated parts (`my.app` in
/// `my.app.2026-11-26.0001.jsonl`).
pub(crate) fn parse_any(name: &str) -> Option<(&str, DataName)> {
    let (rest, form) = if let Some(r) = name.strip_suffix(GZ_TMP) {
        (r, Form::GzTmp)
    } else if let Some(r) = name.strip_suffix(GZ) {
        (r, Form::Gz)
    } else {
        (name, Form::Plain)
    };
    let rest = rest.strip_suffix(EXT)?;
    let (rest, digits) = rest.rsplit_once('.')?;
    if digits.len() < 4 || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (prefix, stamp) = rest.rsplit_once('.')?;
    if prefix.is_empty() || prefix.starts_with('.') {
        return None;
    }
    let counter = digits.parse().ok()?;
    let start = parse_stamp(stamp)?;
    Some((
        prefix,
        DataName {
            stamp: stamp.to_owned(),
            start,
            counter,
            form,
        },
    ))
}

/// Whether the data file named `a` was started after the one named `b` (`None` when either is
/// not a data file's name): by the time its stamp denotes, then by counter as a number
/// (`10000` comes after `9999`).
#[cfg(feature = "ship")]
pub(crate) fn started_after(a: &str, b: &str) -> Option<bool> {
    let (_, a) = parse_any(a)?;
    let (_, b) = parse_any(b)?;
    Some(a.cmp_age(&b) == std::cmp::Ordering::Greater)
}

/// The unix second a `YYYY-MM-DD[THH[-MM]]` stamp denotes.
fn parse_stamp(stamp: &str) -> Option<i64> {
    let b = stamp.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let (hour, minute) = match b.len() {
        10 => (0, 0),
        13 if b[10] == b'T' => (num(11..13)?, 0),
        16 if b[10] == b'T' && b[13] == b'-' => (num(11..13)?, num(14..16)?),
        _ => return None,
    };
    Some(date.and_hms_opt(hour, minute, 0)?.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_parse_in_every_form() {
        let n = parse("audit", "audit.2026-11-26.0003.jsonl").unwrap();
        assert_eq!(
            (n.stamp.as_str(), n.counter, n.form),
            ("2026-11-26", 3, Form::Plain)
        );
        let n = parse("audit", "audit.2026-11-26T05.0012.jsonl.gz").unwrap();
        assert_eq!(
            (n.stamp.as_str(), n.counter, n.form),
            ("2026-11-26T05", 12, Form::Gz)
        );
        let n = parse("audit", "audit.2026-11-26T05-56.10000.jsonl.gz.tmp").unwrap();
        assert_eq!((n.counter, n.form), (10_000, Form::GzTmp));
        assert_eq!(n.plain("audit"), "audit.2026-11-26T05-56.10000.jsonl");
    }

    #[test]
    fn similar_foreign_names_are_not_own_files() {
        for name in [
            "audit_debug.2026-11-26.0001.jsonl",
            "auditx.2026-11-26.0001.jsonl",
            "audit.debug.2026-11-26.0001.jsonl",
            "audit.2026-11-26.0001.jsonl.bak",
            "audit.2026-11-26.001.jsonl",
            "audit.2026-11-26.0001.json",
            "audit.2026-13-26.0001.jsonl",
            "audit.2026-11-26T25.0001.jsonl",
            "audit.2026-11-26X05.0001.jsonl",
            "audit.current.jsonl",
            "audit.checkpoint",
            "audit.torn-1764136567000000000.partial",
            "xaudit.2026-11-26.0001.jsonl",
            ".audit.2026-11-26.0001.jsonl",
        ] {
            assert_eq!(parse("audit", name), None, "{name}");
        }
    }

    #[test]
    fn stamps_denote_their_period_start() {
        let start = 1_795_672_560; // 2026-11-26T05:56:00Z
        assert_eq!(parse_stamp("2026-11-26T05-56"), Some(start));
        assert_eq!(parse_stamp("2026-11-26T05"), Some(start - 56 * 60));
        assert_eq!(parse_stamp("2026-11-26"), Some(start - 5 * 3600 - 56 * 60));
    }

    #[test]
    fn any_prefix_is_found() {
        let (p, n) = parse_any("my.app.2026-11-26T05-10.12345.jsonl.gz").unwrap();
        assert_eq!(
            (p, n.stamp.as_str(), n.counter, n.form),
            ("my.app", "2026-11-26T05-10", 12345, Form::Gz)
        );
    }

    #[cfg(feature = "ship")]
    #[test]
    fn files_order_by_time_then_counter() {
        assert_eq!(
            started_after("a.2026-11-26.10000.jsonl", "a.2026-11-26.9999.jsonl"),
            Some(true)
        );
        assert_eq!(
            started_after("a.2026-11-26.0001.jsonl", "a.2026-11-25T23.0002.jsonl"),
            Some(true)
        );
        assert_eq!(
            started_after("a.2026-11-25.0001.jsonl", "a.2026-11-25.0001.jsonl"),
            Some(false)
        );
        assert_eq!(
            started_after("a.current.jsonl", "a.2026-11-25.0001.jsonl"),
            None
        );
    }

    #[test]
    fn unusable_prefixes_are_rejected() {
        for p in ["", ".hidden", "a/b", "a\0b"] {
            assert!(validate_prefix(p).is_err(), "{p:?}");
        }
        validate_prefix("audit").unwrap();
    }
}
