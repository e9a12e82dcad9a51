//! What a search asks of a record, and the exact test on a parsed record that decides it.

use super::probe::Probe;
use crate::trail::time::CANONICAL_LEN;
pub(crate) use crate::trail::time::{format_nanos, is_canonical, parse_nanos};
use serde_json::Value;
use std::borrow::Cow;

/// Which records a search returns: every filter given must hold.
///
/// Field filters compare a record's top-level string field for equality; the time window
/// compares its `ts`. The answer is always decided on the parsed record
/// ([`Query::matches`]); the byte search a scan runs first only rules out lines that cannot
/// match.
///
/// | filter | default |
/// |---|---|
/// | actor, action, outcome, id | any |
/// | since (inclusive), until (exclusive) | unbounded |
/// | chain control records (genesis, seal, ...) | left out |
///
/// ```
/// use tracing_audit::investigate::Query;
///
/// let q = Query::new().actor("carol").since("2026-11-26T00:00:00Z").unwrap();
/// let rec = serde_json::json!({"ts":"2026-11-26T03:12:00.000000000Z","actor":"carol"});
/// assert!(q.matches(&rec));
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Query {
    pub(crate) actor: Option<String>,
    pub(crate) action: Option<String>,
    pub(crate) outcome: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) seq: Option<u64>,
    pub(crate) control: bool,
}

/// A time that is not RFC 3339 or `YYYY-MM-DD[THH:MM[:SS]]`.
#[derive(Debug)]
pub struct TimeError {
    input: String,
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not a time (use RFC 3339, or YYYY-MM-DD[THH:MM[:SS]] in UTC, from 1970 on)",
            self.input
        )
    }
}

impl std::error::Error for TimeError {}

impl Query {
    /// A query that matches every application record.
    pub fn new() -> Self {
        Query::default()
    }

    /// Only records whose `actor` is `a`.
    pub fn actor(mut self, a: impl Into<String>) -> Self {
        self.actor = Some(a.into());
        self
    }

    /// Only records whose `action` is `a`.
    pub fn action(mut self, a: impl Into<String>) -> Self {
        self.action = Some(a.into());
        self
    }

    /// Only records whose `outcome` is `o`.
    pub fn outcome(mut self, o: impl Into<String>) -> Self {
        self.outcome = Some(o.into());
        self
    }

    /// Only the records of one request: whose `correlation_id` or `trace_id` is `id`.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Only the audit record with sequence number `seq` (chain control records included).
    pub fn seq(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }

    /// Only records at or after `t` (RFC 3339, or `YYYY-MM-DD[THH:MM[:SS]]` in UTC).
    ///
    /// # Errors
    /// `t` is not such a time.
    pub fn since(mut self, t: &str) -> Result<Self, TimeError> {
        self.since = Some(canonical_time(t)?);
        Ok(self)
    }

    /// Only records before `t` (same forms as [`since`](Query::since)).
    ///
    /// # Errors
    /// `t` is not such a time.
    pub fn until(mut self, t: &str) -> Result<Self, TimeError> {
        self.until = Some(canonical_time(t)?);
        Ok(self)
    }

    /// Also return the chain's own records (genesis, seal, epoch_seal, checkpoint, repair, prune).
    pub fn include_control(mut self, yes: bool) -> Self {
        self.control = yes;
        self
    }

    /// Whether `v` is a record this query returns: the exact test every hit passes.
    pub fn matches(&self, v: &Value) -> bool {
        Probe::of_value(v).is_some_and(|p| self.matches_probe(&p))
    }

    /// [`matches`](Query::matches) on a line as written: `None` when it is not one JSON object.
    /// The same test, without building the parsed tree (see [`Probe`]).
    pub(crate) fn matches_line(&self, line: &[u8]) -> Option<bool> {
        Probe::read(line).map(|p| self.matches_probe(&p))
    }

