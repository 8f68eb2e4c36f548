//! Usage: what a tenant's meter counted over a time range, per window, optionally grouped
//! and filtered by subject. This module owns the domain types ([`Window`], [`UsageQuery`],
//! [`UsagePoint`], [`UsageLimits`]) and the window math; the SQL over the aggregator's rollups
//! is [`Analytics::usage_within`]. Every aggregation is exact over any window, because rollups
//! keep sums, counts, extremes and latest values (and distinct values for UNIQUE_COUNT) rather
//! than per-minute results.
//!
//! Rollups are per event-time minute (UTC), so a range's bounds must be whole minutes: then
//! adjacent ranges add up exactly to the range they tile. DAY and MONTH windows follow the
//! query's time zone ([`Tz`]), and window bounds are written with its offset. Every query is bounded
//! ([`UsageLimits`]): its windows are counted before any store is asked and its rows are
//! capped in the SQL.

mod limits;
mod resolution;
pub mod zone;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, FixedOffset, Months, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::analytics::Analytics;
use crate::catalog::{self, Catalog};
use crate::ids::{MeterKey, TenantId};
use crate::meter::{Aggregation, Meter};
use crate::{Error, Result};

pub(crate) use self::limits::epoch_seconds;
pub use self::limits::{UsageLimits, count_windows, floor_minute};
pub use self::resolution::{Resolution, coarsest_for};
pub(crate) use self::zone::offset_changes;
pub use self::zone::{Tz, parse_time_zone};

/// The size of the windows usage is reported in: minutes and hours aligned to UTC, days and
/// months to a time zone's midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Window {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
    /// One calendar month.
    Month,
}

impl Window {
    /// Returns the name, such as `HOUR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "MINUTE",
            Self::Hour => "HOUR",
            Self::Day => "DAY",
            Self::Month => "MONTH",
        }
    }

    /// Returns the start of the next window after the one starting at `start` (days and
    /// months in `zone`), or the end of the calendar.
    pub fn next(self, start: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let next = match self {
            Self::Minute => start.checked_add_signed(Duration::minutes(1)),
            Self::Hour => start.checked_add_signed(Duration::hours(1)),
            Self::Day | Self::Month => {
                let date = zone::local_date(zone, start);
                let next_date = if self == Self::Day {
                    date.succ_opt()
                } else {
                    date.with_day(1)
                        .and_then(|first| first.checked_add_months(Months::new(1)))
                };
                next_date.and_then(|date| zone::local_start(zone, date.and_time(NaiveTime::MIN)))
            }
        };
        next.unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl FromStr for Window {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        [Self::Minute, Self::Hour, Self::Day, Self::Month]
            .into_iter()
            .find(|window| window.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "window must be one of minute, hour, day, month; got {text:?}"
                ))
            })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    /// Start of the range, a whole minute.
    pub from: DateTime<Utc>,
    /// End of the range, exclusive, a whole minute.
    pub to: DateTime<Utc>,
    /// Window size.
    pub window: Window,
    /// The zone whose midnight starts DAY and MONTH windows, and whose offset window bounds
    /// are written with.
    pub time_zone: Tz,
    /// Group names of the meter to split by; the others are summed over.
    pub group_by: Vec<String>,
    /// Only events of this subject, when given.
    pub subject: Option<String>,
}

/// The value of a meter in one window, for one combination of the requested groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsagePoint {
    /// Start of the window (or of the range, if later), with the query's zone's offset.
    pub window_start: DateTime<FixedOffset>,
    /// End of the window (or of the range, if earlier), exclusive, likewise.
    pub window_end: DateTime<FixedOffset>,
    /// Requested group names and their values.
    pub groups: BTreeMap<String, String>,
    /// Events counted in the window.
    pub events: u64,
    /// The meter's aggregate over the window; `None` for MIN, MAX, AVG and LATEST of a window
    /// without events.
    pub value: Option<Decimal>,
}

/// Computes a tenant's meter, found by key, over a range, within [`UsageLimits::EXPORT`].
pub async fn usage(
    catalog: &Catalog,
    analytics: &Analytics,
    tenant: TenantId,
    meter_key: &MeterKey,
    query: &UsageQuery,
) -> Result<Vec<UsagePoint>> {
    usage_within(
        catalog,
        analytics,
        tenant,
        meter_key,
        query,
        UsageLimits::EXPORT,
    )
    .await
}

