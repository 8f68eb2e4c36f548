-- Meters: what a tenant wants aggregated from its events. A meter picks events by type, reads
-- a value from their data (a JSON path; none for COUNT), aggregates it, and may group by
-- further JSON paths. Events older than the allowed lateness are quarantined by the
-- aggregator instead of being counted.
CREATE TABLE meters (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key text NOT NULL,
    event_type text NOT NULL,
    value_path text,
    aggregation text NOT NULL
        CHECK (aggregation IN ('SUM', 'COUNT', 'AVG', 'MIN', 'MAX', 'UNIQUE_COUNT', 'LATEST')),
    group_by jsonb NOT NULL DEFAULT '{}',
    allowed_lateness_secs bigint NOT NULL CHECK (allowed_lateness_secs >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, key),
    CHECK ((aggregation = 'COUNT') = (value_path IS NULL))
);
