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
