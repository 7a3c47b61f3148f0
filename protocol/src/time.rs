//! Time on the wire is Unix seconds (UTC); the dates people read and sign are Belgian:
//! `YYYY-MM-DD` in Europe/Brussels local time.
//!
//! A consent runs from the instant it is signed until the end (23:59:59, Brussels) of the
//! date it names as its last: the end date is inclusive. It may last at most one calendar
//! year: its last date is at latest the day before the same date a year later
//! ([`max_valid_until`]).
//!
//! The time-zone rules come from the IANA database compiled into the binary (jiff's
//! bundled copy), never from the system's `/usr/share/zoneinfo` or `TZ`: the server and
//! every client must compute the same dates, and so the same consent text and its hash.

use jiff::civil::{Date, Time};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{Timestamp, tz};
use std::sync::OnceLock;

pub const DAY_SECS: i64 = 24 * 3600;

/// The zone every consent date is shown and computed in.
pub const ZONE: &str = "Europe/Brussels";

/// Brussels' rule since 1996 (CET, CEST from the last Sunday of March 02:00 to the last
/// Sunday of October 03:00), used only if the bundled database lacked the zone.
const BRUSSELS_POSIX: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

fn brussels() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| {
        TimeZoneDatabase::bundled()
            .get(ZONE)
            .or_else(|_| TimeZone::posix(BRUSSELS_POSIX))
            .unwrap_or_else(|_| TimeZone::fixed(tz::offset(1)))
    })
}

/// Parses a calendar date written exactly `YYYY-MM-DD` (surrounding spaces ignored).
pub fn parse_date(s: &str) -> Option<Date> {
    let mut parts = s.trim().split('-');
    let mut part = |len: usize| -> Option<i64> {
        let p = parts.next()?;
        if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let (y, m, d) = (part(4)?, part(2)?, part(2)?);
    if parts.next().is_some() {
        return None;
    }
    Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()
}

/// The last second (23:59:59) of `d` in Brussels, as Unix seconds: the instant before
/// the next day starts there, so it is right on the days the clocks change.
///
/// A date too far in the future for the time-zone arithmetic (around the year 9999) gives
/// `i64::MAX`, which no consent accepts as an end.
pub fn end_of_day(d: Date) -> i64 {
    end_of_day_checked(d).unwrap_or(i64::MAX)
}

fn end_of_day_checked(d: Date) -> Option<i64> {
    let tz = brussels();
    let next_day = d.tomorrow().ok()?.to_datetime(Time::midnight());
    // `compatible`: if midnight were skipped, the day starts at the end of the gap; if
    // it were repeated, at its first occurrence.
    let start = tz.to_ambiguous_timestamp(next_day).compatible().ok()?;
    start.as_second().checked_sub(1)
}

/// The Brussels local date of the instant `ts`, if `ts` is within the years ±9999: the
/// date people read (the web client writes it out in words in their language).
pub fn local_date(ts: i64) -> Option<Date> {
    Timestamp::from_second(ts)
        .ok()
        .map(|t| brussels().to_datetime(t).date())
}

/// The latest end a consent that starts at `valid_from` may have: the last second (in
/// Brussels) of the day before the same calendar date one year later. A consent signed on
/// 2026-12-02 at 10:00 may run until 2027-12-01 23:59:59 at most; counted in days, that is
/// 365 days, or 366 when the year contains a 29 February.
///
/// A consent starting on 29 February ends at latest on 27 February of the next year: a
/// year after 29 February is taken as 28 February (the last day of that February, as
/// jiff, Temporal and most calendars do), and the consent ends the day before. The other
/// choice (1 March, ending 28 February) would let it run one day longer than the
/// consent starting on 28 February; a patient loses at most one day, never gains one.
///
/// A start outside the years ±9999 (only a forged or broken consent has one) gives
/// `i64::MIN`: no end is then acceptable.
pub fn max_valid_until(valid_from: i64) -> i64 {
    max_valid_until_checked(valid_from).unwrap_or(i64::MIN)
}

fn max_valid_until_checked(valid_from: i64) -> Option<i64> {
    let from = local_date(valid_from)?;
    let day = if from.month() == 2 && from.day() == 29 {
        28
    } else {
        from.day()
    };
    let anniversary = Date::new(from.year().checked_add(1)?, from.month(), day).ok()?;
    end_of_day_checked(anniversary.yesterday().ok()?)
}

/// The end a consent gets when the patient names none: the longest allowed.
pub fn default_valid_until(valid_from: i64) -> i64 {
    max_valid_until(valid_from)
}

/// `YYYY-MM-DD HH:MM CET` (or `CEST`): Brussels local time, for people.
pub fn format_ts(ts: i64) -> String {
    let Ok(t) = Timestamp::from_second(ts) else {
        return ts.to_string();
    };
    let tz = brussels();
    let dt = tz.to_datetime(t);
    let info = tz.to_offset_info(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} {}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        info.abbreviation()
    )
}

