-- Raw events as ingest accepted them, kept hot for the last-hour views and event listings.
-- Retention drops whole day partitions (ClickHouse 18.16 has no TTL clause); times are
-- milliseconds since the Unix epoch (no DateTime64 there either).
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
ENGINE = MergeTree
PARTITION BY ingest_date
ORDER BY (tenant_id, ingest_time_ms);
