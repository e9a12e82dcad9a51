//! What happened in a time window, by actor and outcome, and the accesses that look like the
//! start of an incident: outside working hours, from an address or on a class of resource the
//! actor never used before, bursts of denials.

use super::query::{is_control, parse_nanos, record_time};
use crate::trail::Visible;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;

/// How a [`Report`] is made.
///
/// | setting | default |
/// |---|---|
/// | window | unbounded (records before `since` are history: they make addresses and resource classes known, and are not counted) |
/// | working hours | 08:00-18:00 |
/// | time zone | UTC (see [`ReportOptions::time_zone`]: a fixed offset such as `+02:00`, or with feature `tz` a named zone such as `Europe/Berlin`) |
/// | burst | 5 denied or failed records of one actor within 60 s |
///
/// ```
/// use tracing_audit::investigate::ReportOptions;
/// let opts = ReportOptions::new().working_hours("08:00-18:00").unwrap().utc_offset("+02:00").unwrap();
/// let mut r = opts.start();
/// r.add(&serde_json::json!({"ts":"2026-11-26T01:12:00.000000000Z","actor":"carol","action":"read","resource":"/payroll/2026-11","outcome":"success","correlation_id":"c5"}));
/// let report = r.finish();
/// assert_eq!(report.flags()[0].correlation_ids(), ["c5"]);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ReportOptions {
    since: Option<String>,
    until: Option<String>,
    /// Minutes after local midnight.
    hours: (u32, u32),
    zone: Zone,
    burst: usize,
    burst_nanos: i64,
}

/// An argument of [`ReportOptions`] that cannot be read.
#[derive(Debug)]
pub struct ReportOptionError {
    message: String,
}

impl fmt::Display for ReportOptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReportOptionError {}

fn bad(message: String) -> ReportOptionError {
    ReportOptionError { message }
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions::new()
    }
}

impl ReportOptions {
    /// The defaults in the table above.
    pub fn new() -> Self {
        ReportOptions {
            since: None,
            until: None,
            hours: (8 * 60, 18 * 60),
            zone: Zone::Fixed(0),
            burst: 5,
            burst_nanos: 60_000_000_000,
        }
    }

    /// Count and flag records at or after `t` (RFC 3339 or `YYYY-MM-DD[THH:MM[:SS]]` UTC).
    ///
    /// # Errors
    /// `t` is not such a time.
    pub fn since(mut self, t: &str) -> Result<Self, ReportOptionError> {
        self.since = Some(super::canonical_time(t).map_err(|e| bad(e.to_string()))?);
        Ok(self)
    }

    /// Count and flag records before `t`.
    ///
    /// # Errors
    /// `t` is not such a time.
    pub fn until(mut self, t: &str) -> Result<Self, ReportOptionError> {
        self.until = Some(super::canonical_time(t).map_err(|e| bad(e.to_string()))?);
        Ok(self)
    }

    /// Working hours as `HH:MM-HH:MM` in the report's time zone; a range that wraps midnight
    /// (`22:00-06:00`) is a night shift.
    ///
    /// # Errors
    /// Not of that form.
    pub fn working_hours(mut self, range: &str) -> Result<Self, ReportOptionError> {
        let parse = |s: &str| -> Option<u32> {
            let (h, m) = s.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
        };
        let err = || bad(format!("{range:?} is not working hours (HH:MM-HH:MM)"));
        let (a, b) = range.split_once('-').ok_or_else(err)?;
        self.hours = (parse(a).ok_or_else(err)?, parse(b).ok_or_else(err)?);
        Ok(self)
    }

    /// The time zone of the working hours, as a fixed offset from UTC: `UTC`, `Z`, `+02:00`,
    /// `-0530`. A fixed offset does not follow daylight saving time; [`time_zone`] takes a
    /// named zone that does.
    ///
    /// [`time_zone`]: ReportOptions::time_zone
    ///
    /// # Errors
    /// Not a fixed offset.
    pub fn utc_offset(mut self, zone: &str) -> Result<Self, ReportOptionError> {
        self.zone = Zone::Fixed(parse_offset(zone).ok_or_else(|| {
            bad(format!(
                "{zone:?} is not a fixed UTC offset (UTC, Z, +02:00, -05:30)"
            ))
        })?);
        Ok(self)
    }

