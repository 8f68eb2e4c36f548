-- Billing's catalog: a tenant's customers and the subjects they own, its price plans in
-- versions, and the subscriptions of customers to plan versions.

-- A customer's usage is its subjects' usage on the tenant's meters; a subject belongs to one
-- customer at most.
CREATE TABLE customers (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    external_id text NOT NULL,
    name text NOT NULL,
    email text,
    currency text NOT NULL,
    timezone text NOT NULL,
    tax_percent numeric(7, 4) CHECK (tax_percent >= 0 AND tax_percent <= 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, external_id),
    UNIQUE (tenant_id, id)
);

CREATE TABLE customer_subjects (
    tenant_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    subject text NOT NULL,
    PRIMARY KEY (tenant_id, subject),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX customer_subjects_by_customer ON customer_subjects (customer_id);

-- A plan is a name; what it charges lives in its versions. A version is a draft until it is
-- published, and never changes after: the trigger below refuses it, whatever code path tries.
CREATE TABLE plans (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key text NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, key),
    UNIQUE (tenant_id, id)
);

CREATE TABLE plan_versions (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    plan_id uuid NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    currency text NOT NULL,
    billing_interval text NOT NULL CHECK (billing_interval IN ('MONTH', 'YEAR')),
    charges jsonb NOT NULL,
    published_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (plan_id, version),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES plans (tenant_id, id) ON DELETE CASCADE
);

CREATE FUNCTION plan_versions_published_are_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.published_at IS NOT NULL THEN
        RAISE EXCEPTION 'version % of plan % is published and cannot change', OLD.version, OLD.plan_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER plan_versions_immutable_once_published
    BEFORE UPDATE ON plan_versions
    FOR EACH ROW EXECUTE FUNCTION plan_versions_published_are_immutable();

-- A customer's subscription to a published plan version, from `starts_at` until `ends_at`
-- (none: until cancelled). Periods start at the calendar's month or year (CALENDAR) or at the
-- subscription's start (ANNIVERSARY).
CREATE TABLE subscriptions (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    plan_version_id uuid NOT NULL,
    anchor text NOT NULL CHECK (anchor IN ('CALENDAR', 'ANNIVERSARY')),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz CHECK (ends_at > starts_at),
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, plan_version_id) REFERENCES plan_versions (tenant_id, id)
);

CREATE INDEX subscriptions_by_customer ON subscriptions (tenant_id, customer_id, starts_at);
