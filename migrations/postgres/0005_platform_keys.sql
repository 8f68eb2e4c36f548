-- Platform keys: an operator's key that may act on any tenant it names.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check
    CHECK (scope IN ('ingest', 'read', 'admin', 'platform'));
