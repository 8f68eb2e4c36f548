//! The bounds of one usage query, checked before any store is asked: the range is widened to
//! whole minutes without overflowing chrono's calendar, its windows are counted exactly from
//! `[from, to)` and the window size, and the answer's rows are capped (the SQL asks for one
//! row more than the cap to tell).

use chrono::{DateTime, Datelike, Duration, Utc};

use super::{UsageQuery, Window};
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

    /// Checks the query's range against the window cap and returns it widened to whole
    /// minutes. The error says how many windows the range holds and what to change.
    pub fn check(&self, query: &UsageQuery) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let (from, to) = widen(query.from, query.to)?;
        let windows = count_widened(from, to, query.window)?;
        if windows > self.max_windows {
            return Err(Error::Invalid(format!(
                "the range from {from} to {to} holds {windows} {} windows, more than the {} \
                 allowed: narrow the range or use a coarser window",
                query.window.as_str().to_lowercase(),
                self.max_windows
            )));
        }
        Ok((from, to))
    }

    /// The error of an answer with more rows than [`Self::max_rows`].
    pub(crate) fn too_many_rows(&self) -> Error {
        Error::Invalid(format!(
            "more than {} rows: narrow the range, use a coarser window or fewer groups",
            self.max_rows
        ))
    }
}

/// Counts the windows of `window` size, aligned to UTC, that `[from, to)` touches once
/// widened to whole minutes. Errors when `to` is not after `from` or the widened range leaves
/// chrono's calendar; never overflows.
pub fn count_windows(from: DateTime<Utc>, to: DateTime<Utc>, window: Window) -> Result<u64> {
    let (from, to) = widen(from, to)?;
    count_widened(from, to, window)
}

/// Widens `[from, to)` to whole minutes: `from` down, `to` up.
fn widen(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let from = floor_minute(from);
    let to = ceil_minute(to).ok_or_else(|| {
        Error::Invalid(format!(
            "`to` ({to}) is too close to the end of the calendar; use an earlier time"
        ))
    })?;
    if to <= from {
        return Err(Error::Invalid("`to` must be after `from`".to_owned()));
    }
    Ok((from, to))
}

/// Counts the windows of a range already widened to whole minutes, with `to` after `from`.
fn count_widened(from: DateTime<Utc>, to: DateTime<Utc>, window: Window) -> Result<u64> {
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
        Window::Day => (
            from.timestamp().div_euclid(86_400),
            last.timestamp().div_euclid(86_400),
        ),
        Window::Month => (month_index(from), month_index(last)),
    };
    // Indexes are at most a few times 10^12 apart (chrono's calendar spans ±262,143 years).
    last_index
        .checked_sub(first_index)
        .and_then(|spread| spread.checked_add(1))
        .and_then(|count| u64::try_from(count).ok())
        .ok_or_else(|| Error::Invalid("`to` must be after `from`".to_owned()))
}

/// Months since year 0: twelve per year plus the month's place in its year.
fn month_index(time: DateTime<Utc>) -> i64 {
    i64::from(time.year()) * 12 + i64::from(time.month0())
}

/// Seconds since 1970 as rollups store them (`UInt32`), clamped to that type's range.
pub(crate) fn epoch_seconds(time: DateTime<Utc>) -> u32 {
    u32::try_from(time.timestamp().max(0)).unwrap_or(u32::MAX)
}

/// The start of the minute holding `time`.
pub(crate) fn floor_minute(time: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = time.timestamp().div_euclid(60) * 60;
    DateTime::from_timestamp(seconds, 0).unwrap_or(time)
}

/// The start of the first minute at or after `time`; none past the end of the calendar.
pub(crate) fn ceil_minute(time: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let floor = floor_minute(time);
    if floor == time {
        Some(floor)
    } else {
        floor.checked_add_signed(Duration::minutes(1))
    }
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
            group_by: Vec::new(),
            subject: None,
        }
    }

    #[test]
    fn windows_are_counted_from_the_range_aligned_to_utc() {
        let count = |from: &str, to: &str, window| count_windows(at(from), at(to), window).ok();
        let (start, end) = ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
        assert_eq!(count(start, end, Window::Minute), Some(1440));
        assert_eq!(count(start, end, Window::Hour), Some(24));
        assert_eq!(count(start, end, Window::Day), Some(1));
        assert_eq!(count(start, end, Window::Month), Some(1));
        // Unaligned ends touch one more window on each side.
        let (odd_start, odd_end) = ("2026-01-01T00:30:10Z", "2026-01-01T02:00:20Z");
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
        // A range inside one minute is that minute; before 1970 counts the same way.
        assert_eq!(
            count(
                "1969-12-31T23:59:10Z",
                "1969-12-31T23:59:20Z",
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
        assert!(count_windows(at(start), at(start), Window::Hour).is_err());
        assert!(count_windows(at("2026-01-02T00:00:00Z"), at(start), Window::Hour).is_err());
        let last = DateTime::<Utc>::MAX_UTC;
        let first = DateTime::<Utc>::MIN_UTC;
        assert!(count_windows(at(start), last, Window::Minute).is_err());
        assert!(count_windows(first, at(start), Window::Month).is_ok_and(|count| count > 0));
        let near_end = Utc
            .with_ymd_and_hms(262_142, 12, 31, 23, 59, 0)
            .single()
            .expect("valid");
        assert_eq!(
            count_windows(near_end - Duration::days(1), near_end, Window::Day).ok(),
            Some(2)
        );
        assert!(
            count_windows(first, near_end, Window::Minute)
                .is_ok_and(|count| count > 200_000 * 365 * 1440)
        );
        // As clients write them: the last second of the calendar cannot widen to a minute.
        let error = count_windows(
            at("+262142-01-01T00:00:00Z"),
            at("+262142-12-31T23:59:59Z"),
            Window::Day,
        )
        .expect_err("past the calendar");
        assert!(
            error.to_string().contains("too close to the end"),
            "{error}"
        );
        assert!(count_windows(at("-262143-01-01T00:00:00Z"), at(start), Window::Month).is_ok());
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
        let (from, to) = UsageLimits::EXPORT.check(&by_day).expect("3,653 days pass");
        assert_eq!((from, to), (by_day.from, by_day.to));
        let exact = UsageLimits {
            max_windows: 24,
            max_rows: 24,
        };
        let day = query("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", Window::Hour);
        assert!(exact.check(&day).is_ok());
        let one_more = query("2026-01-01T00:00:00Z", "2026-01-02T00:00:01Z", Window::Hour);
        assert!(exact.check(&one_more).is_err());
    }
}
