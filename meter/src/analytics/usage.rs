//! A meter's usage read from its rollups: the newest rows of the coarsest of
//! `rollup_minute_v2`, `rollup_hour_v2` and `rollup_day_v2` that answers
//! ([`crate::usage::coarsest_for`]) for counts, sums, extremes and latest values,
//! `rollup_unique` for distinct values, per window and combination of groups.
//! The meter's tenant binds every row read, and the answer's rows are capped in the SQL.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::Analytics;
use super::rollups::Sums;
use crate::meter::{Aggregation, Meter};
use crate::usage::{
    Tz, UsageLimits, UsagePoint, UsageQuery, Window, clipped_window, coarsest_for, epoch_seconds,
    group_positions, offset_changes,
};
use crate::{Error, Result};

/// A window's events and value (its sum, extreme or latest value, as text to keep
/// `Decimal128` exact; empty where the events are the value, or distinct values are).
#[derive(Debug, clickhouse::Row, Deserialize)]
pub(super) struct SumsRow {
    pub(super) bucket: u32,
    pub(super) groups: Vec<String>,
    pub(super) events: u64,
    value: String,
}

impl SumsRow {
    /// The meter's value over the row's events (for UNIQUE_COUNT, the events: its distinct
    /// values are counted apart).
    pub(super) fn value(&self, aggregation: Aggregation) -> Result<Option<Decimal>> {
        Ok(match aggregation {
            Aggregation::Count | Aggregation::UniqueCount => Some(Decimal::from(self.events)),
            Aggregation::Avg => parse_decimal(&self.value)?.checked_div(Decimal::from(self.events)),
            Aggregation::Sum | Aggregation::Min | Aggregation::Max | Aggregation::Latest => {
                Some(parse_decimal(&self.value)?)
            }
        })
    }
}

/// A window's count of distinct values.
#[derive(Debug, clickhouse::Row, Deserialize)]
pub(super) struct DistinctRow {
    pub(super) bucket: u32,
    pub(super) groups: Vec<String>,
    pub(super) distinct: u64,
}

impl Analytics {
    /// Computes a meter over a range within [`UsageLimits::EXPORT`]; the meter's tenant binds
    /// every row read.
    pub async fn usage(&self, meter: &Meter, query: &UsageQuery) -> Result<Vec<UsagePoint>> {
        self.usage_within(meter, query, UsageLimits::EXPORT).await
    }

    /// Computes a meter over a range within `limits`; the meter's tenant binds every row read.
    /// A range of too many windows is refused before ClickHouse is asked, and an answer of
    /// more than `limits.max_rows` rows is refused, not buffered.
    #[tracing::instrument(
        skip_all,
        fields(tenant_id = %meter.tenant_id, meter = %meter.spec.key, window = %query.window)
    )]
    pub async fn usage_within(
        &self,
        meter: &Meter,
        query: &UsageQuery,
        limits: UsageLimits,
    ) -> Result<Vec<UsagePoint>> {
        limits.check(query)?;
        let (from, to) = (query.from, query.to);
        let group_columns: Vec<String> = group_positions(meter, &query.group_by)?
            .into_iter()
            .map(|position| format!("group_values[{position}]"))
            .collect();
        let groups_sql = if group_columns.is_empty() {
            "emptyArrayString()".to_owned()
        } else {
            format!("[{}]", group_columns.join(", "))
        };
        // Rollup minutes are seconds since 1970 in a UInt32: a range beyond is clamped to it.
        let range = (epoch_seconds(from), epoch_seconds(to));
        let bucket = bucket_sql(query.window, query.time_zone, range);
        let subject_filter = if query.subject.is_some() {
            " AND subject = ?"
        } else {
            ""
        };
        let row_limit = limits.max_rows.saturating_add(1);
        let tenant = meter.tenant_id.to_string();
        let meter_id = meter.id.to_string();

        // Both queries read the same rows of the tenant's meter; the tenant binds every one.
        let filter = format!(
            "tenant_id = ? AND meter_id = ? AND minute >= ? AND minute < ?{subject_filter}"
        );
        // One thread: a usage query reads one key's rows, mostly a few granules, and
        // ClickHouse 18.16 starts a query's threads anew for every query, which costs more
        // than reading so few rows in parallel saves.
        let filtered = |sql: &str| {
            let bound = self
                .client
                .query(sql)
                .with_setting("max_threads", "1")
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
        let aggregation = meter.spec.aggregation;
        let sums = Sums::of(aggregation);
        let newest_rows = sums.newest_rows_sql(
            coarsest_for(query.window, query.time_zone, range.0, range.1),
            &filter,
        );
        // Sorted here rather than in the SQL, which costs ClickHouse a sort per query.
        let sums_sql = format!(
            "SELECT toUInt32({bucket}) AS bucket, {groups_sql} AS groups, sum(events) AS events,
                    {value} AS value
             FROM ({newest_rows})
             GROUP BY bucket, groups LIMIT {row_limit}",
            value = sums.value,
        );
        let mut rows: Vec<SumsRow> = filtered(&sums_sql).fetch_all().await?;
        if rows.len() as u64 > limits.max_rows {
            return Err(limits.too_many_rows());
        }
        rows.sort_unstable_by(|one, other| {
            (one.bucket, &one.groups).cmp(&(other.bucket, &other.groups))
        });
        for row in rows {
            let value = row.value(aggregation)?;
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
                let (window_start, window_end) =
                    clipped_window(query.window, query.time_zone, bucket, from, to);
                UsagePoint {
                    window_start,
                    window_end,
                    groups: query.group_by.iter().cloned().zip(groups).collect(),
                    events,
                    value,
                }
            })
            .collect())
    }
}

/// The SQL giving the start of the window of `minute` (seconds since 1970), for minutes in
/// `range`: on UTC's clock for minutes and hours, on `zone`'s for days and months.
fn bucket_sql(window: Window, zone: Tz, range: (u32, u32)) -> String {
    match window {
        Window::Minute => "minute".to_owned(),
        Window::Hour => "intDiv(minute, 3600) * 3600".to_owned(),
        Window::Day => format!("intDiv({}, 86400) * 86400", local_minute_sql(zone, range)),
        Window::Month => format!(
            "toUInt32(toDateTime(toStartOfMonth(toDateTime({}, 'UTC')), 'UTC'))",
            local_minute_sql(zone, range)
        ),
    }
}

/// The SQL giving `minute` on `zone`'s clock (seconds since 1970), exact for minutes in
/// `range`: the zone's offset there, switching where clocks change. The first hours of 1970
/// west of UTC, before 1970 on the zone's clock, count as its first second.
fn local_minute_sql(zone: Tz, (from, to): (u32, u32)) -> String {
    let (first, changes) = offset_changes(zone, i64::from(from), i64::from(to));
    if first == 0 && changes.is_empty() {
        return "minute".to_owned();
    }
    let mut branches = String::new();
    let mut offset = first;
    for (second, after) in changes {
        branches.push_str(&format!("minute < {second}, {offset}, "));
        offset = after;
    }
    let offset_sql = if branches.is_empty() {
        offset.to_string()
    } else {
        format!("multiIf({branches}{offset})")
    };
    format!("toUInt32(greatest(toInt64(minute) + {offset_sql}, 0))")
}

/// Reads a `Decimal128` that ClickHouse wrote as text.
pub(super) fn parse_decimal(text: &str) -> Result<Decimal> {
    Decimal::from_str(text)
        .map(|value| value.normalize())
        .map_err(|error| {
            Error::Invalid(format!(
                "clickhouse returned a bad decimal {text:?}: {error}"
            ))
        })
}
