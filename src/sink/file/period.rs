//! Which rotation period an instant falls in, and when that period ends (UTC, unix seconds).

use super::config::Rotation;
use chrono::DateTime;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// Whole unix seconds of `t`; instants before 1970 count as the epoch (a clock that far off
/// should produce an obviously wrong name, not a panic).
pub(super) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

pub(super) fn from_unix_secs(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// First second of the period containing `secs`. `Never` periods are days, because the name of
/// a file that is never rotated by time still carries its creation date.
pub(super) fn period_start(rotation: Rotation, secs: i64) -> i64 {
    match rotation {
        Rotation::Minutely => floor(secs, MINUTE),
        Rotation::Hourly => floor(secs, HOUR),
        Rotation::Daily | Rotation::Never => floor(secs, DAY),
        // 1970-01-01 was a Thursday; Monday 1969-12-29 is 3 days earlier.
        Rotation::Weekly => floor(secs + 3 * DAY, WEEK) - 3 * DAY,
    }
}

/// First second after the period starting at `start`, or `None` if time never rotates.
pub(super) fn period_end(rotation: Rotation, start: i64) -> Option<i64> {
    let len = match rotation {
        Rotation::Minutely => MINUTE,
        Rotation::Hourly => HOUR,
        Rotation::Daily => DAY,
        Rotation::Weekly => WEEK,
        Rotation::Never => return None,
    };
    Some(start.saturating_add(len))
}

fn floor(secs: i64, unit: i64) -> i64 {
    secs - secs.rem_euclid(unit)
}

/// The stamp of the period starting at `start` (unix seconds, UTC).
pub(super) fn stamp(rotation: Rotation, start: i64) -> String {
    let format = match rotation {
        Rotation::Minutely => "%Y-%m-%dT%H-%M",
        Rotation::Hourly => "%Y-%m-%dT%H",
        Rotation::Daily | Rotation::Weekly | Rotation::Never => "%Y-%m-%d",
    };
    match DateTime::from_timestamp(start, 0) {
        Some(t) => t.format(format).to_string(),
        // Out of chrono's range (hundreds of thousands of years): still a valid, sortable name.
        None => "9999-12-31".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Utc, Weekday};

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap()
            .timestamp()
    }

    #[test]
    fn weekly_periods_start_on_monday_midnight_utc() {
        for secs in (0..2_000_000_000i64).step_by(3_333_331) {
            let start = period_start(Rotation::Weekly, secs);
            let dt = Utc.timestamp_opt(start, 0).unwrap();
            assert_eq!(dt.weekday(), Weekday::Mon, "{dt}");
            assert_eq!((dt.hour(), dt.minute(), dt.second()), (0, 0, 0));
            assert!(start <= secs && secs < period_end(Rotation::Weekly, start).unwrap());
        }
    }

    #[test]
    fn periods_contain_their_instant_and_end_on_the_boundary() {
        let t = at(2026, 11, 26, 5, 56, 7);
        assert_eq!(
            period_start(Rotation::Minutely, t),
            at(2026, 11, 26, 5, 56, 0)
        );
        assert_eq!(period_start(Rotation::Hourly, t), at(2026, 11, 26, 5, 0, 0));
        assert_eq!(period_start(Rotation::Daily, t), at(2026, 11, 26, 0, 0, 0));
        assert_eq!(period_start(Rotation::Weekly, t), at(2026, 11, 23, 0, 0, 0));
        assert_eq!(
            period_end(Rotation::Daily, at(2026, 11, 26, 0, 0, 0)),
            Some(at(2026, 11, 27, 0, 0, 0))
        );
        assert_eq!(period_end(Rotation::Never, t), None);
    }

    #[test]
    fn instants_before_the_epoch_do_not_panic() {
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(5)), 0);
        assert_eq!(period_start(Rotation::Weekly, 0), -3 * DAY);
    }

    #[test]
    fn names_sort_in_time_order_as_text_within_a_rotation() {
        use super::{period_end, period_start};
        for rotation in [
            Rotation::Minutely,
            Rotation::Hourly,
            Rotation::Daily,
            Rotation::Weekly,
        ] {
            // Consecutive periods from 2026-11-26 on, each with counters 1..=12.
            let mut start = period_start(rotation, 1_795_672_567);
            let mut in_time_order = Vec::new();
            for _ in 0..40 {
                for counter in 1..=12 {
                    in_time_order.push(crate::trail::naming::file_name(
                        "audit",
                        &stamp(rotation, start),
                        counter,
                    ));
                }
                start = period_end(rotation, start).unwrap();
            }
            let mut sorted = in_time_order.clone();
            sorted.sort();
            assert_eq!(sorted, in_time_order, "{rotation:?}");
        }
    }

    #[test]
    fn stamps_round_trip_to_their_period_start() {
        let start = 1_795_672_560; // 2026-11-26T05:56:00Z
        assert_eq!(stamp(Rotation::Minutely, start), "2026-11-26T05-56");
        let name = crate::trail::naming::file_name("a", &stamp(Rotation::Hourly, start), 1);
        let parsed = crate::trail::naming::parse("a", &name).unwrap();
        assert_eq!(parsed.start, period_start(Rotation::Hourly, start));
    }
}
