//! The bounds of one usage query, checked before any store is asked: the range must be whole
//! minutes (rollups keep minutes, so no other bound can be answered exactly), its windows are
//! counted exactly from `[from, to)` and the window size, and the answer's rows are capped (the
//! SQL asks for one row more than the cap to tell).

use chrono::{DateTime, Datelike, Duration, SecondsFormat, Utc};

use super::zone::local_date;
use super::{Tz, UsageQuery, Window};
use crate::{Error, Result};

/// How much one usage query may ask for and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageLimits {
    /// Most windows the range may span.
    pub max_windows: u64,
    /// Most rows (windows times combinations of group values) the answer may hold.
    pub max_rows: u64,
}

impl UsageLimits {
    /// The limits of exports and of `tally usage`: 100,000 windows and 100,000 rows.
    pub const EXPORT: Self = Self {
        max_windows: 100_000,
        max_rows: 100_000,
    };

    /// Checks the query's range: whole minutes, `to` after `from`, and at most
    /// [`Self::max_windows`] windows. The error says what to change.
    pub fn check(&self, query: &UsageQuery) -> Result<()> {
        let windows = count_windows(query.from, query.to, query.window, query.time_zone)?;
        if windows > self.max_windows {
            return Err(Error::Invalid(format!(
                "the range from {} to {} holds {windows} {} windows, more than the {} \
                 allowed: narrow the range or use a coarser window",
                query.from,
                query.to,
                query.window.as_str().to_lowercase(),
                self.max_windows
            )));
        }
        Ok(())
    }

    /// The error of an answer with more rows than [`Self::max_rows`].
    pub(crate) fn too_many_rows(&self) -> Error {
        Error::Invalid(format!(
            "more than {} rows: narrow the range, use a coarser window or fewer groups",
            self.max_rows
        ))
    }
}

/// Counts the windows of `window` size that `[from, to)` touches, days and months in `zone`:
/// local dates apart, so a day that a zone skipped (Samoa's 30 December 2011) is counted too.
/// Errors when a bound is not a whole minute or `to` is not after `from`; never overflows.
pub fn count_windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: Window,
    zone: Tz,
) -> Result<u64> {
    check_range(from, to)?;
    // The last instant of the range: `to` is exclusive and a whole minute after `from`.
    let last = to
        .checked_sub_signed(Duration::seconds(1))
        .ok_or_else(|| Error::Invalid("`to` must be after `from`".to_owned()))?;
    let (first_index, last_index) = match window {
        Window::Minute => (
            from.timestamp().div_euclid(60),
            last.timestamp().div_euclid(60),
        ),
        Window::Hour => (
            from.timestamp().div_euclid(3600),
            last.timestamp().div_euclid(3600),
        ),
        Window::Day => (day_index(from, zone), day_index(last, zone)),
        Window::Month => (month_index(from, zone), month_index(last, zone)),
    };
    // Indexes are at most a few times 10^12 apart (chrono's calendar spans ±262,143 years).
    last_index
        .checked_sub(first_index)
        .and_then(|spread| spread.checked_add(1))
        .and_then(|count| u64::try_from(count).ok())
        .ok_or_else(|| Error::Invalid("`to` must be after `from`".to_owned()))
}

/// Refuses a range whose bounds are not whole minutes, or whose `to` is not after `from`.
fn check_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<()> {
    for (name, bound) in [("from", from), ("to", to)] {
        let floor = floor_minute(bound);
        if floor != bound {
            let written = |time: DateTime<Utc>| time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            let after = floor
                .checked_add_signed(Duration::minutes(1))
                .map(|ceil| format!(" or {}", written(ceil)))
                .unwrap_or_default();
            return Err(Error::Invalid(format!(
                "`{name}` must be a whole minute, since usage is counted per minute: {} is \
                 not; use {}{after}",
                written(bound),
                written(floor)
            )));
        }
    }
    if to <= from {
        return Err(Error::Invalid("`to` must be after `from`".to_owned()));
    }
    Ok(())
}

