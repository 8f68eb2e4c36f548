//! The newest rows of the rollup tables (`rollup_minute_v2`, `rollup_hour_v2`,
//! `rollup_day_v2`) without `FINAL`, which is slow on ClickHouse 18.16: every (key, partition,
//! block) is reduced to the columns of its row of highest version with
//! `argMax(column, version)`, the row that `FINAL` (and, in time, a merge) keeps. Rows of equal
//! version are equal: they sum the same prefix of their block. Usage queries aggregate these
//! rows further, and read only the sums their meter's aggregation needs: a query of one key
//! reads few rows, and then most of its cost on 18.16 is its analysis, which grows with every
//! column and function it names.

use crate::meter::Aggregation;
use crate::usage::Resolution;

/// The sums a usage query of one aggregation reads besides `events`, which every one counts.
pub(super) struct Sums {
    /// The newest row's columns, as `argMax` expressions of the subquery.
    newest: &'static str,
    /// The SQL of a window's value over the newest rows, as text to keep `Decimal128` exact;
    /// `''` where the value is not a sum of these columns (the events, or distinct values).
    pub(super) value: &'static str,
}

impl Sums {
    /// Returns what a meter of `aggregation` reads.
    pub(super) fn of(aggregation: Aggregation) -> Self {
        match aggregation {
            Aggregation::Count | Aggregation::UniqueCount => Self {
                newest: "",
                value: "''",
            },
            Aggregation::Sum | Aggregation::Avg => Self {
                newest: ", argMax(value_sum, version) AS value_sum",
                value: "toString(sum(value_sum))",
            },
            Aggregation::Min => Self {
                newest: ", argMax(value_min, version) AS value_min",
                value: "toString(min(value_min))",
            },
            Aggregation::Max => Self {
                newest: ", argMax(value_max, version) AS value_max",
                value: "toString(max(value_max))",
            },
            Aggregation::Latest => Self {
                newest: ", argMax(latest_time_ms, version) AS latest_time_ms, \
                         argMax(latest_position, version) AS latest_position, \
                         argMax(latest_value, version) AS latest_value",
                value: "toString(argMax(\
                            latest_value, (latest_time_ms, latest_position, kafka_partition)\
                        ))",
            },
        }
    }

    /// SQL of a subquery of the newest rows of `resolution`'s table that match `filter`:
    /// columns `minute`, `subject`, `group_values`, `kafka_partition`, `events` and these
    /// sums.
    pub(super) fn newest_rows_sql(&self, resolution: Resolution, filter: &str) -> String {
        format!(
            "SELECT minute, subject, group_values, kafka_partition, \
                    argMax(events, version) AS events{newest}
             FROM {table} WHERE {filter}
             GROUP BY minute, subject, group_values, kafka_partition, block",
            newest = self.newest,
            table = resolution.table(),
        )
    }

    /// [`Self::newest_rows_sql`] of several meters at once: the same subquery with columns
    /// `tenant_id` and `meter_id` too, for a query that answers for every key it names.
    pub(super) fn newest_keyed_rows_sql(&self, resolution: Resolution, filter: &str) -> String {
        format!(
            "SELECT tenant_id, meter_id, minute, subject, group_values, kafka_partition, \
                    argMax(events, version) AS events{newest}
             FROM {table} WHERE {filter}
             GROUP BY tenant_id, meter_id, minute, subject, group_values, kafka_partition, block",
            newest = self.newest,
            table = resolution.table(),
        )
    }
}
