//! A meter's totals over a range for a set of subjects, split by at most one group: what
//! billing rates for a customer's period. One bucket spans the whole range, so every
//! aggregation (distinct counts, extremes, averages) is computed over all of the range's rows
//! at once, never added up from windows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::Analytics;
use super::rollups::Sums;
use super::usage::{DistinctRow, SumsRow};
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
        let range = (epoch_seconds(from), epoch_seconds(to));
        if !range.0.is_multiple_of(60) || !range.1.is_multiple_of(60) || range.0 >= range.1 {
            return Err(Error::Invalid(format!(
                "usage is kept per minute: totals need a range of whole minutes, not \
                 [{from}, {to})"
            )));
        }
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let groups_sql = match split_by {
            Some(name) => {
                let position = group_positions(meter, &[name.to_owned()])?[0];
                format!("[group_values[{position}]]")
            }
            None => "emptyArrayString()".to_owned(),
        };
        // The coarsest table whose buckets the range starts and ends on.
        let resolution = Resolution::ALL
            .into_iter()
            .rev()
            .find(|resolution| {
                range.0.is_multiple_of(resolution.seconds())
                    && range.1.is_multiple_of(resolution.seconds())
            })
            .unwrap_or(Resolution::Minute);
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
