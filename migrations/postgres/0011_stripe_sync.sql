-- The Stripe sync (issue 13, item 8).
--  * `stripe_customers` remembers the Stripe customer made for each Tally customer, so that
--    each is created once.
--  * `invoice_stripe_sync` holds one row per finalized invoice to push: PENDING until pushed,
--    SYNCED once Stripe finalized its copy, FAILED (retried at `next_attempt_at`, backing off)
--    after an attempt failed. The ids Stripe gave are kept; a webhook finds the Tally invoice
--    and its tenant by `stripe_invoice_id`. Finalization never waits for any of it.
CREATE TABLE stripe_customers (
    tenant_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    stripe_customer_id text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE invoice_stripe_sync (
    invoice_id uuid PRIMARY KEY REFERENCES invoices (id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sync_state text NOT NULL DEFAULT 'PENDING'
        CHECK (sync_state IN ('PENDING', 'SYNCED', 'FAILED')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    stripe_customer_id text,
    stripe_invoice_id text UNIQUE,
    synced_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX invoice_stripe_sync_due ON invoice_stripe_sync (next_attempt_at)
    WHERE sync_state <> 'SYNCED';