    /// The time zone of the working hours: a fixed offset (as [`utc_offset`] reads it) or,
    /// with the `tz` feature (the CLI has it), a name from the IANA time zone database
    /// (`Europe/Berlin`, `America/New_York`), whose offset is taken at each record's time, so
    /// working hours follow daylight saving time. The database is compiled in (chrono-tz), so
    /// a host without `/usr/share/zoneinfo` reads the same.
    ///
    /// [`utc_offset`]: ReportOptions::utc_offset
    ///
    /// ```
    /// # use tracing_audit::investigate::ReportOptions;
    /// let opts = ReportOptions::new().time_zone("+01:00").unwrap();
    /// # #[cfg(feature = "tz")]
    /// let opts = ReportOptions::new().time_zone("Europe/Berlin").unwrap();
    /// ```
    ///
    /// # Errors
    /// Neither a fixed offset nor (with `tz`) a known zone name.
    pub fn time_zone(mut self, zone: &str) -> Result<Self, ReportOptionError> {
        if let Some(secs) = parse_offset(zone) {
            self.zone = Zone::Fixed(secs);
            return Ok(self);
        }
        #[cfg(feature = "tz")]
        {
            let named: chrono_tz::Tz = zone.trim().parse().map_err(|_| {
                bad(format!(
                    "{zone:?} is neither a fixed UTC offset (UTC, +02:00, -05:30) nor a time zone name (Europe/Berlin)"
                ))
            })?;
            self.zone = Zone::Named(named);
            Ok(self)
        }
        #[cfg(not(feature = "tz"))]
        Err(bad(format!(
            "{zone:?} is not a fixed UTC offset (UTC, +02:00, -05:30); named zones need the `tz` feature"
        )))
    }

    /// A burst is `count` denied or failed records of one actor within `seconds`.
    pub fn burst(mut self, count: usize, seconds: u64) -> Self {
        self.burst = count.max(2);
        self.burst_nanos = i64::try_from(seconds.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX);
        self
    }

    /// A report in the making: [`add`](ReportBuilder::add) records in trail order.
    pub fn start(self) -> ReportBuilder {
        ReportBuilder {
            opts: self,
            report: Report::default(),
            known: HashMap::new(),
            denials: HashMap::new(),
        }
    }
}

/// The zone working hours are read in.
#[derive(Clone, Copy, Debug)]
enum Zone {
    /// Seconds east of UTC.
    Fixed(i32),
    #[cfg(feature = "tz")]
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Seconds east of UTC in force at `utc_secs` (Unix time).
    fn offset_at(self, utc_secs: i64) -> i32 {
        let _ = utc_secs; // Only named zones depend on the time.
        match self {
            Zone::Fixed(secs) => secs,
            #[cfg(feature = "tz")]
            Zone::Named(tz) => {
                use chrono::{Offset, TimeZone};
                chrono::DateTime::from_timestamp(utc_secs, 0)
                    .map(|t| {
                        tz.offset_from_utc_datetime(&t.naive_utc())
                            .fix()
                            .local_minus_utc()
                    })
                    .unwrap_or(0)
            }
        }
    }

    /// How the zone is named in a flag: `UTC+02:00`, or `Europe/Berlin, UTC+02:00` with the
    /// offset in force then.
    fn describe(self, offset: i32) -> String {
        match self {
            Zone::Fixed(_) => format!("UTC{}", offset_text(offset)),
            #[cfg(feature = "tz")]
            Zone::Named(tz) => format!("{}, UTC{}", tz.name(), offset_text(offset)),
        }
    }
}

fn parse_offset(zone: &str) -> Option<i32> {
    let z = zone.trim();
    if z.eq_ignore_ascii_case("utc") || z == "Z" || z.eq_ignore_ascii_case("gmt") {
        return Some(0);
    }
    let z = z.strip_prefix("UTC").unwrap_or(z);
    let (sign, rest) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !(digits.len() == 2 || digits.len() == 4) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// What each actor was seen doing, for first-use flags.
#[derive(Default)]
struct Known {
    addresses: HashSet<String>,
    classes: HashSet<String>,
    /// The local day of the actor's first record: what they do that day is their baseline.
    first_day: Option<i64>,
}

/// Builds a [`Report`] from records given in trail order.
#[derive(Debug)]
pub struct ReportBuilder {
    opts: ReportOptions,
    report: Report,
    known: HashMap<String, Known>,
    denials: HashMap<String, VecDeque<(i64, String)>>,
}

impl fmt::Debug for Known {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Known")
            .field("first_day", &self.first_day)
            .finish_non_exhaustive()
    }
}

/// Counts and flags for a time window.
#[derive(Debug, Default)]
pub struct Report {
    since: Option<String>,
    until: Option<String>,
    records: u64,
    actors: BTreeMap<String, ActorSummary>,
    flags: Vec<Flag>,
}

