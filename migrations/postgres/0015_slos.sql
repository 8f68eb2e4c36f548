-- SLOs (issue 15): a tenant's service level objectives by name, their JSON spec, and the
-- indicator the aggregator counts for each, in columns of their own so that the meter crate
-- reads them without knowing the rest of the spec:
--  * `event_type`, `good`: which events count, and the condition (`$.status < 500`) that makes
--    one good;
--  * `group_name`, `group_path`: the group an SLO splits by, if any.
-- The SLO's id is also its indicator's: the aggregator writes its per-minute good and total
-- counts as the rollup rows of a meter of that id, from `created_at` on. Changing what an SLO
-- counts gives it a new id, so counts of two definitions never mix.
CREATE TABLE slos (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL,
    event_type text NOT NULL,
    good text NOT NULL,
    group_name text,
    group_path text,
    spec jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id),
    CHECK ((group_name IS NULL) = (group_path IS NULL))
);
