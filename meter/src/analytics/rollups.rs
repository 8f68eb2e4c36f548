//! The newest rows of the rollup tables (`rollup_minute`, `rollup_hour`, `rollup_day`) without
//! `FINAL`, which is slow on ClickHouse 18.16: every (key, partition, block) is reduced to the
//! columns of its row of highest version with `argMax(column, version)`, the row that `FINAL`
//! (and, in time, a merge) keeps. Rows of equal version are equal: they sum the same prefix of
//! their block. Usage queries aggregate these rows further.

use crate::usage::Resolution;

/// Each summing column of a rollup row, from the row of highest version.
const NEWEST_SUMS: &str = "argMax(events, version) AS events, \
     argMax(value_sum, version) AS value_sum, argMax(value_min, version) AS value_min, \
     argMax(value_max, version) AS value_max, \
     argMax(latest_time_ms, version) AS latest_time_ms, \
     argMax(latest_position, version) AS latest_position, \
     argMax(latest_value, version) AS latest_value";

/// SQL of a subquery of the newest rows of `resolution`'s table that match `filter`: columns
/// `minute`, `subject`, `group_values`, `kafka_partition` and the sums.
pub(super) fn newest_rows_sql(resolution: Resolution, filter: &str) -> String {
    format!(
        "SELECT minute, subject, group_values, kafka_partition, {NEWEST_SUMS}
         FROM {table} WHERE {filter}
         GROUP BY minute, subject, group_values, kafka_partition, block",
        table = resolution.table(),
    )
}
