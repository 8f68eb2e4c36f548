//! Sessions of the web UI. Signing in with an API key starts a session whose random token the
//! browser keeps in a cookie; the catalog stores only the token's hash and the key it stands
//! for. Every request resumes the session through the key, so a revoked key or a suspended
//! tenant ends its sessions at once, and the session grants exactly what the key grants.

use chrono::{Duration, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::Result;
use crate::api_key::Principal;
use crate::audit::{self, Action, Actor};
use crate::catalog::Pool;
use crate::ids::{ApiKeyId, TenantId};

const TOKEN_LENGTH: usize = 43;

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A fresh random token: 43 letters and digits (256 bits).
pub fn random_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(TOKEN_LENGTH)
        .map(char::from)
        .collect()
}

/// The token a session's forms carry: derived from the session's token, which only the
/// browser's HttpOnly cookie holds, so another site can neither read nor forge it.
pub fn form_token(session: &SecretString) -> String {
    let digest = Sha256::new()
        .chain_update(b"tally form token\0")
        .chain_update(session.expose_secret().as_bytes())
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Starts a session for a key's principal, lasting `ttl`, and records the sign-in in the audit
/// log with the client's address; returns the token for the cookie. Expired sessions of every
/// tenant are cleared on the way.
pub async fn start(
    pool: &Pool,
    principal: &Principal,
    ttl: Duration,
    client: Option<&str>,
) -> Result<SecretString> {
    let token = random_token();
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < now()")
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO web_sessions (token_hash, api_key_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(hash_token(&token))
    .bind(principal.key_id)
    .bind(Utc::now() + ttl)
    .execute(pool)
    .await?;
    audit::note(
        pool,
        Some(principal.tenant_id),
        &Actor::Key(principal.key_id).to_string(),
        Action::SignedIn,
        None,
        client,
    )
    .await?;
    Ok(SecretString::from(token))
}

/// Returns the principal of a live session: unexpired, its key not revoked, its tenant active.
pub async fn resume(pool: &Pool, token: &SecretString) -> Result<Option<Principal>> {
    let token = token.expose_secret();
    if token.len() != TOKEN_LENGTH {
        return Ok(None);
    }
    let row: Option<(ApiKeyId, TenantId, String)> = sqlx::query_as(
        "SELECT k.id, k.tenant_id, k.scope
         FROM web_sessions s
         JOIN api_keys k ON k.id = s.api_key_id
         JOIN tenants t ON t.id = k.tenant_id
         WHERE s.token_hash = $1 AND s.expires_at > now()
           AND k.revoked_at IS NULL AND t.status = 'active'",
    )
    .bind(hash_token(token))
    .fetch_optional(pool)
    .await?;
    row.map(Principal::from_row).transpose()
}

/// Ends a session and records the sign-out in the audit log; ending one that is gone is not
/// an error.
pub async fn end(pool: &Pool, token: &SecretString, client: Option<&str>) -> Result<()> {
    let ended: Option<(ApiKeyId, TenantId)> = sqlx::query_as(
        "DELETE FROM web_sessions s USING api_keys k
         WHERE s.token_hash = $1 AND k.id = s.api_key_id
         RETURNING k.id, k.tenant_id",
    )
    .bind(hash_token(token.expose_secret()))
    .fetch_optional(pool)
    .await?;
    if let Some((key, tenant)) = ended {
        audit::note(
            pool,
            Some(tenant),
            &Actor::Key(key).to_string(),
            Action::SignedOut,
            None,
            client,
        )
        .await?;
    }
    Ok(())
}
