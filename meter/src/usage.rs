//! Usage: what a tenant's meter counted over a time range, per window, optionally grouped
//! and filtered by subject. This module owns the domain types ([`Window`], [`UsageQuery`],
//! [`UsagePoint`], [`UsageLimits`]) and the window math; the SQL over the aggregator's rollups
//! is [`Analytics::usage_within`]. Every aggregation is exact over any window, because rollups
//! keep sums, counts, extremes and latest values (and distinct values for UNIQUE_COUNT) rather
//! than per-minute results.
//!
//! Rollups are per event-time minute (UTC), so a range is widened to whole minutes. Every
//! query is bounded ([`UsageLimits`]): its windows are counted before any store is asked and
//! its rows are capped in the SQL.

mod limits;
mod resolution;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::analytics::Analytics;
use crate::catalog::{self, Catalog};
use crate::ids::{MeterKey, TenantId};
use crate::meter::{Aggregation, Meter};
use crate::{Error, Result};

pub use self::limits::{UsageLimits, count_windows};
pub(crate) use self::limits::{epoch_seconds, floor_minute};
pub use self::resolution::{Resolution, coarsest_for};

/// The size of the windows usage is reported in, aligned to UTC.
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

    /// Returns the start of the next window after the one starting at `start`, or the end of
    /// the calendar.
    pub fn next(self, start: DateTime<Utc>) -> DateTime<Utc> {
        let after = |size: Duration| {
            start
                .checked_add_signed(size)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        match self {
            Self::Minute => after(Duration::minutes(1)),
            Self::Hour => after(Duration::hours(1)),
            Self::Day => after(Duration::days(1)),
            Self::Month => {
                let (year, month) = if start.month() == 12 {
                    (start.year() + 1, 1)
                } else {
                    (start.year(), start.month() + 1)
                };
                Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
                    .single()
                    .unwrap_or(start)
            }
        }
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
    /// Start of the range (widened down to a whole minute).
    pub from: DateTime<Utc>,
    /// End of the range, exclusive (widened up to a whole minute).
    pub to: DateTime<Utc>,
    /// Window size.
    pub window: Window,
    /// Group names of the meter to split by; the others are summed over.
    pub group_by: Vec<String>,
    /// Only events of this subject, when given.
    pub subject: Option<String>,
}

/// The value of a meter in one window, for one combination of the requested groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsagePoint {
    /// Start of the window (or of the range, if later).
    pub window_start: DateTime<Utc>,
    /// End of the window (or of the range, if earlier), exclusive.
    pub window_end: DateTime<Utc>,
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

/// The bounds of the window of `window` size starting at `bucket` (seconds since the epoch,
/// as rollups store minutes), clipped to the range `[from, to)`.
pub(crate) fn clipped_window(
    window: Window,
    bucket: u32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc
        .timestamp_opt(i64::from(bucket), 0)
        .single()
        .unwrap_or(from);
    (start.max(from), window.next(start).min(to))
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
        group_by: Vec::new(),
        subject: None,
    };
    let found: HashMap<DateTime<Utc>, UsagePoint> = analytics
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
            let start = from + Duration::minutes(minute);
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
    use super::*;

    #[test]
    fn months_roll_over_the_year_and_ranges_widen_to_minutes() {
        let december = Utc
            .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
            .single()
            .expect("valid");
        let january = Utc
            .with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(Window::Month.next(december), january);
        let odd = Utc
            .with_ymd_and_hms(2026, 11, 21, 10, 0, 30)
            .single()
            .expect("valid");
        assert_eq!(floor_minute(odd).timestamp() % 60, 0);
        assert_eq!(
            limits::ceil_minute(odd).map(|ceil| ceil - floor_minute(odd)),
            Some(Duration::minutes(1))
        );
        assert_eq!("day".parse::<Window>().ok(), Some(Window::Day));
    }

    #[test]
    fn windows_are_clipped_to_the_range_and_the_last_hour_ends_with_this_minute() {
        let at = |text: &str| {
            text.parse::<DateTime<Utc>>()
                .expect("a valid RFC 3339 time")
        };
        let (from, to) = (at("2026-11-21T10:30:00Z"), at("2026-11-21T12:15:00Z"));
        let ten = epoch_seconds(at("2026-11-21T10:00:00Z"));
        assert_eq!(
            clipped_window(Window::Hour, ten, from, to),
            (from, at("2026-11-21T11:00:00Z"))
        );
        let noon = epoch_seconds(at("2026-11-21T12:00:00Z"));
        assert_eq!(
            clipped_window(Window::Hour, noon, from, to),
            (at("2026-11-21T12:00:00Z"), to)
        );
        assert_eq!(
            last_hour_range(at("2026-11-21T10:00:30Z")),
            (at("2026-11-21T09:01:00Z"), at("2026-11-21T10:01:00Z"))
        );
    }

    #[test]
    fn the_window_after_the_last_is_the_end_of_the_calendar() {
        let end = DateTime::<Utc>::MAX_UTC;
        assert_eq!(Window::Day.next(end), end);
    }
}