    fn matches_probe(&self, p: &Probe<'_>) -> bool {
        if let Some(seq) = self.seq {
            if p.seq != Some(seq) {
                return false;
            }
        } else if !self.control && p.is_control() {
            return false;
        }
        let eq = |want: &Option<String>, have: &Option<Cow<'_, str>>| {
            want.as_deref().is_none_or(|w| have.as_deref() == Some(w))
        };
        if !(eq(&self.actor, &p.actor)
            && eq(&self.action, &p.action)
            && eq(&self.outcome, &p.outcome))
        {
            return false;
        }
        if let Some(id) = self.id.as_deref() {
            if p.correlation_id.as_deref() != Some(id) && p.trace_id.as_deref() != Some(id) {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(ts) = p.ts.as_deref().and_then(canonical_ts) else {
                return false;
            };
            if !self.in_window(&ts) {
                return false;
            }
        }
        true
    }

    /// Whether a canonical timestamp lies in the window.
    pub(crate) fn in_window(&self, ts: &str) -> bool {
        self.since.as_deref().is_none_or(|s| ts >= s)
            && self.until.as_deref().is_none_or(|u| ts < u)
    }

    /// The byte strings of which a matching line must contain at least the first: the most
    /// selective filter value as the JSON writer writes it, quotes included. `None` when no
    /// filter has a value whose written form is certain.
    pub(crate) fn needle(&self) -> Option<Vec<u8>> {
        let candidates = [&self.id, &self.actor, &self.action, &self.outcome];
        // The sequence number as the chain writes it; then the id (unique per request); then
        // the longest value.
        if let Some(seq) = self.seq {
            return Some(format!("\"seq\":{seq}").into_bytes());
        }
        if let Some(id) = self.id.as_deref().filter(|v| plain(v)) {
            return Some(quoted(id));
        }
        candidates
            .iter()
            .filter_map(|c| c.as_deref())
            .filter(|v| plain(v))
            .max_by_key(|v| v.len())
            .map(quoted)
    }
}

fn quoted(v: &str) -> Vec<u8> {
    let mut n = Vec::with_capacity(v.len() + 2);
    n.push(b'"');
    n.extend_from_slice(v.as_bytes());
    n.push(b'"');
    n
}

/// Whether `v` is written as itself inside a JSON string by this crate's writer and by
/// serde_json (nothing to escape), so that its bytes must appear verbatim in a line that holds it.
fn plain(v: &str) -> bool {
    !v.chars().any(|c| {
        matches!(c, '"' | '\\' | '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
    })
}

/// A chain control record (genesis, seal, epoch_seal, checkpoint, repair, prune).
pub fn is_control(v: &Value) -> bool {
    v.get("record").is_some() && v.get("seq").is_some()
}

/// A record's `ts` in canonical form (RFC 3339, UTC, nine fraction digits), whatever form it
/// was written in; `None` without a readable `ts`.
pub fn record_time(v: &Value) -> Option<String> {
    canonical_ts(v.get("ts")?.as_str()?).map(Cow::into_owned)
}

/// A `ts` value in canonical form, borrowed when it already is.
fn canonical_ts(ts: &str) -> Option<Cow<'_, str>> {
    if is_canonical(ts.as_bytes()) {
        Some(Cow::Borrowed(ts))
    } else {
        canonical_time(ts).ok().map(Cow::Owned)
    }
}

/// Reads a time (RFC 3339 with any offset, or `YYYY-MM-DD[THH:MM[:SS[.f]]]` in UTC) into the
/// records' own form: RFC 3339, UTC, nine fraction digits, so that comparing strings is
/// comparing times.
///
/// ```
/// use tracing_audit::investigate::canonical_time;
/// assert_eq!(canonical_time("2026-11-26T07:06:05.5+02:00").unwrap(), "2026-11-26T05:06:05.500000000Z");
/// ```
///
/// # Errors
/// `s` is none of these forms, or before 1970.
pub fn canonical_time(s: &str) -> Result<String, TimeError> {
    let nanos = parse_nanos(s).ok_or_else(|| TimeError {
        input: s.to_owned(),
    })?;
    Ok(format_nanos(nanos))
}

