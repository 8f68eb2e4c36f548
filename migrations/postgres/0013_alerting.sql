-- Alerting (issue 14): rules, the state of each alert series, and the transitions between
-- states, written in the same transaction as the states they lead to.
--  * `alert_rules`: a tenant's rules by name, their JSON spec, and when a process last
--    evaluated each (so that processes running side by side do not evaluate a rule twice in
--    one interval; each evaluation holds an advisory lock on the rule).
--  * `alert_series`: one row per alert series of a rule (its labels), in the state machine's
--    state, so that a restart neither loses nor fires an alert again.
--  * `alert_transitions`: every change of state, numbered; the history exporter copies them to
--    ClickHouse's `alert_events` by number (a copy repeated after a crash replaces itself).
CREATE TABLE alert_rules (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL,
    spec jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    evaluated_at timestamptz,
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE TABLE alert_series (
    tenant_id uuid NOT NULL,
    rule_id uuid NOT NULL,
    series text NOT NULL,
    labels jsonb NOT NULL,
    state text NOT NULL CHECK (state IN ('INACTIVE', 'PENDING', 'FIRING', 'RESOLVED')),
    since timestamptz NOT NULL,
    last_breach timestamptz,
    value numeric,
    evaluated_at timestamptz NOT NULL,
    PRIMARY KEY (rule_id, series),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES alert_rules (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX alert_series_active ON alert_series (tenant_id) WHERE state IN ('PENDING', 'FIRING');

CREATE TABLE alert_transitions (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rule_id uuid NOT NULL,
    rule_name text NOT NULL,
    series text NOT NULL,
    labels jsonb NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    at timestamptz NOT NULL,
    value numeric,
    exported boolean NOT NULL DEFAULT false
);
CREATE INDEX alert_transitions_unexported ON alert_transitions (id) WHERE NOT exported;
