//! The time window an SLO's objective holds over: the last N days, rolling by the minute, or the
//! calendar month (UTC).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tally_meter::usage::floor_minute;
use tally_meter::{Error, Result};

/// The longest rolling window, in days.
pub const MAX_ROLLING_DAYS: u32 = 90;

/// An SLO's window, written `"28d"` (1 to 90 whole days, rolling) or `"month"` (the calendar
/// month, UTC), and serialized as that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Window {
    /// The last `days` days up to the end of the current minute.
    Rolling {
        /// How many days, 1 to [`MAX_ROLLING_DAYS`].
        days: u32,
    },
    /// The calendar month in UTC, from its first day at midnight to the next month's.
    CalendarMonth,
}

impl Window {
    /// Reads `"28d"` or `"month"`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || {
            Error::Invalid(format!(
                "window: 1d to {MAX_ROLLING_DAYS}d (rolling, such as 28d) or \"month\" (the \
                 calendar month, UTC), got {text:?}"
            ))
        };
        if text == "month" {
            return Ok(Self::CalendarMonth);
        }
        let days: u32 = text
            .strip_suffix('d')
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(invalid)?;
        if !(1..=MAX_ROLLING_DAYS).contains(&days) {
            return Err(invalid());
        }
        Ok(Self::Rolling { days })
    }

    /// Returns `[start, end)` of the window that holds `at`: for a rolling window, the `days`
    /// days up to the end of `at`'s minute; for the calendar month, `at`'s month.
    pub fn bounds(&self, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            Self::Rolling { days } => {
                let end = floor_minute(at) + Duration::minutes(1);
                (end - Duration::days(i64::from(*days)), end)
            }
            Self::CalendarMonth => {
                let (year, month) = (at.year(), at.month());
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                (
                    month_start(year, month, at),
                    month_start(next_year, next_month, at),
                )
            }
        }
    }
}

/// Midnight UTC of the first day of `month` in `year`; `fallback` where there is none (past
/// chrono's last year).
fn month_start(year: i32, month: u32, fallback: DateTime<Utc>) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map_or(fallback, |start| start.and_utc())
}

impl fmt::Display for Window {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rolling { days } => write!(formatter, "{days}d"),
            Self::CalendarMonth => formatter.write_str("month"),
        }
    }
}

impl FromStr for Window {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl TryFrom<String> for Window {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        Self::parse(&text)
    }
}

impl From<Window> for String {
    fn from(window: Window) -> Self {
        window.to_string()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    #[test]
    fn windows_read_and_write_as_days_or_month() {
        assert_eq!(
            Window::parse("28d").expect("valid"),
            Window::Rolling { days: 28 }
        );
        assert_eq!(
            Window::parse("1d").expect("valid"),
            Window::Rolling { days: 1 }
        );
        assert_eq!(
            Window::parse("month").expect("valid"),
            Window::CalendarMonth
        );
        for text in ["7d", "30d", "90d", "month"] {
            assert_eq!(Window::parse(text).expect(text).to_string(), text);
        }
        for text in ["0d", "91d", "d", "28", "4w", "+3d", "1M", "Month", ""] {
            let error = Window::parse(text).expect_err(text).to_string();
            assert!(error.starts_with("window:"), "{text}: {error}");
        }
    }

    #[test]
    fn a_rolling_window_ends_with_the_current_minute() {
        let (start, end) = Window::Rolling { days: 7 }.bounds(at("2026-03-10T12:34:56.5Z"));
        assert_eq!(end, at("2026-03-10T12:35:00Z"));
        assert_eq!(start, at("2026-03-03T12:35:00Z"));
        let (start, end) = Window::Rolling { days: 1 }.bounds(at("2026-03-10T12:34:00Z"));
        assert_eq!(
            (start, end),
            (at("2026-03-09T12:35:00Z"), at("2026-03-10T12:35:00Z"))
        );
    }

    #[test]
    fn a_calendar_window_is_the_utc_month() {
        let month = Window::CalendarMonth;
        assert_eq!(
            month.bounds(at("2026-02-14T08:00:00Z")),
            (at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z"))
        );
        assert_eq!(
            month.bounds(at("2026-12-31T23:59:59Z")),
            (at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            month.bounds(at("2027-01-01T00:00:00Z")),
            (at("2027-01-01T00:00:00Z"), at("2027-02-01T00:00:00Z"))
        );
    }

    proptest! {
        /// Every window holds the instant it is asked for, starts and ends on whole minutes,
        /// and spans its days (rolling) or 28 to 31 days (calendar).
        #[test]
        fn a_window_holds_its_instant(seconds in 0i64..4_000_000_000, days in 1u32..=90) {
            let instant = DateTime::from_timestamp(seconds, 0).expect("an instant");
            for window in [Window::Rolling { days }, Window::CalendarMonth] {
                let (start, end) = window.bounds(instant);
                prop_assert!(start <= instant && instant < end, "{window}: {start} {end}");
                prop_assert_eq!(start.timestamp() % 60, 0);
                prop_assert_eq!(end.timestamp() % 60, 0);
                let span = end - start;
                match window {
                    Window::Rolling { days } => {
                        prop_assert_eq!(span, Duration::days(i64::from(days)));
                    }
                    Window::CalendarMonth => {
                        prop_assert!(span >= Duration::days(28) && span <= Duration::days(31));
                        prop_assert_eq!(start.day(), 1);
                    }
                }
            }
        }
    }
}
