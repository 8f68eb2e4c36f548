-- Dedup's memory moves from event_ids to event_positions, which keeps every position an event
-- was recorded at as its first occurrence. Normally there is one; there are two when copies of
-- an event in two partitions (a resend after the tenant's hot flag or the partition count
-- changed) were read by two aggregators at the same moment, each finding no earlier one. The
-- smallest position is the event's first occurrence. event_ids kept, once merged, whichever
-- row was inserted last, so a later replay could flip the decision; with the position in the
-- key here, no merge removes one.
--
-- Every statement is safe to repeat: should a run stop after the DROP, the first statement
-- gives the copy an empty source.
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

CREATE TABLE IF NOT EXISTS event_positions
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
ORDER BY (key_hash, tenant_id, source, id, kafka_partition, kafka_offset, position)
SETTINGS index_granularity = 256;

INSERT INTO event_positions
SELECT key_hash, tenant_id, source, id, seen_date, kafka_partition, kafka_offset, position
FROM event_ids;

DROP TABLE IF EXISTS event_ids;
