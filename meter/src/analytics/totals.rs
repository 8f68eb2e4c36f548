//! A meter's totals over a range for a set of subjects, split by at most one group: what
//! billing rates for a customer's period. One bucket spans the whole range, so every
//! aggregation (distinct counts, extremes, averages) is computed over all of the range's rows
//! at once, never added up from windows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::Analytics;
use super::rollups::Sums;
use super::usage::{DistinctRow, SumsRow, parse_decimal};
use crate::meter::{Aggregation, Meter};
use crate::usage::{Resolution, epoch_seconds, group_positions};
use crate::{Error, Result};

/// A meter's total over a range for one value of the group split by (`""` without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Total {
    /// The group's value, or `""` when the totals are not split.
    pub group_value: String,
    /// Events counted.
    pub events: u64,
    /// The aggregate; `None` for MIN, MAX, AVG and LATEST without events.
    pub value: Option<Decimal>,
}

/// What [`whole_minutes`] asks of a totals range.
const TOTALS_RANGE: &str = "totals need a range of whole minutes";

/// Most group values one totals query answers.
const MAX_GROUP_VALUES: u64 = 10_000;

impl Analytics {
    /// Computes a meter over `[from, to)` (whole minutes) for the events of `subjects`, per
    /// value of the group `split_by` if given: one [`Total`] per group value that has events.
    /// The meter's tenant binds every row read; no subjects means no usage.
    #[tracing::instrument(skip_all, fields(tenant_id = %meter.tenant_id, meter = %meter.spec.key))]
    pub async fn totals(
        &self,
        meter: &Meter,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        subjects: &[String],
        split_by: Option<&str>,
    ) -> Result<Vec<Total>> {
        let (range, resolution) = whole_minutes(from, to, TOTALS_RANGE)?;
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let groups_sql = groups_sql(meter, split_by)?;
        let filter = "tenant_id = ? AND meter_id = ? AND minute >= ? AND minute < ? \
                      AND has(?, subject)";
        let tenant = meter.tenant_id.to_string();
        let meter_id = meter.id.to_string();
        let limit = MAX_GROUP_VALUES + 1;
        let bound = |sql: &str| {
            self.client
                .query(sql)
                .bind(&tenant)
                .bind(&meter_id)
                .bind(range.0)
                .bind(range.1)
                .bind(subjects)
        };
        let sums = Sums::of(meter.spec.aggregation);
        let sums_sql = format!(
            "SELECT toUInt32(0) AS bucket, {groups_sql} AS groups, sum(events) AS events,
                    {value} AS value
             FROM ({newest_rows}) GROUP BY groups ORDER BY groups LIMIT {limit}",
            value = sums.value,
            newest_rows = sums.newest_rows_sql(resolution, filter),
        );
        let rows: Vec<SumsRow> = bound(&sums_sql).fetch_all().await?;
        let distinct: HashMap<Vec<String>, u64> =
            if meter.spec.aggregation == Aggregation::UniqueCount {
                let distinct_sql = format!(
                    "SELECT toUInt32(0) AS bucket, {groups_sql} AS groups,
                            uniqExact(value) AS distinct
                     FROM rollup_unique WHERE {filter} GROUP BY groups LIMIT {limit}"
                );
                let rows: Vec<DistinctRow> = bound(&distinct_sql).fetch_all().await?;
                rows.into_iter()
                    .map(|row| (row.groups, row.distinct))
                    .collect()
            } else {
                HashMap::new()
            };
        if rows.len() as u64 > MAX_GROUP_VALUES {
            return Err(Error::Invalid(format!(
                "meter {} has more than {MAX_GROUP_VALUES} values of {} in the range",
                meter.spec.key,
                split_by.unwrap_or_default()
            )));
        }
        rows.into_iter()
            .map(|row| {
                let value = match meter.spec.aggregation {
                    Aggregation::UniqueCount => Some(Decimal::from(
                        distinct.get(&row.groups).copied().unwrap_or(0),
                    )),
                    aggregation => row.value(aggregation)?,
                };
                Ok(Total {
                    group_value: row.groups.into_iter().next().unwrap_or_default(),
                    events: row.events,
                    value,
                })
            })
            .collect()
    }
}

