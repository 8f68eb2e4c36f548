-- The aggregator's tables. Every write is idempotent, so that replaying any range of the
-- Kafka log leaves the same result (see meter/src/aggregator.rs for the design):
--  * rows keyed by an event's identity or its log position collapse when written twice
--    (ReplacingMergeTree, and readers use FINAL or aggregate functions immune to repeats);
--  * rows holding sums carry the Kafka partition and offset block they summarise and a version
--    (the last offset included), so a rewrite of a block replaces its older rows.
-- Times are seconds or milliseconds since the Unix epoch; values are Decimal128(9).

-- Raw events, hot for event listings; replaces 0001's table, which could hold replayed copies.
DROP TABLE IF EXISTS events_raw;

CREATE TABLE IF NOT EXISTS events_raw
(
    tenant_id String,
    ingest_date Date,
    ingest_time_ms Int64,
    event_time_ms Int64,
    id String,
    source String,
    type String,
    subject String,
    data String
)
ENGINE = ReplacingMergeTree
PARTITION BY ingest_date
ORDER BY (tenant_id, ingest_time_ms, source, id);

-- The first occurrence of every (tenant, source, id) within the dedup window, and where in the
-- log it was: an occurrence elsewhere is a duplicate. Looked up by a 64-bit hash of the
-- identity (then compared in full), in fine index granules so that a lookup of a pass's events
-- reads few rows; monthly partitions keep the number of indexes a lookup visits small.
CREATE TABLE IF NOT EXISTS event_ids
(
    key_hash UInt64,
    tenant_id String,
    source String,
    id String,
    seen_date Date,
    kafka_partition UInt32,
    kafka_offset UInt64,
    position UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(seen_date)
ORDER BY (key_hash, tenant_id, source, id)
SETTINGS index_granularity = 256;

-- Per-minute rollups per tenant x meter x subject x group values, in event time. One row per
-- Kafka block that touched the key; the row with the highest version of a block wins.
CREATE TABLE IF NOT EXISTS rollup_minute
(
    tenant_id String,
    meter_id String,
    minute UInt32,
    subject String,
    group_values Array(String),
    kafka_partition UInt32,
    block UInt64,
    version UInt64,
    events UInt64,
    value_sum Decimal128(9),
    value_min Decimal128(9),
    value_max Decimal128(9),
    latest_time_ms Int64,
    latest_position UInt64,
    latest_value Decimal128(9)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY intDiv(minute, 2592000)
ORDER BY (tenant_id, meter_id, minute, subject, group_values, kafka_partition, block);

-- Distinct values of UNIQUE_COUNT meters per minute: a value seen twice is one row.
CREATE TABLE IF NOT EXISTS rollup_unique
(
    tenant_id String,
    meter_id String,
    minute UInt32,
    subject String,
    group_values Array(String),
    value String
)
ENGINE = ReplacingMergeTree
PARTITION BY intDiv(minute, 2592000)
ORDER BY (tenant_id, meter_id, minute, subject, group_values, value);

-- Platform usage per tenant and hour, from the ingest nodes' metering records.
CREATE TABLE IF NOT EXISTS usage_hour
(
    tenant_id String,
    hour UInt32,
    kafka_partition UInt32,
    block UInt64,
    version UInt64,
    accepted_events UInt64,
    rejected_events UInt64,
    accepted_bytes UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY intDiv(hour, 2592000)
ORDER BY (tenant_id, hour, kafka_partition, block);

-- Rejected events with their reasons: from ingest (the quarantine topic) and from the
-- aggregator (too late for a meter, or no usable value).
CREATE TABLE IF NOT EXISTS quarantine
(
    tenant_id String,
    ingest_date Date,
    ingest_time_ms Int64,
    topic String,
    kafka_partition UInt32,
    kafka_offset UInt64,
    position UInt32,
    event_id String,
    reason String,
    raw String
)
ENGINE = ReplacingMergeTree
PARTITION BY ingest_date
ORDER BY (tenant_id, ingest_time_ms, topic, kafka_partition, kafka_offset, position, reason);
