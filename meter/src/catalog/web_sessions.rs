//! SQL of the `web_sessions` table: starting, resuming and ending sessions of the web UI, which
//! store only a hash of the browser's token and the key it stands for.

use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Acquire, Postgres};

use super::api_keys::PrincipalRow;
use super::audit;
use crate::Result;
use crate::api_key::Principal;
use crate::audit::{Action, Actor};
use crate::ids::{ApiKeyId, TenantId};
use crate::web_session;

/// Starts a session for a key's principal, lasting `ttl`, and records the sign-in in the audit
/// log with the client's address; returns the token for the cookie. Expired sessions of every
/// tenant are cleared on the way.
#[tracing::instrument(skip_all, fields(tenant_id = %principal.tenant_id, key_id = %principal.key_id))]
pub async fn start(
    db: impl Acquire<'_, Database = Postgres>,
    principal: &Principal,
    ttl: Duration,
    client: Option<&str>,
) -> Result<SecretString> {
    let token = web_session::random_token();
    let mut connection = db.acquire().await?;
    sqlx::query!("DELETE FROM web_sessions WHERE expires_at < now()")
        .execute(&mut *connection)
        .await?;
    sqlx::query!(
        "INSERT INTO web_sessions (token_hash, api_key_id, expires_at) VALUES ($1, $2, $3)",
        web_session::hash_token(&token),
        principal.key_id as ApiKeyId,
        Utc::now() + ttl,
    )
    .execute(&mut *connection)
    .await?;
    audit::insert_note(
        &mut connection,
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
/// A value not shaped like a token is `None` without a query.
#[tracing::instrument(skip_all)]
pub async fn resume(
    db: impl Acquire<'_, Database = Postgres>,
    token: &SecretString,
) -> Result<Option<Principal>> {
    let token = token.expose_secret();
    if !web_session::is_well_formed(token) {
        return Ok(None);
    }
    let mut connection = db.acquire().await?;
    let row = sqlx::query_as!(
        PrincipalRow,
        r#"SELECT k.id AS "id: ApiKeyId", k.tenant_id AS "tenant_id: TenantId", k.scope
           FROM web_sessions s
           JOIN api_keys k ON k.id = s.api_key_id
           JOIN tenants t ON t.id = k.tenant_id
           WHERE s.token_hash = $1 AND s.expires_at > now()
             AND k.revoked_at IS NULL AND t.status = 'active'"#,
        web_session::hash_token(token),
    )
    .fetch_optional(&mut *connection)
    .await?;
    row.map(Principal::try_from).transpose()
}

/// Ends a session and records the sign-out in the audit log; ending one that is gone is not
/// an error.
#[tracing::instrument(skip_all)]
pub async fn end(
    db: impl Acquire<'_, Database = Postgres>,
    token: &SecretString,
    client: Option<&str>,
) -> Result<()> {
    let mut connection = db.acquire().await?;
    let ended = sqlx::query!(
        r#"DELETE FROM web_sessions s USING api_keys k
           WHERE s.token_hash = $1 AND k.id = s.api_key_id
           RETURNING k.id AS "id: ApiKeyId", k.tenant_id AS "tenant_id: TenantId""#,
        web_session::hash_token(token.expose_secret()),
    )
    .fetch_optional(&mut *connection)
    .await?;
    if let Some(ended) = ended {
        audit::insert_note(
            &mut connection,
            Some(ended.tenant_id),
            &Actor::Key(ended.id).to_string(),
            Action::SignedOut,
            None,
            client,
        )
        .await?;
    }
    Ok(())
}
