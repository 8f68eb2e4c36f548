-- Quarantined events keep only a prefix of their raw bytes (ingest.quarantine_raw_bytes), so
-- each row also records the full length and the SHA-256 (hex) of the whole event. Rows written
-- before this migration read 0 and ''. One statement, so that a failed run leaves nothing
-- half applied.
ALTER TABLE quarantine
    ADD COLUMN raw_bytes UInt64 DEFAULT 0,
    ADD COLUMN raw_sha256 String DEFAULT '';
