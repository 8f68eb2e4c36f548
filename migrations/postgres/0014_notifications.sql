-- Alert notifications (issue 14, item 3).
--  * `alert_receivers`: where a tenant's notifications go (webhook, Slack, email), by name.
--  * `alert_routing`: a tenant's routing tree, grouping timings and inhibition rules (JSON).
--  * `alert_silences`: label matchers that mute alerts between two instants.
--  * `alert_groups`: each notification group's state (Alertmanager's group_wait,
--    group_interval and repeat_interval), locked by the process that flushes it.
--  * `alert_notifications`: the outbox: a notification is written with its group's new state,
--    then delivered, retried with backoff; `alert_notification_attempts` logs every attempt.
CREATE TABLE alert_receivers (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    config jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE alert_routing (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    spec jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_silences (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    matchers jsonb NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    author text NOT NULL,
    comment text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_silences_by_tenant ON alert_silences (tenant_id, ends_at);

CREATE TABLE alert_groups (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    receiver text NOT NULL,
    group_key text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    next_flush_at timestamptz NOT NULL,
    last_sent_at timestamptz,
    last_firing text[] NOT NULL DEFAULT '{}',
    sent bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, receiver, group_key)
);

CREATE TABLE alert_notifications (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    receiver text NOT NULL,
    kind text NOT NULL,
    group_key text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    firing integer NOT NULL,
    resolved integer NOT NULL,
    payload jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX alert_notifications_by_tenant ON alert_notifications (tenant_id, id);

CREATE TABLE alert_notification_attempts (
    notification_id bigint NOT NULL REFERENCES alert_notifications (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    at timestamptz NOT NULL,
    outcome text NOT NULL,
    duration_ms bigint NOT NULL,
    PRIMARY KEY (notification_id, attempt)
);
