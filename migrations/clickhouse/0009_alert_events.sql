-- Alert history (issue 14): every transition of an alert series, copied from PostgreSQL's
-- `alert_transitions` by its number `id`, so that a copy repeated after a crash replaces the
-- first (read with FINAL). Times are milliseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS alert_events
(
    tenant_id String,
    rule_id String,
    rule_name String,
    series String,
    labels String,
    from_state String,
    to_state String,
    at_date Date,
    at_ms Int64,
    value String,
    id UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at_date)
ORDER BY (tenant_id, rule_name, series, at_ms, id);
