-- Who changed what, when: quota changes and API key creation and revocation, with the value
-- before and after. Written in the same transaction as the change.
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    actor text NOT NULL,
    action text NOT NULL,
    old_value jsonb,
    new_value jsonb,
    at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, at DESC, id DESC);
