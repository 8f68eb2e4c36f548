-- The block size (meter.block_records) that the sums of rollup_minute and usage_hour are cut
-- in. A row's block is its offset divided by that size, so the size cannot change while those
-- rows exist: the first aggregator records its size here, and one started with another size
-- refuses to run. Concurrent first starts both record theirs; the earliest row wins.
CREATE TABLE IF NOT EXISTS block_layout
(
    block_records UInt64,
    recorded_ms Int64
)
ENGINE = MergeTree
ORDER BY (recorded_ms, block_records);