/// `YYYY-MM-DD`: the Brussels local date of `ts`, for people.
pub fn format_date(ts: i64) -> String {
    match local_date(ts) {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        None => ts.to_string(),
    }
}

/// Unix seconds now: the one place the system reads the clock. Decisions never call it;
/// they take the time as a fact (`at`), so they stay pure and testable.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    /// Unix seconds of a UTC date and time.
    fn utc(y: i16, m: i8, d: i8, h: i8, min: i8, s: i8) -> i64 {
        date(y, m, d)
            .at(h, min, s, 0)
            .to_zoned(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_second()
    }

    #[test]
    fn the_zone_is_the_bundled_database() {
        // Not the POSIX fallback: the bundled database knows Brussels before 1996 (in 1977
        // summer time ended on the last Sunday of September, 25 September).
        assert!(TimeZoneDatabase::bundled().get(ZONE).is_ok());
        assert_eq!(
            format_ts(utc(1977, 9, 26, 12, 0, 0)),
            "1977-09-26 13:00 CET"
        );
    }

    #[test]
    fn format_in_winter_and_summer() {
        assert_eq!(
            format_ts(utc(2026, 1, 15, 9, 30, 0)),
            "2026-01-15 10:30 CET"
        );
        assert_eq!(
            format_ts(utc(2026, 7, 15, 9, 30, 0)),
            "2026-07-15 11:30 CEST"
        );
        // The local date, not the UTC one, on either side of midnight.
        assert_eq!(format_date(utc(2026, 1, 15, 23, 30, 0)), "2026-01-16");
        assert_eq!(format_date(utc(2026, 7, 15, 21, 59, 59)), "2026-07-15");
        assert_eq!(format_date(utc(2026, 7, 15, 22, 0, 0)), "2026-07-16");
        assert_eq!(
            format_ts(utc(2026, 7, 15, 22, 0, 0)),
            "2026-07-16 00:00 CEST"
        );
    }

    #[test]
    fn format_across_dst_changes() {
        // Last Sunday of March 2026 is the 29th: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        assert_eq!(
            format_ts(utc(2026, 3, 29, 0, 59, 0)),
            "2026-03-29 01:59 CET"
        );
        assert_eq!(
            format_ts(utc(2026, 3, 29, 1, 0, 0)),
            "2026-03-29 03:00 CEST"
        );
        // Last Sunday of October 2026 is the 25th: 03:00 CEST becomes 02:00 CET (01:00 UTC).
        assert_eq!(
            format_ts(utc(2026, 10, 25, 0, 59, 0)),
            "2026-10-25 02:59 CEST"
        );
        assert_eq!(
            format_ts(utc(2026, 10, 25, 1, 0, 0)),
            "2026-10-25 02:00 CET"
        );
    }

    #[test]
    fn end_of_day_is_the_last_local_second() {
        let d = |y, m, dd| date(y, m, dd);
        // Winter: 23:59:59 CET is 22:59:59 UTC; summer: 21:59:59 UTC.
        assert_eq!(end_of_day(d(2026, 1, 15)), utc(2026, 1, 15, 22, 59, 59));
        assert_eq!(end_of_day(d(2026, 7, 15)), utc(2026, 7, 15, 21, 59, 59));
        // The days the clocks change are 23 and 25 hours long; the end is still 23:59:59.
        assert_eq!(end_of_day(d(2026, 3, 29)), utc(2026, 3, 29, 21, 59, 59));
        assert_eq!(end_of_day(d(2026, 10, 25)), utc(2026, 10, 25, 22, 59, 59));
        assert_eq!(
            end_of_day(d(2026, 3, 29)) - end_of_day(d(2026, 3, 28)),
            DAY_SECS - 3600
        );
        assert_eq!(
            end_of_day(d(2026, 10, 25)) - end_of_day(d(2026, 10, 24)),
            DAY_SECS + 3600
        );
        // The end date is inclusive: its last second still shows that date, the next one
        // the day after.
        for day in [
            d(2026, 1, 15),
            d(2026, 3, 29),
            d(2026, 10, 25),
            d(2028, 2, 29),
        ] {
            let end = end_of_day(day);
            assert_eq!(format_date(end), day.to_string());
            assert_eq!(format_ts(end).get(11..16), Some("23:59"));
            assert_eq!(format_date(end + 1), day.tomorrow().unwrap().to_string());
        }
        // Out of range: saturates, never panics.
        assert_eq!(end_of_day(Date::MAX), i64::MAX);
        let _ = end_of_day(Date::MIN);
    }

    #[test]
    fn at_most_one_calendar_year() {
        // The example of the design: signed 2026-12-02 10:00 → until 2027-12-01 inclusive.
        let from = utc(2026, 12, 2, 9, 0, 0); // 10:00 CET
        assert_eq!(max_valid_until(from), end_of_day(date(2027, 12, 1)));
        assert_eq!(format_ts(max_valid_until(from)), "2027-12-01 23:59 CET");
        assert_eq!(default_valid_until(from), max_valid_until(from));
        // The local date counts, not the UTC one: 2026-12-02 00:30 CET is still 1 December
        // in UTC.
        let just_after_midnight = utc(2026, 12, 1, 23, 30, 0);
        assert_eq!(format_date(just_after_midnight), "2026-12-02");
        assert_eq!(
            max_valid_until(just_after_midnight),
            end_of_day(date(2027, 12, 1))
        );
        // Across a summer: from winter time into summer time and back.
        let from = utc(2026, 4, 10, 8, 0, 0);
        assert_eq!(max_valid_until(from), end_of_day(date(2027, 4, 9)));
        assert_eq!(format_ts(max_valid_until(from)), "2027-04-09 23:59 CEST");
        // Signed at local midnight: 365 days, or 366 over a 29 February.
        let days = |from: i64| (max_valid_until(from) + 1 - from) / DAY_SECS;
        let midnight_cet = utc(2026, 1, 4, 23, 0, 0);
        assert_eq!(format_ts(midnight_cet), "2026-01-05 00:00 CET");
        assert_eq!(days(midnight_cet), 365);
        let midnight_cest = utc(2027, 5, 31, 22, 0, 0);
        assert_eq!(format_ts(midnight_cest), "2027-06-01 00:00 CEST");
        assert_eq!(days(midnight_cest), 366);
    }

    #[test]
    fn a_year_from_29_february() {
        let from = utc(2028, 2, 29, 9, 0, 0);
        assert_eq!(format_date(from), "2028-02-29");
        assert_eq!(max_valid_until(from), end_of_day(date(2029, 2, 27)));
        // The same end as from 28 February: never longer than a year.
        assert_eq!(
            max_valid_until(utc(2028, 2, 28, 9, 0, 0)),
            end_of_day(date(2029, 2, 27))
        );
        // From 1 March 2028 to the end of 28 February 2029, and into a leap year.
        assert_eq!(
            max_valid_until(utc(2028, 3, 1, 9, 0, 0)),
            end_of_day(date(2029, 2, 28))
        );
        assert_eq!(
            max_valid_until(utc(2027, 3, 1, 9, 0, 0)),
            end_of_day(date(2028, 2, 29))
        );
    }

    #[test]
    fn extreme_instants_never_panic() {
        for ts in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            let _ = format_ts(ts);
            let _ = format_date(ts);
            let _ = max_valid_until(ts);
        }
        assert_eq!(max_valid_until(i64::MIN), i64::MIN);
        assert_eq!(max_valid_until(i64::MAX), i64::MIN);
        assert_eq!(format_date(i64::MAX), i64::MAX.to_string());
        // The last representable years: no end at all rather than a wrong one.
        let late = Timestamp::MAX.as_second() - 10 * DAY_SECS;
        assert_eq!(max_valid_until(late), i64::MIN);
    }

    #[test]
    fn parse_dates() {
        assert_eq!(parse_date("2026-03-29"), Some(date(2026, 3, 29)));
        assert_eq!(parse_date(" 2028-02-29\n"), Some(date(2028, 2, 29)));
        for bad in [
            "",
            "2027-02-29",
            "2026-13-01",
            "2026-3-29",
            "26-03-29",
            "+2026-03-29",
            "2026-03-29T00:00",
            "2026-03-29-01",
            "20260329",
            "２０２６-03-29",
            "2026-0٣-29",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }
}