/// Computes a tenant's meter, found by key, over a range within `limits`: a range of too
/// many windows is refused before any store is asked.
pub async fn usage_within(
    catalog: &Catalog,
    analytics: &Analytics,
    tenant: TenantId,
    meter_key: &MeterKey,
    query: &UsageQuery,
    limits: UsageLimits,
) -> Result<Vec<UsagePoint>> {
    limits.check(query)?;
    let meter = catalog::meters::find(catalog, tenant, meter_key).await?;
    analytics.usage_within(&meter, query, limits).await
}

/// Returns the 1-based positions, among the meter's group names, of the groups a query splits
/// by (rollups keep group values in the order of the meter's names). An unknown name is
/// refused with the names the meter has.
pub(crate) fn group_positions(meter: &Meter, names: &[String]) -> Result<Vec<usize>> {
    let group_names: Vec<&String> = meter.spec.group_by.keys().collect();
    names
        .iter()
        .map(|name| {
            let index = group_names
                .iter()
                .position(|known| *known == name)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "meter {} has no group {name:?} (it has: {})",
                        meter.spec.key,
                        group_names
                            .iter()
                            .map(|known| known.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            Ok(index + 1)
        })
        .collect()
}

/// The bounds of the window of `window` size in `zone` starting at `bucket`, clipped to the
/// range `[from, to)` and written with the zone's offsets. A bucket is seconds since 1970, as
/// rollups store minutes: on UTC's clock for minutes and hours, on the zone's for days and
/// months.
pub(crate) fn clipped_window(
    window: Window,
    zone: Tz,
    bucket: u32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (DateTime<FixedOffset>, DateTime<FixedOffset>) {
    let instant = DateTime::from_timestamp(i64::from(bucket), 0).unwrap_or(from);
    let start = match window {
        Window::Minute | Window::Hour => Some(instant),
        Window::Day | Window::Month => zone::local_start(zone, instant.naive_utc()),
    }
    .unwrap_or(from);
    (
        zone::written_in(zone, start.max(from)),
        zone::written_in(zone, window.next(start, zone).min(to)),
    )
}

/// The last hour at `now`, per minute: from 59 minutes before the current minute to the end
/// of the current minute.
pub(crate) fn last_hour_range(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let to = floor_minute(now) + Duration::minutes(1);
    (to - Duration::hours(1), to)
}

/// Returns a tenant's meter per minute over the last hour: 60 points, oldest first, ending
/// with the current minute. Minutes without events have no value, or zero for COUNT, SUM and
/// UNIQUE_COUNT.
pub async fn last_hour(
    catalog: &Catalog,
    analytics: &Analytics,
    tenant: TenantId,
    meter_key: &MeterKey,
) -> Result<Vec<UsagePoint>> {
    let meter = catalog::meters::find(catalog, tenant, meter_key).await?;
    let (from, to) = last_hour_range(Utc::now());
    let query = UsageQuery {
        from,
        to,
        window: Window::Minute,
        time_zone: Tz::UTC,
        group_by: Vec::new(),
        subject: None,
    };
    let found: HashMap<DateTime<FixedOffset>, UsagePoint> = analytics
        .usage(&meter, &query)
        .await?
        .into_iter()
        .map(|point| (point.window_start, point))
        .collect();
    let zero = matches!(
        meter.spec.aggregation,
        Aggregation::Count | Aggregation::Sum | Aggregation::UniqueCount
    )
    .then_some(Decimal::ZERO);
    Ok((0..60)
        .map(|minute| {
            let start = (from + Duration::minutes(minute)).fixed_offset();
            found.get(&start).cloned().unwrap_or_else(|| UsagePoint {
                window_start: start,
                window_end: start + Duration::minutes(1),
                groups: BTreeMap::new(),
                events: 0,
                value: zero,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::zone::tests::{at, berlin};
    use super::*;

    #[test]
    fn months_roll_over_the_year() {
        let december = at("2026-12-01T00:00:00Z");
        assert_eq!(
            Window::Month.next(december, Tz::UTC),
            at("2027-01-01T00:00:00Z")
        );
        assert_eq!("day".parse::<Window>().ok(), Some(Window::Day));
    }

    #[test]
    fn local_days_last_23_or_25_hours_when_clocks_change_and_months_start_at_local_midnight() {
        let days = |from: &str, count: usize, zone: Tz| {
            let mut starts = vec![at(from)];
            for _ in 0..count {
                let last = *starts.last().expect("a start");
                starts.push(Window::Day.next(last, zone));
            }
            starts
        };
        assert_eq!(
            days("2026-03-27T23:00:00Z", 3, berlin()),
            [
                at("2026-03-27T23:00:00Z"),
                at("2026-03-28T23:00:00Z"),
                at("2026-03-29T22:00:00Z"),
                at("2026-03-30T22:00:00Z")
            ]
        );
        assert_eq!(
            Window::Day.next(at("2026-10-24T22:00:00Z"), berlin()) - at("2026-10-24T22:00:00Z"),
            Duration::hours(25)
        );
        let new_york = parse_time_zone("America/New_York").expect("a zone");
        assert_eq!(
            Window::Month.next(at("2026-01-01T05:00:00Z"), new_york),
            at("2026-02-01T05:00:00Z")
        );
        assert_eq!(
            Window::Month.next(at("2026-02-01T05:00:00Z"), new_york),
            at("2026-03-01T05:00:00Z")
        );
        // Minutes and hours are the same in every zone.
        let kolkata = parse_time_zone("Asia/Kolkata").expect("a zone");
        assert_eq!(
            Window::Hour.next(at("2026-01-01T05:00:00Z"), kolkata),
            at("2026-01-01T06:00:00Z")
        );
    }

    #[test]
    fn windows_are_clipped_to_the_range_and_written_in_their_zone() {
        let utc = |(start, end): (DateTime<FixedOffset>, DateTime<FixedOffset>)| {
            (start.with_timezone(&Utc), end.with_timezone(&Utc))
        };
        let (from, to) = (at("2026-11-21T10:30:00Z"), at("2026-11-21T12:15:00Z"));
        let ten = epoch_seconds(at("2026-11-21T10:00:00Z"));
        assert_eq!(
            utc(clipped_window(Window::Hour, Tz::UTC, ten, from, to)),
            (from, at("2026-11-21T11:00:00Z"))
        );
        let noon = epoch_seconds(at("2026-11-21T12:00:00Z"));
        assert_eq!(
            utc(clipped_window(Window::Hour, Tz::UTC, noon, from, to)),
            (at("2026-11-21T12:00:00Z"), to)
        );
        // A day's bucket is its local midnight on the zone's clock.
        let local_midnight = epoch_seconds(at("2026-03-29T00:00:00Z"));
        let (start, end) = clipped_window(
            Window::Day,
            berlin(),
            local_midnight,
            at("2026-03-01T00:00:00Z"),
            at("2026-04-01T00:00:00Z"),
        );
        assert_eq!(
            (start.to_rfc3339(), end.to_rfc3339()),
            (
                "2026-03-29T00:00:00+01:00".to_owned(),
                "2026-03-30T00:00:00+02:00".to_owned()
            )
        );
        assert_eq!(
            last_hour_range(at("2026-11-21T10:00:30Z")),
            (at("2026-11-21T09:01:00Z"), at("2026-11-21T10:01:00Z"))
        );
    }

    #[test]
    fn the_window_after_the_last_is_the_end_of_the_calendar() {
        let end = DateTime::<Utc>::MAX_UTC;
        let kiritimati = parse_time_zone("Pacific/Kiritimati").expect("a zone");
        for zone in [Tz::UTC, berlin(), kiritimati] {
            assert_eq!(Window::Day.next(end, zone), end);
            assert_eq!(Window::Month.next(end, zone), end);
        }
        // Written with UTC's offset where the zone's would leave the calendar.
        assert_eq!(zone::written_in(kiritimati, end), end.fixed_offset());
        assert!(
            zone::written_in(kiritimati, end)
                .to_rfc3339()
                .ends_with("+00:00")
        );
    }
}
