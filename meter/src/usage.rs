//! Usage queries: a tenant's meter over a time range, per window, optionally grouped and
//! filtered by subject, computed from the aggregator's rollups. Every aggregation is exact over
//! any window, because rollups keep sums, counts, extremes and latest values (and distinct
//! values for UNIQUE_COUNT) rather than per-minute results.
//!
//! Rollups are per event-time minute (UTC), so a range is widened to whole minutes. Every
//! query is bounded ([`UsageLimits`]): its windows are counted before any store is asked and
//! its rows are capped in the SQL.

mod limits;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::analytics::Analytics;
use crate::catalog::Pool;
use crate::ids::{MeterKey, TenantId};
use crate::meter::{self, Aggregation, Meter};
use crate::{Error, Result};

use self::limits::epoch_seconds;
pub(crate) use self::limits::floor_minute;
pub use self::limits::{UsageLimits, count_windows};

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

    /// The SQL giving the start of the window of `minute` (seconds since the epoch).
    fn bucket_sql(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "intDiv(minute, 3600) * 3600",
            Self::Day => "intDiv(minute, 86400) * 86400",
            Self::Month => "toUInt32(toDateTime(toStartOfMonth(toDateTime(minute, 'UTC')), 'UTC'))",
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

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SumsRow {
    bucket: u32,
    groups: Vec<String>,
    events: u64,
    sum: String,
    min: String,
    max: String,
    latest: String,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct DistinctRow {
    bucket: u32,
    groups: Vec<String>,
    distinct: u64,
}

/// Computes a tenant's meter, found by key, over a range, within [`UsageLimits::EXPORT`].
pub async fn usage(
    pool: &Pool,
    analytics: &Analytics,
    tenant: TenantId,
    meter_key: &MeterKey,
    query: &UsageQuery,
) -> Result<Vec<UsagePoint>> {
    usage_within(
        pool,
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
    pool: &Pool,
    analytics: &Analytics,
    tenant: TenantId,
    meter_key: &MeterKey,
    query: &UsageQuery,
    limits: UsageLimits,
) -> Result<Vec<UsagePoint>> {
    limits.check(query)?;
    let meter = meter::find(pool, tenant, meter_key).await?;
    usage_of_within(analytics, &meter, query, limits).await
}

/// Computes a meter over a range within [`UsageLimits::EXPORT`]; the meter's tenant binds
/// every row read.
pub async fn usage_of(
    analytics: &Analytics,
    meter: &Meter,
    query: &UsageQuery,
) -> Result<Vec<UsagePoint>> {
    usage_of_within(analytics, meter, query, UsageLimits::EXPORT).await
}

/// Computes a meter over a range within `limits`; the meter's tenant binds every row read.
/// An answer of more than `limits.max_rows` rows is refused, not buffered.
pub async fn usage_of_within(
    analytics: &Analytics,
    meter: &Meter,
    query: &UsageQuery,
    limits: UsageLimits,
) -> Result<Vec<UsagePoint>> {
    let (from, to) = limits.check(query)?;
    let group_names: Vec<&String> = meter.spec.group_by.keys().collect();
    let mut group_columns = Vec::with_capacity(query.group_by.len());
    for name in &query.group_by {
        let index = group_names
            .iter()
            .position(|known| *known == name)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "meter {} has no group {name:?} (it has: {})",
                    meter.spec.key,
                    group_names
                        .iter()
                        .map(|name| name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        group_columns.push(format!("group_values[{}]", index + 1));
    }
    let groups_sql = format!("[{}]", group_columns.join(", "));
    let groups_sql = if group_columns.is_empty() {
        "emptyArrayString()".to_owned()
    } else {
        groups_sql
    };
    let bucket = query.window.bucket_sql();
    let subject_filter = if query.subject.is_some() {
        " AND subject = ?"
    } else {
        ""
    };
    // Rollup minutes are seconds since 1970 in a UInt32: a range beyond is clamped to it.
    let range = (epoch_seconds(from), epoch_seconds(to));
    let row_limit = limits.max_rows.saturating_add(1);
    let tenant = meter.tenant_id.to_string();
    let meter_id = meter.id.to_string();

    // Both queries read the same rows of the tenant's meter; the tenant binds every one.
    let filter =
        format!("tenant_id = ? AND meter_id = ? AND minute >= ? AND minute < ?{subject_filter}");
    let filtered = |sql: &str| {
        let bound = analytics
            .client()
            .query(sql)
            .bind(&tenant)
            .bind(&meter_id)
            .bind(range.0)
            .bind(range.1);
        match &query.subject {
            Some(subject) => bound.bind(subject),
            None => bound,
        }
    };
    let mut points: Vec<(u32, Vec<String>, u64, Option<Decimal>)> = Vec::new();
    let sums_sql = format!(
        "SELECT toUInt32({bucket}) AS bucket, {groups_sql} AS groups, sum(events) AS events,
                toString(sum(value_sum)) AS sum, toString(min(value_min)) AS min,
                toString(max(value_max)) AS max,
                toString(argMax(latest_value, (latest_time_ms, latest_position, kafka_partition)))
                    AS latest
         FROM rollup_minute FINAL WHERE {filter}
         GROUP BY bucket, groups ORDER BY bucket, groups LIMIT {row_limit}"
    );
    let rows: Vec<SumsRow> = filtered(&sums_sql).fetch_all().await?;
    if rows.len() as u64 > limits.max_rows {
        return Err(limits.too_many_rows());
    }
    let aggregation = meter.spec.aggregation;
    for row in rows {
        let value = match aggregation {
            Aggregation::Count | Aggregation::UniqueCount => Some(Decimal::from(row.events)),
            Aggregation::Sum => Some(parse_decimal(&row.sum)?),
            Aggregation::Avg => parse_decimal(&row.sum)?.checked_div(Decimal::from(row.events)),
            Aggregation::Min => Some(parse_decimal(&row.min)?),
            Aggregation::Max => Some(parse_decimal(&row.max)?),
            Aggregation::Latest => Some(parse_decimal(&row.latest)?),
        };
        points.push((row.bucket, row.groups, row.events, value));
    }
    if aggregation == Aggregation::UniqueCount {
        let distinct_sql = format!(
            "SELECT toUInt32({bucket}) AS bucket, {groups_sql} AS groups,
                    uniqExact(value) AS distinct
             FROM rollup_unique WHERE {filter}
             GROUP BY bucket, groups LIMIT {row_limit}"
        );
        let rows: Vec<DistinctRow> = filtered(&distinct_sql).fetch_all().await?;
        if rows.len() as u64 > limits.max_rows {
            return Err(limits.too_many_rows());
        }
        let counts: HashMap<(u32, Vec<String>), u64> = rows
            .into_iter()
            .map(|row| ((row.bucket, row.groups), row.distinct))
            .collect();
        for (bucket, groups, _, value) in &mut points {
            let count = counts.get(&(*bucket, groups.clone())).copied().unwrap_or(0);
            *value = Some(Decimal::from(count));
        }
    }
    Ok(points
        .into_iter()
        .map(|(bucket, groups, events, value)| {
            let start = Utc
                .timestamp_opt(i64::from(bucket), 0)
                .single()
                .unwrap_or(from);
            UsagePoint {
                window_start: start.max(from),
                window_end: query.window.next(start).min(to),
                groups: query.group_by.iter().cloned().zip(groups).collect(),
                events,
                value,
            }
        })
        .collect())
}

/// Returns a tenant's meter per minute over the last hour: 60 points, oldest first, ending
/// with the current minute. Minutes without events have no value, or zero for COUNT, SUM and
/// UNIQUE_COUNT.
pub async fn last_hour(
    pool: &Pool,
    analytics: &Analytics,
    tenant: TenantId,
    meter_key: &MeterKey,
) -> Result<Vec<UsagePoint>> {
    let meter = meter::find(pool, tenant, meter_key).await?;
    let to = floor_minute(Utc::now()) + Duration::minutes(1);
    let from = to - Duration::hours(1);
    let query = UsageQuery {
        from,
        to,
        window: Window::Minute,
        group_by: Vec::new(),
        subject: None,
    };
    let found: HashMap<DateTime<Utc>, UsagePoint> = usage_of(analytics, &meter, &query)
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

fn parse_decimal(text: &str) -> Result<Decimal> {
    Decimal::from_str(text)
        .map(|value| value.normalize())
        .map_err(|error| {
            Error::Invalid(format!(
                "clickhouse returned a bad decimal {text:?}: {error}"
            ))
        })
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
    fn the_window_after_the_last_is_the_end_of_the_calendar() {
        let end = DateTime::<Utc>::MAX_UTC;
        assert_eq!(Window::Day.next(end), end);
    }
}
