//! Reading the records of a trail directory (rotated and gzipped files) and filtering them.

use super::progress::Progress;
use super::{out_line, CliError, Filters};
use serde_json::Value;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use tracing_audit::trail::Trail;

/// Parses `--since`/`--until` into the records' own timestamp form (RFC 3339 UTC, nanoseconds),
/// so that comparing is comparing strings.
pub(super) fn parse_time(s: &str) -> Result<String, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    let parsed: Option<DateTime<Utc>> = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M:%S",
            ]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .map(|t| t.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        });
    let t = parsed.ok_or_else(|| {
        format!("{s:?} is not a time (use RFC 3339, or YYYY-MM-DD[THH:MM[:SS]] in UTC)")
    })?;
    let nanos = t.timestamp_nanos_opt().ok_or("time out of range")?;
    if nanos < 0 {
        return Err("times before 1970 are not supported".to_owned());
    }
    Ok(canonical(nanos))
}

/// The records' own timestamp form: RFC 3339, UTC, nine fraction digits.
fn canonical(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos)
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

/// Length of a timestamp in [`canonical`] form.
const CANONICAL_LEN: usize = "2026-11-26T05:06:07.123456789Z".len();

/// A record's timestamp in the canonical form, whatever form it was written in.
pub(super) fn ts_of(v: &Value) -> Option<String> {
    let ts = v.get("ts")?.as_str()?;
    if ts.len() == CANONICAL_LEN && ts.ends_with('Z') {
        Some(ts.to_owned())
    } else {
        parse_time(ts).ok()
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A chain control record (genesis, seal, checkpoint, repair).
pub(super) fn is_control(v: &Value) -> bool {
    v.get("record").is_some() && v.get("seq").is_some()
}

impl Filters {
    pub(super) fn matches(&self, v: &Value) -> bool {
        if !self.all && is_control(v) {
            return false;
        }
        let eq = |want: &Option<String>, key: &str| {
            want.as_deref().is_none_or(|w| str_field(v, key) == Some(w))
        };
        if !(eq(&self.actor, "actor") && eq(&self.action, "action") && eq(&self.outcome, "outcome"))
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(ts) = ts_of(v) else {
                return false;
            };
            if self.since.as_ref().is_some_and(|s| ts < *s)
                || self.until.as_ref().is_some_and(|u| ts >= *u)
            {
                return false;
            }
        }
        true
    }
}

/// The trail in `dir`.
pub(super) fn open_trail(dir: &Path, prefix: Option<&str>) -> Result<Trail, CliError> {
    Ok(Trail::open(dir, prefix)?)
}

/// Calls `f` with every complete line of the trail that parses as a JSON object, in file order,
/// until it returns `false`. A torn last line is never shown as a record.
pub(super) fn each_record(
    dir: &Path,
    prefix: Option<&str>,
    label: &'static str,
    mut f: impl FnMut(&[u8], &Value) -> Result<bool, CliError>,
) -> Result<(), CliError> {
    let trail = open_trail(dir, prefix)?;
    let total = trail.files().len();
    let mut progress = Progress::new(label);
    let mut bytes = 0;
    let mut done = 0;
    let mut current: Option<String> = None;
    let mut failure = None;
    trail.for_each_line(|file, line| {
        if current.as_deref() != Some(file.name()) {
            if current.is_some() {
                done += 1;
                progress.update(done, total, bytes);
            }
            bytes += file.len_on_disk();
            current = Some(file.name().to_owned());
        }
        if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(line) {
            match f(line, &v) {
                Ok(true) => {}
                Ok(false) => return ControlFlow::Break(()),
                Err(e) => {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    progress.update(total, total, bytes);
    Ok(())
}

/// `tracing-audit query DIR [filters]`.
pub(super) fn query(dir: PathBuf, filters: Filters) -> Result<u8, CliError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    each_record(&dir, filters.prefix.as_deref(), "querying", |line, v| {
        if filters.matches(v) {
            out_line(&mut out, line)
        } else {
            Ok(true)
        }
    })?;
    match std::io::Write::flush(&mut out) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_read_in_several_forms_and_compare_as_record_timestamps() {
        assert_eq!(
            parse_time("2026-11-26").unwrap(),
            "2026-11-26T00:00:00.000000000Z"
        );
        assert_eq!(
            parse_time("2026-11-26T05:06").unwrap(),
            "2026-11-26T05:06:00.000000000Z"
        );
        assert_eq!(
            parse_time("2026-11-26T07:06:05.5+02:00").unwrap(),
            "2026-11-26T05:06:05.500000000Z"
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn filters_match_lifted_keys_and_time_range_and_hide_control_records() {
        let rec = json!({"seq":3,"ts":"2026-11-26T05:00:00.000000000Z","actor":"alice","action":"login","outcome":"failure"});
        let seal = json!({"seq":4,"ts":"2026-11-26T05:00:00.000000000Z","record":"seal"});
        let f = Filters {
            actor: Some("alice".into()),
            since: Some(parse_time("2026-11-26T04:00").unwrap()),
            until: Some(parse_time("2026-11-26T05:00:00.000000001Z").unwrap()),
            ..Filters::default()
        };
        assert!(f.matches(&rec));
        assert!(!Filters::default().matches(&seal));
        assert!(Filters {
            all: true,
            ..Filters::default()
        }
        .matches(&seal));
        assert!(!Filters {
            outcome: Some("success".into()),
            ..Filters::default()
        }
        .matches(&rec));
        let late = Filters {
            until: Some(parse_time("2026-11-26T05:00").unwrap()),
            ..Filters::default()
        };
        assert!(!late.matches(&rec), "until is exclusive");
    }
}