/// A meter's total over a range for one subject and one value of the group split by, in a
/// form that adds up over subjects: see [`Analytics::totals_by_subject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTotal {
    /// The subject.
    pub subject: String,
    /// The group's value, or `""` when the totals are not split.
    pub group_value: String,
    /// Events counted.
    pub events: u64,
    /// The sum of values for SUM and AVG, the extreme for MIN and MAX, none for COUNT.
    pub partial: Option<Decimal>,
}

/// A subject's row of [`Analytics::totals_by_subject`].
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct SubjectRow {
    subject: String,
    groups: Vec<String>,
    events: u64,
    value: String,
}

impl Analytics {
    /// Computes a meter over `[from, to)` (whole minutes) per subject, and per value of the
    /// group `split_by` if given, for every subject at once: what an invoice run merges into
    /// its customers' totals with one query per meter and period instead of one per
    /// customer. Only for aggregations whose totals merge over subjects (COUNT, SUM, AVG, MIN
    /// and MAX, see [`Aggregation::merges_over_subjects`]).
    #[tracing::instrument(skip_all, fields(tenant_id = %meter.tenant_id, meter = %meter.spec.key))]
    pub async fn totals_by_subject(
        &self,
        meter: &Meter,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        split_by: Option<&str>,
    ) -> Result<Vec<SubjectTotal>> {
        let aggregation = meter.spec.aggregation;
        if !aggregation.merges_over_subjects() {
            return Err(Error::Invalid(format!(
                "{aggregation} totals do not add up over subjects"
            )));
        }
        let (range, resolution) = whole_minutes(from, to, TOTALS_RANGE)?;
        let groups_sql = groups_sql(meter, split_by)?;
        let sums = Sums::of(aggregation);
        let sql = format!(
            "SELECT subject, {groups_sql} AS groups, sum(events) AS events, {value} AS value
             FROM ({newest_rows}) GROUP BY subject, groups",
            value = sums.value,
            newest_rows = sums.newest_rows_sql(
                resolution,
                "tenant_id = ? AND meter_id = ? AND minute >= ? AND minute < ?"
            ),
        );
        let rows: Vec<SubjectRow> = self
            .client
            .query(&sql)
            .bind(meter.tenant_id.to_string())
            .bind(meter.id.to_string())
            .bind(range.0)
            .bind(range.1)
            .fetch_all()
            .await?;
        rows.into_iter()
            .map(|row| {
                let partial = match aggregation {
                    Aggregation::Count => None,
                    _ => Some(parse_decimal(&row.value)?),
                };
                Ok(SubjectTotal {
                    subject: row.subject,
                    group_value: row.groups.into_iter().next().unwrap_or_default(),
                    events: row.events,
                    partial,
                })
            })
            .collect()
    }
}

/// Checks that a range is of whole minutes, and returns it in seconds with the coarsest rollup
/// table whose buckets it starts and ends on; `rule` says what the caller needs, for the error.
pub(super) fn whole_minutes(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rule: &str,
) -> Result<((u32, u32), Resolution)> {
    let range = (epoch_seconds(from), epoch_seconds(to));
    if !range.0.is_multiple_of(60) || !range.1.is_multiple_of(60) || range.0 >= range.1 {
        return Err(Error::Invalid(format!(
            "usage is kept per minute: {rule}, not [{from}, {to})"
        )));
    }
    let resolution = Resolution::ALL
        .into_iter()
        .rev()
        .find(|resolution| {
            range.0.is_multiple_of(resolution.seconds())
                && range.1.is_multiple_of(resolution.seconds())
        })
        .unwrap_or(Resolution::Minute);
    Ok((range, resolution))
}

/// The SQL of the split-by group's value as a one-element array, or an empty array.
fn groups_sql(meter: &Meter, split_by: Option<&str>) -> Result<String> {
    Ok(match split_by {
        Some(name) => {
            let position = group_positions(meter, &[name.to_owned()])?[0];
            format!("[group_values[{position}]]")
        }
        None => "emptyArrayString()".to_owned(),
    })
}