/// The `ts` of a line this crate wrote, read without parsing it: only when the line starts
/// with `{"ts":"` or `{"seq":N,"ts":"` and the time is canonical, so the answer is the one
/// [`record_time`] gives for the parsed line (the writer never repeats a key).
pub(crate) fn leading_ts(line: &[u8]) -> Option<&[u8]> {
    let rest = if let Some(r) = line.strip_prefix(b"{\"ts\":\"") {
        r
    } else {
        let r = line.strip_prefix(b"{\"seq\":")?;
        let digits = r.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        r[digits..].strip_prefix(b",\"ts\":\"")?
    };
    let ts = rest.get(..CANONICAL_LEN)?;
    (is_canonical(ts) && rest.get(CANONICAL_LEN) == Some(&b'"')).then_some(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_read_in_several_forms_and_compare_as_record_timestamps() {
        assert_eq!(
            canonical_time("2026-11-26").unwrap(),
            "2026-11-26T00:00:00.000000000Z"
        );
        assert_eq!(
            canonical_time("2026-11-26T05:06").unwrap(),
            "2026-11-26T05:06:00.000000000Z"
        );
        assert!(canonical_time("yesterday").is_err());
        assert!(canonical_time("1969-12-31").is_err());
    }

    #[test]
    fn filters_match_lifted_keys_ids_and_time_and_hide_control_records() {
        let rec = json!({"seq":3,"ts":"2026-11-26T05:00:00.000000000Z","actor":"alice","outcome":"failure","trace_id":"t1","correlation_id":"c1"});
        let seal = json!({"seq":4,"ts":"2026-11-26T05:00:00.000000000Z","record":"seal"});
        let q = Query::new()
            .actor("alice")
            .since("2026-11-26T04:00")
            .unwrap()
            .until("2026-11-26T05:00:00.000000001Z")
            .unwrap();
        assert!(q.matches(&rec));
        assert!(!Query::new().matches(&seal));
        assert!(Query::new().include_control(true).matches(&seal));
        assert!(Query::new().id("t1").matches(&rec));
        assert!(Query::new().id("c1").matches(&rec));
        assert!(!Query::new().id("alice").matches(&rec));
        assert!(!Query::new()
            .until("2026-11-26T05:00")
            .unwrap()
            .matches(&rec));
    }

    #[test]
    fn the_needle_is_a_quoted_value_only_when_its_bytes_are_certain() {
        assert_eq!(
            Query::new().actor("al").action("read").needle().unwrap(),
            b"\"read\""
        );
        assert_eq!(
            Query::new().actor("alice").id("c1").needle().unwrap(),
            b"\"c1\""
        );
        assert_eq!(Query::new().actor("a\"b").needle(), None);
        assert_eq!(
            Query::new().actor("é").needle().unwrap(),
            "\"é\"".as_bytes()
        );
        assert_eq!(Query::new().needle(), None);
    }

    #[test]
    fn the_leading_timestamp_is_read_only_from_the_writers_own_shape() {
        let ts = b"2026-11-26T05:00:00.000000000Z";
        let a = br#"{"seq":12,"ts":"2026-11-26T05:00:00.000000000Z","x":1}"#;
        let b = br#"{"ts":"2026-11-26T05:00:00.000000000Z","x":1}"#;
        assert_eq!(leading_ts(a), Some(&ts[..]));
        assert_eq!(leading_ts(b), Some(&ts[..]));
        assert_eq!(
            leading_ts(br#"{"x":1,"ts":"2026-11-26T05:00:00.000000000Z"}"#),
            None
        );
        assert_eq!(leading_ts(br#"{"ts":"2026-11-26T05:00:00Z"}"#), None);
    }
}
