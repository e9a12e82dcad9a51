//! RFC 3339 timestamps in UTC with nanoseconds, formatted without allocation.
//!
//! The date and time-of-day part only changes once a second, so it is cached per thread and only
//! the nanoseconds are written per record.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of `2026-11-26T05:56:07.123456789Z`.
pub(crate) const RFC3339_LEN: usize = 30;

thread_local! {
    /// (unix second, formatted `YYYY-MM-DDTHH:MM:SS`) of the last timestamp this thread wrote.
    static LAST_SECOND: Cell<(i64, [u8; 19])> = const { Cell::new((i64::MIN, [0; 19])) };
}

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC, always nine fraction digits).
///
/// Times before 1970 are written as the epoch: the layer only stamps the present, and a clock that
/// far off is better shown as an obviously wrong value than turned into a panic.
pub(crate) fn write_rfc3339(t: SystemTime, out: &mut Vec<u8>) {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(_) => (0, 0),
    };
    // `try_with`: events may be emitted from a thread-local destructor.
    let head = LAST_SECOND
        .try_with(|cell| {
            let (cached_secs, cached) = cell.get();
            if cached_secs == secs {
                cached
            } else {
                let fresh = format_second(secs);
                cell.set((secs, fresh));
                fresh
            }
        })
        .unwrap_or_else(|_| format_second(secs));
    out.extend_from_slice(&head);
    out.push(b'.');
    let mut frac = [b'0'; 9];
    let mut n = nanos;
    for slot in frac.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&frac);
    out.push(b'Z');
}

fn format_second(unix_secs: i64) -> [u8; 19] {
    let days = unix_secs.div_euclid(86_400);
    let sod = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    let mut b = [0u8; 19];
    let y = y.clamp(0, 9999) as u32;
    b[0] = b'0' + (y / 1000) as u8;
    b[1] = b'0' + (y / 100 % 10) as u8;
    b[2] = b'0' + (y / 10 % 10) as u8;
    b[3] = b'0' + (y % 10) as u8;
    b[4] = b'-';
    two(&mut b[5..7], m as i64);
    b[7] = b'-';
    two(&mut b[8..10], d as i64);
    b[10] = b'T';
    two(&mut b[11..13], hh);
    b[13] = b':';
    two(&mut b[14..16], mm);
    b[16] = b':';
    two(&mut b[17..19], ss);
    b
}

fn two(slot: &mut [u8], v: i64) {
    slot[0] = b'0' + (v / 10) as u8;
    slot[1] = b'0' + (v % 10) as u8;
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A time in the records' canonical form (RFC 3339, UTC, nine fraction digits, so comparing
/// strings compares times): `ts` itself when it already is, else parsed; `None` when it is no
/// time this crate reads.
pub(crate) fn canonical(ts: &str) -> Option<String> {
    if is_canonical(ts.as_bytes()) {
        Some(ts.to_owned())
    } else {
        parse_nanos(ts).map(format_nanos)
    }
}

/// Length of a timestamp in canonical form.
pub(crate) const CANONICAL_LEN: usize = "2026-11-26T05:06:07.123456789Z".len();

/// Whether `ts` is already in the canonical form (so comparing strings compares times).
pub(crate) fn is_canonical(ts: &[u8]) -> bool {
    ts.len() == CANONICAL_LEN
        && ts[CANONICAL_LEN - 1] == b'Z'
        && ts[4] == b'-'
        && ts[10] == b'T'
        && ts[19] == b'.'
}

/// Nanoseconds since the Unix epoch of a time: RFC 3339 with any offset, or
/// `YYYY-MM-DD[THH:MM[:SS[.f]]]` in UTC (the forms `investigate::canonical_time` reads).
pub(crate) fn parse_nanos(s: &str) -> Option<i64> {
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
    let nanos = parsed?.timestamp_nanos_opt()?;
    (nanos >= 0).then_some(nanos)
}

/// The canonical form of a time given in nanoseconds since the epoch.
pub(crate) fn format_nanos(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos)
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use std::time::Duration;

    fn rfc3339(t: SystemTime) -> String {
        let mut out = Vec::new();
        write_rfc3339(t, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matches_chrono_for_many_instants() {
        for secs in (0..4_000_000_000u64).step_by(7_777_777) {
            let t = UNIX_EPOCH + Duration::new(secs, (secs % 1_000_000_000) as u32);
            let expect = DateTime::<Utc>::from(t)
                .format("%Y-%m-%dT%H:%M:%S%.9fZ")
                .to_string();
            assert_eq!(rfc3339(t), expect);
        }
    }

    #[test]
    fn cache_does_not_leak_between_seconds() {
        let a = UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999);
        let b = UNIX_EPOCH + Duration::new(1_700_000_001, 1);
        assert_eq!(rfc3339(a), "2023-11-14T22:13:20.999999999Z");
        assert_eq!(rfc3339(b), "2023-11-14T22:13:21.000000001Z");
    }
}
