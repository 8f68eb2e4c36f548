-- Sessions of the web UI: a person signs in with an API key and gets a random token in an
-- HttpOnly cookie. Only the token's SHA-256 hash is stored. A session lives no longer than its
-- key: revoking the key (or suspending the tenant) ends it at the next request.
CREATE TABLE web_sessions (
    token_hash bytea PRIMARY KEY,
    api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