/// Days since the first of January of year 1 on `zone`'s calendar.
fn day_index(time: DateTime<Utc>, zone: Tz) -> i64 {
    i64::from(local_date(zone, time).num_days_from_ce())
}

/// Months since year 0 on `zone`'s calendar: twelve per year plus the month's place in its
/// year.
fn month_index(time: DateTime<Utc>, zone: Tz) -> i64 {
    let date = local_date(zone, time);
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

/// Seconds since 1970 as rollups store them (`UInt32`), clamped to that type's range.
pub(crate) fn epoch_seconds(time: DateTime<Utc>) -> u32 {
    u32::try_from(time.timestamp().max(0)).unwrap_or(u32::MAX)
}

/// Returns the start of the minute holding `time`: a usage range's bounds are whole minutes.
pub fn floor_minute(time: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = time.timestamp().div_euclid(60) * 60;
    DateTime::from_timestamp(seconds, 0).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a valid RFC 3339 time")
    }

    fn query(from: &str, to: &str, window: Window) -> UsageQuery {
        UsageQuery {
            from: at(from),
            to: at(to),
            window,
            time_zone: Tz::UTC,
            group_by: Vec::new(),
            subject: None,
        }
    }

    #[test]
    fn windows_are_counted_from_the_range_aligned_to_utc() {
        let count =
            |from: &str, to: &str, window| count_windows(at(from), at(to), window, Tz::UTC).ok();
        let (start, end) = ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
        assert_eq!(count(start, end, Window::Minute), Some(1440));
        assert_eq!(count(start, end, Window::Hour), Some(24));
        assert_eq!(count(start, end, Window::Day), Some(1));
        assert_eq!(count(start, end, Window::Month), Some(1));
        // Unaligned ends touch one more window on each side.
        let (odd_start, odd_end) = ("2026-01-01T00:30:00Z", "2026-01-01T02:01:00Z");
        assert_eq!(count(odd_start, odd_end, Window::Hour), Some(3));
        assert_eq!(count(odd_start, odd_end, Window::Minute), Some(91));
        // Months are calendar months, across years.
        assert_eq!(
            count(
                "2025-11-15T00:00:00Z",
                "2026-02-01T00:00:00Z",
                Window::Month
            ),
            Some(3)
        );
        // Before 1970 counts the same way.
        assert_eq!(
            count(
                "1969-12-31T23:59:00Z",
                "1970-01-01T00:00:00Z",
                Window::Minute
            ),
            Some(1)
        );
        // Ten years per minute: 3,653 days.
        assert_eq!(
            count(
                "2016-01-01T00:00:00Z",
                "2026-01-01T00:00:00Z",
                Window::Minute
            ),
            Some(3653 * 1440)
        );
    }

    #[test]
    fn empty_reversed_and_extreme_ranges_are_refused_without_panicking() {
        let start = "2026-01-01T00:00:00Z";
        assert!(count_windows(at(start), at(start), Window::Hour, Tz::UTC).is_err());
        assert!(
            count_windows(at("2026-01-02T00:00:00Z"), at(start), Window::Hour, Tz::UTC).is_err()
        );
        let last = DateTime::<Utc>::MAX_UTC;
        let first = DateTime::<Utc>::MIN_UTC;
        assert!(count_windows(at(start), last, Window::Minute, Tz::UTC).is_err());
        assert!(
            count_windows(first, at(start), Window::Month, Tz::UTC).is_ok_and(|count| count > 0)
        );
        let near_end = Utc
            .with_ymd_and_hms(262_142, 12, 31, 23, 59, 0)
            .single()
            .expect("valid");
        assert_eq!(
            count_windows(near_end - Duration::days(1), near_end, Window::Day, Tz::UTC).ok(),
            Some(2)
        );
        assert!(
            count_windows(first, near_end, Window::Minute, Tz::UTC)
                .is_ok_and(|count| count > 200_000 * 365 * 1440)
        );
        // As clients write them: the last second of the calendar is not a whole minute.
        let error = count_windows(
            at("+262142-01-01T00:00:00Z"),
            at("+262142-12-31T23:59:59Z"),
            Window::Day,
            Tz::UTC,
        )
        .expect_err("not a whole minute");
        assert!(
            error.to_string().contains("`to` must be a whole minute"),
            "{error}"
        );
        assert!(
            count_windows(
                at("-262143-01-01T00:00:00Z"),
                at(start),
                Window::Month,
                Tz::UTC
            )
            .is_ok()
        );
    }

    #[test]
    fn rollup_seconds_clamp_to_their_type() {
        assert_eq!(epoch_seconds(DateTime::<Utc>::MIN_UTC), 0);
        assert_eq!(epoch_seconds(DateTime::<Utc>::MAX_UTC), u32::MAX);
        assert_eq!(epoch_seconds(at("3000-01-01T00:00:00Z")), u32::MAX);
        assert_eq!(epoch_seconds(at("2026-01-01T00:00:00Z")), 1_767_225_600);
    }

    #[test]
    fn the_window_cap_is_checked_before_any_query_and_says_what_to_change() {
        let ten_years = query(
            "2016-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            Window::Minute,
        );
        let refused = UsageLimits::EXPORT
            .check(&ten_years)
            .expect_err("over the cap");
        let message = refused.to_string();
        assert!(message.contains("5260320 minute windows"), "{message}");
        assert!(
            message.contains("more than the 100000 allowed"),
            "{message}"
        );
        let by_day = query("2016-01-01T00:00:00Z", "2026-01-01T00:00:00Z", Window::Day);
        assert!(
            UsageLimits::EXPORT.check(&by_day).is_ok(),
            "3,653 days pass"
        );
        let exact = UsageLimits {
            max_windows: 24,
            max_rows: 24,
        };
        let day = query("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", Window::Hour);
        assert!(exact.check(&day).is_ok());
        let one_more = query("2026-01-01T00:00:00Z", "2026-01-02T00:01:00Z", Window::Hour);
        assert!(exact.check(&one_more).is_err());
    }

    #[test]
    fn bounds_off_a_whole_minute_are_refused_with_the_minutes_around_them() {
        let refused = |from: &str, to: &str| {
            count_windows(at(from), at(to), Window::Minute, Tz::UTC)
                .expect_err("not whole minutes")
                .to_string()
        };
        assert_eq!(
            refused("2026-11-21T10:00:30Z", "2026-11-21T10:05:00Z"),
            "`from` must be a whole minute, since usage is counted per minute: \
             2026-11-21T10:00:30Z is not; use 2026-11-21T10:00:00Z or 2026-11-21T10:01:00Z"
        );
        assert!(
            refused("2026-11-21T10:00:00Z", "2026-11-21T10:05:00.001Z").contains(
                "`to` must be a whole minute, since usage is counted per minute: \
                           2026-11-21T10:05:00.001Z is not"
            ),
        );
        assert!(
            count_windows(
                DateTime::<Utc>::MIN_UTC,
                at("2026-01-01T00:00:00Z"),
                Window::Day,
                Tz::UTC
            )
            .is_ok()
        );
    }

    #[test]
    fn days_and_months_are_counted_on_the_zones_calendar() {
        let berlin: Tz = "Europe/Berlin".parse().expect("a zone");
        let count =
            |from: &str, to: &str, window| count_windows(at(from), at(to), window, berlin).ok();
        // Berlin's 29 March 2026 has 23 hours: a day and a minute in UTC touch two local days.
        assert_eq!(
            count("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", Window::Day),
            Some(1)
        );
        assert_eq!(
            count("2026-03-28T23:00:00Z", "2026-03-29T22:01:00Z", Window::Day),
            Some(2)
        );
        // January in UTC ends in Berlin's February.
        assert_eq!(
            count(
                "2026-01-01T00:00:00Z",
                "2026-02-01T00:00:00Z",
                Window::Month
            ),
            Some(2)
        );
        assert_eq!(
            count(
                "2025-12-31T23:00:00Z",
                "2026-01-31T23:00:00Z",
                Window::Month
            ),
            Some(1)
        );
    }
}
