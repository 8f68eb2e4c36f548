-- Hardening against a tenant's own keys.

-- 1. Platform keys come from the operator only. Every key records who issued it (`operator`,
-- `key:<id>` or `platform:<id>`), backfilled from the audit log, and the database refuses an
-- active platform key issued by anyone but the operator, whatever code path inserts it. Platform
-- keys a tenant's key minted before this migration are revoked.
ALTER TABLE api_keys ADD COLUMN issued_by text NOT NULL DEFAULT 'operator';
UPDATE api_keys k SET issued_by = a.actor
FROM audit_log a
WHERE a.action = 'key.created' AND a.new_value ->> 'id' = k.id::text;
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE scope = 'platform' AND issued_by <> 'operator';
ALTER TABLE api_keys ALTER COLUMN issued_by DROP DEFAULT;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_platform_by_operator
    CHECK (scope <> 'platform' OR issued_by = 'operator' OR revoked_at IS NOT NULL);

-- 2. What the operator granted a tenant: a tenant's admin may set its own limits only within
-- these (lower, never higher). Existing limits were set before tenants could be told apart from
-- the operator, so they become the grant.
ALTER TABLE quotas
    ADD COLUMN granted_rate_per_sec bigint,
    ADD COLUMN granted_burst bigint,
    ADD COLUMN granted_monthly_events bigint,
    ADD COLUMN granted_monthly_mode text;
UPDATE quotas SET granted_rate_per_sec = rate_per_sec, granted_burst = burst,
    granted_monthly_events = monthly_events, granted_monthly_mode = monthly_mode;
ALTER TABLE quotas
    ALTER COLUMN granted_rate_per_sec SET NOT NULL,
    ALTER COLUMN granted_burst SET NOT NULL,
    ALTER COLUMN granted_monthly_mode SET NOT NULL,
    ADD CONSTRAINT quotas_within_grant CHECK (
        rate_per_sec <= granted_rate_per_sec
        AND burst <= granted_burst
        AND (granted_monthly_events IS NULL
             OR (monthly_events IS NOT NULL AND monthly_events <= granted_monthly_events))
        AND (granted_monthly_events IS NULL OR granted_monthly_mode = 'soft'
             OR monthly_mode = 'hard')
    ),
    ADD CONSTRAINT quotas_granted_mode_check CHECK (granted_monthly_mode IN ('hard', 'soft'));

-- 3. The audit log also records what belongs to no tenant (failed authentications with unknown
-- keys) and carries the client's address where one is known.
ALTER TABLE audit_log ALTER COLUMN tenant_id DROP NOT NULL;
ALTER TABLE audit_log ADD COLUMN client text;
CREATE INDEX audit_log_by_time ON audit_log (at DESC, id DESC);
