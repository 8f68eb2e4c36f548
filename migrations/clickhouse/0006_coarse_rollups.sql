-- rollup_minute's sums per hour and per day, in tables like it, so that usage over long ranges
-- reads few rows.
-- The aggregator writes them from the same block state as the minute rows: one row per
-- (key, partition, block) that sums the block's minutes of the hour (or day), tagged with the
-- block's version. `minute` is the first minute of the hour (or day), so queries bucket and
-- filter every table alike.
CREATE TABLE IF NOT EXISTS rollup_hour AS rollup_minute;

CREATE TABLE IF NOT EXISTS rollup_day AS rollup_minute;

-- What the aggregator writes: every rollup row of a pass, tagged with its table's resolution
-- ('minute', 'hour' or 'day'), in one insert that the views below route to the three tables,
-- so that no crash of the aggregator leaves one table ahead of another.
CREATE TABLE IF NOT EXISTS rollup_writes AS rollup_minute ENGINE = Null;

ALTER TABLE rollup_writes ADD COLUMN resolution String;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_minute_writes TO rollup_minute AS
SELECT tenant_id, meter_id, minute, subject, group_values, kafka_partition, block, version,
       events, value_sum, value_min, value_max, latest_time_ms, latest_position, latest_value
FROM rollup_writes WHERE resolution = 'minute';

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_hour_writes TO rollup_hour AS
SELECT tenant_id, meter_id, minute, subject, group_values, kafka_partition, block, version,
       events, value_sum, value_min, value_max, latest_time_ms, latest_position, latest_value
FROM rollup_writes WHERE resolution = 'hour';

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_day_writes TO rollup_day AS
SELECT tenant_id, meter_id, minute, subject, group_values, kafka_partition, block, version,
       events, value_sum, value_min, value_max, latest_time_ms, latest_position, latest_value
FROM rollup_writes WHERE resolution = 'day';

-- The minute rows written before: each block's newest rows, summed per hour and day with the
-- highest version among them (what the aggregator writes for that block prefix). Repeating
-- this writes the same rows again. Blocks that aggregators of an earlier release write after
-- it runs are missing from the new tables: upgrade the aggregators with the migration.
INSERT INTO rollup_writes
    (resolution, tenant_id, meter_id, minute, subject, group_values, kafka_partition, block,
     version, events, value_sum, value_min, value_max, latest_time_ms, latest_position,
     latest_value)
SELECT bucket.1 AS resolution, tenant_id, meter_id, intDiv(minute, bucket.2) * bucket.2 AS start,
       subject, group_values, kafka_partition, block, max(version), sum(events), sum(value_sum),
       min(value_min), max(value_max), max(latest_time_ms),
       argMax(latest_position, (latest_time_ms, latest_position)),
       argMax(latest_value, (latest_time_ms, latest_position))
FROM rollup_minute FINAL ARRAY JOIN [('hour', 3600), ('day', 86400)] AS bucket
GROUP BY resolution, bucket, tenant_id, meter_id, start, subject, group_values, kafka_partition,
         block;