/// One actor's activity in the window.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct ActorSummary {
    /// Records by (action, outcome).
    pub actions: BTreeMap<(String, String), u64>,
    /// Records with a denied outcome (`denied`, `deny`, `rejected`).
    pub denied: u64,
    /// Records with a failed outcome (`failure`, `failed`, `error`).
    pub failed: u64,
}

/// Why a record was flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlagKind {
    /// At a local time outside the working hours.
    OutsideWorkingHours,
    /// From a source address the actor had not used before. An actor's first day (local time,
    /// in or before the window) is their baseline and is not flagged.
    NewSourceAddress,
    /// On a class of resource (`/payroll` for `/payroll/2026-11`) the actor had not used
    /// before (after their first day, as for addresses).
    NewResourceClass,
    /// Many denied or failed records of one actor within a short time.
    DenialBurst,
}

impl FlagKind {
    /// The name used in the JSON form.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::OutsideWorkingHours => "outside_working_hours",
            FlagKind::NewSourceAddress => "new_source_address",
            FlagKind::NewResourceClass => "new_resource_class",
            FlagKind::DenialBurst => "denial_burst",
        }
    }
}

/// One suspicious thing, with the requests behind it.
#[derive(Debug, Clone)]
pub struct Flag {
    kind: FlagKind,
    actor: String,
    ts: String,
    detail: String,
    ids: Vec<String>,
}

impl Flag {
    /// Why.
    pub fn kind(&self) -> FlagKind {
        self.kind
    }
    /// Whose.
    pub fn actor(&self) -> &str {
        &self.actor
    }
    /// When (the record's `ts`; the first record's for a burst).
    pub fn ts(&self) -> &str {
        &self.ts
    }
    /// What, in words.
    pub fn detail(&self) -> &str {
        &self.detail
    }
    /// The correlation ids of the records behind it, for `correlate` and `timeline`.
    pub fn correlation_ids(&self) -> &[String] {
        &self.ids
    }
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// The source address: the record's own, else the innermost span's.
fn source_address(v: &Value) -> Option<&str> {
    s(v, "src_ip").or_else(|| {
        v.get("spans")?
            .as_array()?
            .iter()
            .rev()
            .find_map(|sp| sp.get("fields")?.get("src_ip")?.as_str())
    })
}

/// `/payroll` for `/payroll/2026-11`, `s3` for `s3:bucket/key`, else the resource itself.
fn resource_class(r: &str) -> String {
    if let Some(rest) = r.strip_prefix('/') {
        return format!("/{}", rest.split('/').next().unwrap_or(""));
    }
    match r.split_once(':') {
        Some((scheme, _)) if !scheme.is_empty() => scheme.to_owned(),
        _ => r.to_owned(),
    }
}

impl ReportBuilder {
    /// Adds one record (any record: chain control records and records outside the window are
    /// taken into account as they should be).
    pub fn add(&mut self, v: &Value) {
        if !v.is_object() || is_control(v) {
            return;
        }
        let Some(ts) = record_time(v) else { return };
        if self.opts.until.as_deref().is_some_and(|u| ts.as_str() >= u) {
            return;
        }
        let actor = s(v, "actor").unwrap_or("(no actor)").to_owned();
        let address = source_address(v).map(str::to_owned);
        let class = s(v, "resource").map(resource_class);
        let in_window = self
            .opts
            .since
            .as_deref()
            .is_none_or(|since| ts.as_str() >= since);
        let id = s(v, "correlation_id").unwrap_or("").to_owned();
        let known = self.known.entry(actor.clone()).or_default();
        let nanos = parse_nanos(&ts).unwrap_or(0);
        let utc_secs = nanos.div_euclid(1_000_000_000);
        let offset = self.opts.zone.offset_at(utc_secs);
        let local = utc_secs + i64::from(offset);
        let day = local.div_euclid(86_400);
        if in_window {
            self.report.records += 1;
            let outcome = s(v, "outcome").unwrap_or("-").to_owned();
            let sum = self.report.actors.entry(actor.clone()).or_default();
            let action = s(v, "action").unwrap_or("-").to_owned();
            *sum.actions.entry((action, outcome.clone())).or_default() += 1;
            let o = outcome.to_ascii_lowercase();
            let denied = matches!(o.as_str(), "denied" | "deny" | "rejected");
            let failed = matches!(o.as_str(), "failure" | "failed" | "error");
            sum.denied += u64::from(denied);
            sum.failed += u64::from(failed);
            let mut flag = |kind, detail: String, ids: Vec<String>, at: &str| {
                self.report.flags.push(Flag {
                    kind,
                    actor: actor.clone(),
                    ts: at.to_owned(),
                    detail,
                    ids,
                });
            };
            let minute = (local.rem_euclid(86_400) / 60) as u32;
            let (start, end) = self.opts.hours;
            let working = if start <= end {
                minute >= start && minute < end
            } else {
                minute >= start || minute < end
            };
            if !working && actor != "(no actor)" {
                flag(
                    FlagKind::OutsideWorkingHours,
                    format!(
                        "at {:02}:{:02} local (working hours {:02}:{:02}-{:02}:{:02}, {})",
                        minute / 60,
                        minute % 60,
                        start / 60,
                        start % 60,
                        end / 60,
                        end % 60,
                        self.opts.zone.describe(offset)
                    ),
                    vec![id.clone()],
                    &ts,
                );
            }
            if known.first_day.is_some_and(|d| d < day) {
                if let Some(a) = address.as_deref().filter(|a| !known.addresses.contains(*a)) {
                    flag(
                        FlagKind::NewSourceAddress,
                        format!("first use of address {a}"),
                        vec![id.clone()],
                        &ts,
                    );
                }
                if let Some(c) = class.as_deref().filter(|c| !known.classes.contains(*c)) {
                    flag(
                        FlagKind::NewResourceClass,
                        format!("first use of resource class {c}"),
                        vec![id.clone()],
                        &ts,
                    );
                }
            }
            if denied || failed {
                let q = self.denials.entry(actor.clone()).or_default();
                q.push_back((nanos, id.clone()));
                while q
                    .front()
                    .is_some_and(|(t, _)| nanos - t > self.opts.burst_nanos)
                {
                    q.pop_front();
                }
                if q.len() >= self.opts.burst {
                    let ids: Vec<String> = q.iter().map(|(_, i)| i.clone()).collect();
                    let first = q.front().map_or(nanos, |(t, _)| *t);
                    flag(
                        FlagKind::DenialBurst,
                        format!(
                            "{} denied or failed within {} s",
                            ids.len(),
                            (nanos - first) / 1_000_000_000
                        ),
                        ids,
                        &super::query::format_nanos(first),
                    );
                    q.clear();
                }
            }
        }
        known.first_day.get_or_insert(day);
        if let Some(a) = address {
            known.addresses.insert(a);
        }
        if let Some(c) = class {
            known.classes.insert(c);
        }
    }

