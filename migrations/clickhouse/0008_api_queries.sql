-- Platform usage also counts the API queries each tenant's keys made, from the API nodes'
-- metering records. Rows written before this migration read 0. One statement, so that a
-- failed run leaves nothing half applied.
ALTER TABLE usage_hour ADD COLUMN api_queries UInt64 DEFAULT 0;
