-- Per-tenant ingest limits: a token bucket (rate, burst) and an optional monthly event quota,
-- hard (refuse) or soft (accept and flag). Tenants without a row get the configured defaults.
CREATE TABLE quotas (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    rate_per_sec bigint NOT NULL CHECK (rate_per_sec > 0),
    burst bigint NOT NULL CHECK (burst > 0),
    monthly_events bigint CHECK (monthly_events >= 0),
    monthly_mode text NOT NULL DEFAULT 'hard' CHECK (monthly_mode IN ('hard', 'soft')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Events accepted per tenant and calendar month (UTC), summed from every ingest node.
CREATE TABLE quota_usage (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    period date NOT NULL,
    events bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, period)
);

-- Event types a tenant registered; a tenant with any registered type may send only those.
CREATE TABLE event_types (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_type text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_type)
);

-- Hot tenants' events are keyed by tenant and subject, spreading them over partitions.
ALTER TABLE tenants ADD COLUMN hot boolean NOT NULL DEFAULT false;
