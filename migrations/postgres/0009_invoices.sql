-- Invoices: one per subscription and billing period. A draft is recomputed until its grace
-- period ends, then finalized: numbered per tenant without gaps (the number comes from the
-- tenant's sequence in the finalizing transaction, so a rollback returns it) and frozen. A
-- finalized invoice then only becomes paid or void; the trigger below refuses anything else,
-- whatever code path tries.
CREATE TABLE invoice_sequences (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    prefix text NOT NULL,
    last_number bigint NOT NULL DEFAULT 0 CHECK (last_number >= 0)
);

CREATE TABLE invoices (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    subscription_id uuid NOT NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL CHECK (period_end > period_start),
    status text NOT NULL CHECK (status IN ('DRAFT', 'FINALIZED', 'PAID', 'VOID')),
    number text,
    currency text NOT NULL,
    lines jsonb NOT NULL,
    subtotal numeric NOT NULL,
    tax_percent numeric,
    tax numeric NOT NULL,
    total numeric NOT NULL,
    grace_until timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finalized_at timestamptz,
    paid_at timestamptz,
    voided_at timestamptz,
    UNIQUE (tenant_id, subscription_id, period_start),
    UNIQUE (tenant_id, number),
    CHECK ((status = 'DRAFT') = (number IS NULL)),
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX invoices_by_customer ON invoices (tenant_id, customer_id, period_start DESC);

CREATE FUNCTION invoices_finalized_are_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'DRAFT' THEN
        RETURN NEW;
    END IF;
    IF NEW.lines IS DISTINCT FROM OLD.lines OR NEW.total IS DISTINCT FROM OLD.total
        OR NEW.subtotal IS DISTINCT FROM OLD.subtotal OR NEW.tax IS DISTINCT FROM OLD.tax
        OR NEW.number IS DISTINCT FROM OLD.number OR NEW.currency IS DISTINCT FROM OLD.currency
        OR NEW.period_start IS DISTINCT FROM OLD.period_start
        OR NEW.period_end IS DISTINCT FROM OLD.period_end
        OR NOT ((OLD.status = 'FINALIZED' AND NEW.status IN ('FINALIZED', 'PAID', 'VOID'))
                OR (OLD.status = NEW.status)) THEN
        RAISE EXCEPTION 'invoice % is % and cannot change', OLD.number, lower(OLD.status)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER invoices_immutable_once_finalized
    BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_finalized_are_immutable();