    /// The report.
    pub fn finish(mut self) -> Report {
        self.report.since = self.opts.since;
        self.report.until = self.opts.until;
        self.report.flags.sort_by(|a, b| a.ts.cmp(&b.ts));
        self.report
    }
}

fn offset_text(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
}

impl Report {
    /// The flags, oldest first.
    pub fn flags(&self) -> &[Flag] {
        &self.flags
    }

    /// Activity by actor.
    pub fn actors(&self) -> &BTreeMap<String, ActorSummary> {
        &self.actors
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let actors: serde_json::Map<String, Value> = self
            .actors
            .iter()
            .map(|(actor, sum)| {
                let actions: Vec<Value> = sum
                    .actions
                    .iter()
                    .map(|((a, o), n)| json!({"action": a, "outcome": o, "count": n}))
                    .collect();
                (
                    actor.clone(),
                    json!({"actions": actions, "denied": sum.denied, "failed": sum.failed}),
                )
            })
            .collect();
        let flags: Vec<Value> = self
            .flags
            .iter()
            .map(|f| {
                json!({
                    "kind": f.kind.as_str(),
                    "actor": f.actor,
                    "ts": f.ts,
                    "detail": f.detail,
                    "correlation_ids": f.ids,
                })
            })
            .collect();
        json!({
            "since": self.since,
            "until": self.until,
            "records": self.records,
            "actors": actors,
            "flags": flags,
        })
    }
}

/// Text for the terminal. Every value from a record is shown through
/// [`Visible`](crate::trail::Visible): control, bidi and invisible characters escaped, so a
/// record can neither draw over the report nor reverse what an actor or resource reads as.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} records from {} until {}",
            self.records,
            Visible::str(self.since.as_deref().unwrap_or("the start")),
            Visible::str(self.until.as_deref().unwrap_or("the end"))
        )?;
        writeln!(f, "\nactions by actor and outcome:")?;
        for (actor, sum) in &self.actors {
            writeln!(
                f,
                "  {}: {} denied, {} failed",
                Visible::str(actor),
                sum.denied,
                sum.failed
            )?;
            for ((action, outcome), n) in &sum.actions {
                writeln!(
                    f,
                    "    {:<20} {:<10} {n}",
                    Visible::str(action),
                    Visible::str(outcome)
                )?;
            }
        }
        if self.flags.is_empty() {
            return writeln!(f, "\nflags: none");
        }
        writeln!(f, "\nflags ({}):", self.flags.len())?;
        for flag in &self.flags {
            writeln!(
                f,
                "  {} {} {}: {} [correlation_id {}]",
                Visible::str(&flag.ts),
                flag.kind.as_str(),
                Visible::str(&flag.actor),
                Visible::str(&flag.detail),
                Visible::str(&flag.ids.join(", "))
            )?;
        }
        writeln!(
            f,
            "\nfollow a flag: tracing-audit correlate --audit DIR --debug DIR <correlation_id>, or timeline ... --html out.html"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: &str, actor: &str, outcome: &str, id: &str) -> Value {
        json!({"ts": ts, "actor": actor, "action": "login", "resource": "session", "outcome": outcome, "src_ip": "10.0.0.1", "correlation_id": id})
    }

    #[test]
    fn five_denials_within_a_minute_are_one_burst_linking_all_five() {
        let mut r = ReportOptions::new().start();
        for i in 0..7 {
            r.add(&rec(
                &format!("2026-11-26T10:00:{:02}.000000000Z", i * 5),
                "eve",
                "denied",
                &format!("c{i}"),
            ));
        }
        r.add(&rec(
            "2026-11-26T10:05:00.000000000Z",
            "eve",
            "denied",
            "late",
        ));
        let report = r.finish();
        let bursts: Vec<_> = report
            .flags()
            .iter()
            .filter(|f| f.kind() == FlagKind::DenialBurst)
            .collect();
        assert_eq!(bursts.len(), 1, "{bursts:?}");
        assert_eq!(bursts[0].correlation_ids(), ["c0", "c1", "c2", "c3", "c4"]);
        assert_eq!(report.actors()["eve"].denied, 8);
    }

    #[test]
    fn offsets_and_hours_are_read() {
        assert_eq!(parse_offset("+02:00"), Some(7200));
        assert_eq!(parse_offset("-0530"), Some(-19800));
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("Europe/Berlin"), None);
        assert!(ReportOptions::new().utc_offset("Europe/Berlin").is_err());
        assert!(ReportOptions::new().time_zone("Mars/Olympus_Mons").is_err());
        assert_eq!(
            ReportOptions::new().time_zone("Europe/Berlin").is_ok(),
            cfg!(feature = "tz")
        );
        assert!(ReportOptions::new().working_hours("8-18").is_err());
        assert!(ReportOptions::new().working_hours("22:00-06:00").is_ok());
        assert_eq!(resource_class("/payroll/2026-11"), "/payroll");
        assert_eq!(resource_class("s3:bucket/k"), "s3");
        assert_eq!(resource_class("session"), "session");
    }

    /// Working hours in a named zone follow daylight saving time: 07:30 UTC is 08:30 in Berlin
    /// in winter (inside 08:00-18:00) and 09:30 in summer; 06:30 UTC is 07:30 in winter
    /// (outside) but 08:30 in summer (inside). A fixed +01:00 gets summer wrong.
    #[cfg(feature = "tz")]
    #[test]
    fn a_named_zone_follows_daylight_saving_time() {
        let outside = |zone: &str, ts: &str| {
            let mut r = ReportOptions::new().time_zone(zone).unwrap().start();
            r.add(&json!({"ts": ts, "actor":"carol","action":"read","resource":"/payroll","outcome":"success","correlation_id":"c1"}));
            let report = r.finish();
            report
                .flags()
                .iter()
                .find(|f| f.kind() == FlagKind::OutsideWorkingHours)
                .map(|f| f.detail().to_owned())
        };
        let winter = "2026-01-15T06:30:00.000000000Z";
        let summer = "2026-07-15T06:30:00.000000000Z";
        let flag = outside("Europe/Berlin", winter).expect("07:30 in Berlin in winter");
        assert!(
            flag.contains("07:30 local") && flag.contains("Europe/Berlin, UTC+01:00"),
            "{flag}"
        );
        assert_eq!(
            outside("Europe/Berlin", summer),
            None,
            "08:30 in Berlin in summer"
        );
        assert!(
            outside("+01:00", summer).is_some(),
            "a fixed offset does not follow DST"
        );
        // The day changes with the zone too: 23:30 UTC on 31 Dec is 00:30 in Berlin.
        assert!(outside("Europe/Berlin", "2026-12-31T23:30:00.000000000Z").is_some());
    }
}
