//! The resolutions rollups are kept at, one table each (`rollup_minute_v2`, `rollup_hour_v2`,
//! `rollup_day_v2`), and which of them a usage query reads. Every table holds the same sums per
//! (key, partition, block), so a bucket of a coarser table equals the sum of the finer buckets
//! it covers; a query reads the coarsest table whose buckets each lie in one of its windows and
//! whose bucket boundaries its range starts and ends on ([`coarsest_for`]). One table per
//! query: reading the aligned middle of a range from a coarse table and its edges from finer
//! ones costs a scan per table, which on ClickHouse 18.16 outweighed the rows saved.

use super::Window;
use super::zone::{Tz, offset_changes};

/// A rollup table's bucket size. Rows of every table are keyed by the first minute of their
/// bucket, in seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    /// `rollup_minute_v2`.
    Minute,
    /// `rollup_hour_v2`.
    Hour,
    /// `rollup_day_v2`.
    Day,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Self; 3] = [Self::Minute, Self::Hour, Self::Day];

    /// Returns the length of a bucket, in seconds.
    pub fn seconds(self) -> u32 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    /// Returns the name of the table, such as `rollup_hour_v2`.
    pub fn table(self) -> &'static str {
        match self {
            Self::Minute => "rollup_minute_v2",
            Self::Hour => "rollup_hour_v2",
            Self::Day => "rollup_day_v2",
        }
    }

    /// Returns the name of a bucket, such as `hour`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// Returns the start of the bucket holding `seconds` (since the epoch).
    pub fn start(self, seconds: u32) -> u32 {
        seconds - seconds % self.seconds()
    }

    /// Returns the coarsest resolution whose buckets each lie in one window of `window` in
    /// `zone` over `[from, to)`, so that the windows' sums are sums of whole buckets. Days and
    /// months on a zone's calendar hold whole UTC days only where the zone is on UTC's time
    /// throughout the range, and whole hours only where its offsets and their changes all fall
    /// on whole hours (not in a zone of a half-hour offset).
    pub fn coarsest_within(window: Window, zone: Tz, from: u32, to: u32) -> Self {
        match window {
            Window::Minute => Self::Minute,
            Window::Hour => Self::Hour,
            Window::Day | Window::Month => {
                let (first, changes) = offset_changes(zone, i64::from(from), i64::from(to));
                let on_whole = |unit: i64| {
                    i64::from(first) % unit == 0
                        && changes.iter().all(|(second, offset)| {
                            second % unit == 0 && i64::from(*offset) % unit == 0
                        })
                };
                if first == 0 && changes.is_empty() {
                    Self::Day
                } else if on_whole(3_600) {
                    Self::Hour
                } else {
                    Self::Minute
                }
            }
        }
    }
}

/// Returns the coarsest table that answers a query of `window` in `zone` over `[from, to)`
/// (seconds since the epoch, on whole minutes): its buckets each lie in one window, and both
/// bounds are on its bucket boundaries, so that every window sums whole buckets of the range.
pub fn coarsest_for(window: Window, zone: Tz, from: u32, to: u32) -> Resolution {
    let allowed = Resolution::coarsest_within(window, zone, from, to);
    Resolution::ALL
        .into_iter()
        .rev()
        .filter(|resolution| *resolution <= allowed)
        .find(|resolution| {
            from.is_multiple_of(resolution.seconds()) && to.is_multiple_of(resolution.seconds())
        })
        .unwrap_or(Resolution::Minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u32 = 3_600;
    const DAY: u32 = 86_400;

    #[test]
    fn a_query_reads_the_coarsest_table_its_window_and_bounds_fall_on() {
        let (from, to) = (10 * DAY, 12 * DAY);
        let utc = |window, from, to| coarsest_for(window, Tz::UTC, from, to);
        assert_eq!(utc(Window::Month, from, to), Resolution::Day);
        assert_eq!(utc(Window::Day, from, to), Resolution::Day);
        assert_eq!(utc(Window::Hour, from, to), Resolution::Hour);
        assert_eq!(utc(Window::Minute, from, to), Resolution::Minute);
        assert_eq!(utc(Window::Day, from + HOUR, to), Resolution::Hour);
        assert_eq!(utc(Window::Day, from, to - 60), Resolution::Minute);
        // The end of the calendar that rollups can hold is no whole minute.
        assert_eq!(utc(Window::Day, 0, u32::MAX), Resolution::Minute);
    }

    #[test]
    fn local_days_hold_whole_hours_only_in_zones_of_whole_hour_offsets() {
        // 2026-03-28 to 2026-04-01, Berlin's clocks going forward on the 29th.
        let (from, to) = (20_540 * DAY - HOUR, 20_544 * DAY - 2 * HOUR);
        assert_eq!(
            coarsest_for(Window::Day, Tz::Europe__Berlin, from, to),
            Resolution::Hour
        );
        // Kolkata is 5:30 ahead: its midnights fall on half hours.
        let kolkata_midnight = 20_540 * DAY - 5 * HOUR - 30 * 60;
        assert_eq!(
            coarsest_for(
                Window::Day,
                Tz::Asia__Kolkata,
                kolkata_midnight,
                kolkata_midnight + DAY
            ),
            Resolution::Minute
        );
        assert_eq!(
            Resolution::coarsest_within(Window::Month, Tz::UTC, 0, DAY),
            Resolution::Day
        );
        assert_eq!(
            Resolution::coarsest_within(Window::Hour, Tz::Asia__Kolkata, 0, DAY),
            Resolution::Hour
        );
        assert_eq!(
            Resolution::coarsest_within(Window::Minute, Tz::UTC, 0, DAY),
            Resolution::Minute
        );
    }

    #[test]
    fn buckets_start_at_their_first_minute() {
        assert_eq!(Resolution::Hour.start(2 * HOUR + 59), 2 * HOUR);
        assert_eq!(Resolution::Day.start(DAY + HOUR + 60), DAY);
        assert_eq!(Resolution::Minute.start(61), 60);
    }
}
