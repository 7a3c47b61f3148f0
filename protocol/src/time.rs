//! Time on the wire is Unix seconds (UTC); dates shown to people are `YYYY-MM-DD`.

/// One year, the default and maximum life of a consent (TRIO's consultation period).
pub const YEAR_SECS: i64 = 366 * 24 * 3600;
pub const DAY_SECS: i64 = 24 * 3600;

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &fmt).ok()
}

/// End of the given date (23:59:59 UTC) as Unix seconds.
pub fn end_of_day(d: time::Date) -> i64 {
    d.with_hms(23, 59, 59)
        .map(|dt| dt.assume_utc().unix_timestamp())
        .unwrap_or_else(|_| d.midnight().assume_utc().unix_timestamp())
}

/// `YYYY-MM-DD HH:MM UTC` for people.
pub fn format_ts(ts: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => {
            let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
            t.format(&fmt).unwrap_or_else(|_| ts.to_string())
        }
        Err(_) => ts.to_string(),
    }
}

/// `YYYY-MM-DD` for people.
pub fn format_date(ts: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => {
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            t.format(&fmt).unwrap_or_else(|_| ts.to_string())
        }
        Err(_) => ts.to_string(),
    }
}

/// The last instant a consent starting at `valid_from` may run to.
pub fn max_valid_until(valid_from: i64) -> i64 {
    valid_from.saturating_add(YEAR_SECS - 1)
}
