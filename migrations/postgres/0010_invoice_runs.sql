-- What invoice runs need beyond 0009.
--  * A subscription whose plan has flat fees gets an opening invoice when it starts, billing
--    its first period's fees in advance; it shares the first period's start with the invoice
--    that closes that period, so the key gains `opening`.
--  * `measured` keeps what each usage charge's meter measured per period billed (the period's
--    own and those adjusted for late usage), so that the next run can tell what arrived late.
--  * Voiding a finalized invoice issues a credit note, numbered per tenant without gaps in a
--    sequence of its own.
ALTER TABLE invoices
    ADD COLUMN opening boolean NOT NULL DEFAULT false,
    ADD COLUMN measured jsonb NOT NULL DEFAULT '[]';

ALTER TABLE invoices DROP CONSTRAINT invoices_tenant_id_subscription_id_period_start_key;
ALTER TABLE invoices ADD CONSTRAINT invoices_one_per_subscription_and_period
    UNIQUE (tenant_id, subscription_id, period_start, opening);

CREATE INDEX invoices_by_subscription ON invoices (tenant_id, subscription_id, period_start);
CREATE INDEX invoices_by_finalization ON invoices (tenant_id, finalized_at)
    WHERE finalized_at IS NOT NULL;

ALTER TABLE invoice_sequences ADD COLUMN last_credit_note bigint NOT NULL DEFAULT 0
    CHECK (last_credit_note >= 0);

CREATE TABLE credit_notes (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    invoice_id uuid NOT NULL UNIQUE REFERENCES invoices (id) ON DELETE CASCADE,
    number text NOT NULL,
    currency text NOT NULL,
    total numeric NOT NULL,
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, number)
);

CREATE OR REPLACE FUNCTION invoices_finalized_are_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'DRAFT' THEN
        RETURN NEW;
    END IF;
    IF NEW.lines IS DISTINCT FROM OLD.lines OR NEW.total IS DISTINCT FROM OLD.total
        OR NEW.subtotal IS DISTINCT FROM OLD.subtotal OR NEW.tax IS DISTINCT FROM OLD.tax
        OR NEW.number IS DISTINCT FROM OLD.number OR NEW.currency IS DISTINCT FROM OLD.currency
        OR NEW.measured IS DISTINCT FROM OLD.measured OR NEW.opening IS DISTINCT FROM OLD.opening
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
