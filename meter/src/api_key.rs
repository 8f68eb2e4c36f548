//! API keys: random secrets that authenticate a caller as one tenant with one scope. The secret
//! is shown once, when created, and stored only as a SHA-256 hash (the secret has ~238 bits of
//! entropy, so a fast hash is enough); a revoked key, or any key of a suspended tenant, no
//! longer authenticates.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, Action, Actor};
use crate::caps::{self, Caps};
use crate::catalog::{self, Pool};
use crate::ids::{ApiKeyId, TenantId};
use crate::{Error, Result};

/// What every key starts with, so that leaked keys are easy to recognise and scan for.
const KEY_MARKER: &str = "tly_";
/// Random characters after the marker.
const SECRET_LENGTH: usize = 40;
/// Characters of the key kept in clear, to tell keys apart in listings.
const PREFIX_LENGTH: usize = KEY_MARKER.len() + 8;

/// What a key is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send events.
    Ingest,
    /// Read the tenant's data.
    Read,
    /// Read, and manage the tenant's meters, quotas and keys.
    Admin,
    /// An operator's key: everything an admin key may do, on any tenant it names.
    Platform,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Read => "read",
            Self::Admin => "admin",
            Self::Platform => "platform",
        }
    }
}

impl FromStr for Scope {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "ingest" => Ok(Self::Ingest),
            "read" => Ok(Self::Read),
            "admin" => Ok(Self::Admin),
            "platform" => Ok(Self::Platform),
            other => Err(Error::Invalid(format!(
                "key scope must be ingest, read, admin or platform, got {other:?}"
            ))),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A key as stored in the catalog: everything but the secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    /// Stable identifier, used to revoke the key.
    pub id: ApiKeyId,
    /// The tenant the key authenticates as.
    pub tenant_id: TenantId,
    /// What the key may do.
    pub scope: Scope,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly created key together with its secret, which is not stored anywhere.
#[derive(Debug)]
pub struct CreatedKey {
    /// The stored part.
    pub key: ApiKey,
    /// The full key to hand to the caller, once.
    pub secret: SecretString,
}

/// Who a valid key says the caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The caller's tenant: the only tenant its requests may touch.
    pub tenant_id: TenantId,
    /// The key used.
    pub key_id: ApiKeyId,
    /// What the key may do.
    pub scope: Scope,
}

impl Principal {
    /// Builds a principal from a `(key id, tenant id, scope)` row of the catalog.
    pub(crate) fn from_row(
        (key_id, tenant_id, scope): (ApiKeyId, TenantId, String),
    ) -> Result<Self> {
        Ok(Self {
            tenant_id,
            key_id,
            scope: scope.parse()?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: ApiKeyId,
    tenant_id: TenantId,
    scope: String,
    prefix: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = Error;

    fn try_from(row: ApiKeyRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            scope: row.scope.parse()?,
            prefix: row.prefix,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn generate_secret() -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(SECRET_LENGTH)
        .map(char::from)
        .collect();
    format!("{KEY_MARKER}{random}")
}

/// Creates a key for a tenant as an operator, within the default caps; see [`create_by`].
pub async fn create(pool: &Pool, tenant: TenantId, scope: Scope) -> Result<CreatedKey> {
    create_by(pool, tenant, scope, Actor::Operator, &Caps::default()).await
}

/// Creates a key for a tenant, records it in the audit log, and returns it with its secret.
/// The tenant must exist and have fewer active keys than `caps.keys_per_tenant`. Only the
/// operator may create platform keys; the catalog refuses any other issuer too.
pub async fn create_by(
    pool: &Pool,
    tenant: TenantId,
    scope: Scope,
    actor: Actor,
    caps: &Caps,
) -> Result<CreatedKey> {
    if scope == Scope::Platform && actor != Actor::Operator {
        return Err(Error::Forbidden(
            "platform keys are the operator's: only `tally key create --scope platform` makes \
             them"
                .to_owned(),
        ));
    }
    let secret = generate_secret();
    let mut transaction = pool.begin().await?;
    caps::lock_tenant(&mut transaction, tenant).await?;
    let active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL",
    )
    .bind(tenant)
    .fetch_one(&mut *transaction)
    .await?;
    caps::check(
        active,
        caps.keys_per_tenant,
        "active API keys",
        "keys_per_tenant",
    )?;
    let row: ApiKeyRow = sqlx::query_as(
        "INSERT INTO api_keys (id, tenant_id, scope, prefix, secret_hash, issued_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, tenant_id, scope, prefix, created_at, revoked_at",
    )
    .bind(ApiKeyId::generate())
    .bind(tenant)
    .bind(scope.as_str())
    .bind(&secret[..PREFIX_LENGTH])
    .bind(hash_secret(&secret))
    .bind(actor.to_string())
    .fetch_one(&mut *transaction)
    .await
    .map_err(catalog::tenant_must_exist(tenant))?;
    let key: ApiKey = row.try_into()?;
    audit::record(
        &mut transaction,
        tenant,
        actor,
        Action::KeyCreated,
        None,
        Some(json!(key)),
    )
    .await?;
    transaction.commit().await?;
    Ok(CreatedKey {
        key,
        secret: SecretString::from(secret),
    })
}

/// Lists a tenant's keys, revoked ones included, oldest first.
pub async fn list(pool: &Pool, tenant: TenantId) -> Result<Vec<ApiKey>> {
    let rows: Vec<ApiKeyRow> = sqlx::query_as(
        "SELECT id, tenant_id, scope, prefix, created_at, revoked_at
         FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(ApiKey::try_from).collect()
}

/// Revokes one of a tenant's keys as an operator; see [`revoke_by`].
pub async fn revoke(pool: &Pool, tenant: TenantId, key: ApiKeyId) -> Result<ApiKey> {
    revoke_by(pool, tenant, key, Actor::Operator).await
}

/// Revokes one of a tenant's keys and records it in the audit log. Revoking a revoked key is a
/// no-op; a key that does not exist or belongs to another tenant is [`Error::NotFound`].
pub async fn revoke_by(
    pool: &Pool,
    tenant: TenantId,
    key: ApiKeyId,
    actor: Actor,
) -> Result<ApiKey> {
    let mut transaction = pool.begin().await?;
    let row: Option<ApiKeyRow> = sqlx::query_as(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
         WHERE tenant_id = $1 AND id = $2
         RETURNING id, tenant_id, scope, prefix, created_at, revoked_at",
    )
    .bind(tenant)
    .bind(key)
    .fetch_optional(&mut *transaction)
    .await?;
    let revoked: ApiKey = row
        .ok_or_else(|| Error::NotFound(format!("API key {key} of tenant {tenant}")))?
        .try_into()?;
    audit::record(
        &mut transaction,
        tenant,
        actor,
        Action::KeyRevoked,
        None,
        Some(json!(revoked)),
    )
    .await?;
    transaction.commit().await?;
    Ok(revoked)
}

/// Says whether a presented value has the shape of a key Tally issues: the `tly_` marker
/// followed by exactly the number of alphanumeric characters of a secret. A value of any other
/// shape cannot authenticate, so callers refuse it before any lookup or caching.
pub fn is_well_formed(presented: &str) -> bool {
    presented.len() == KEY_MARKER.len() + SECRET_LENGTH
        && presented
            .strip_prefix(KEY_MARKER)
            .is_some_and(|secret| secret.bytes().all(|byte| byte.is_ascii_alphanumeric()))
}

/// Finds the tenant and scope a presented key grants, or `None` when the key is unknown,
/// revoked, or belongs to a suspended tenant.
pub async fn authenticate(pool: &Pool, presented: &SecretString) -> Result<Option<Principal>> {
    let presented = presented.expose_secret();
    if !is_well_formed(presented) {
        return Ok(None);
    }
    let row: Option<(ApiKeyId, TenantId, String)> = sqlx::query_as(
        "SELECT k.id, k.tenant_id, k.scope
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.secret_hash = $1 AND k.revoked_at IS NULL AND t.status = 'active'",
    )
    .bind(hash_secret(presented))
    .fetch_optional(pool)
    .await?;
    row.map(Principal::from_row).transpose()
}

/// Returns the tenant of a well-formed key that no longer authenticates (revoked, or of a
/// suspended tenant), so that a failed authentication can be shown to that tenant's admins.
pub async fn owner_of_inactive(pool: &Pool, presented: &SecretString) -> Result<Option<TenantId>> {
    let presented = presented.expose_secret();
    if !is_well_formed(presented) {
        return Ok(None);
    }
    Ok(
        sqlx::query_scalar("SELECT tenant_id FROM api_keys WHERE secret_hash = $1")
            .bind(hash_secret(presented))
            .fetch_optional(pool)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_marked_long_and_distinct() {
        let first = generate_secret();
        let second = generate_secret();
        assert!(first.starts_with(KEY_MARKER));
        assert_eq!(first.len(), KEY_MARKER.len() + SECRET_LENGTH);
        assert_ne!(first, second);
        assert_ne!(hash_secret(&first), hash_secret(&second));
        assert!(is_well_formed(&first));
    }

    #[test]
    fn only_values_shaped_like_issued_keys_are_well_formed() {
        assert!(is_well_formed(&generate_secret()));
        assert!(is_well_formed(&format!(
            "tly_{}",
            "a".repeat(SECRET_LENGTH)
        )));
        assert!(!is_well_formed(&format!(
            "tly_{}",
            "a".repeat(SECRET_LENGTH - 1)
        )));
        assert!(!is_well_formed(&format!(
            "tly_{}",
            "a".repeat(SECRET_LENGTH + 1)
        )));
        assert!(!is_well_formed(&format!(
            "xyz_{}",
            "a".repeat(SECRET_LENGTH)
        )));
        assert!(!is_well_formed(&format!(
            "tly_{}-",
            "a".repeat(SECRET_LENGTH - 1)
        )));
        assert!(!is_well_formed(&format!(
            "tly_{}é",
            "a".repeat(SECRET_LENGTH - 2)
        )));
        assert!(!is_well_formed(""));
    }

    #[test]
    fn scopes_parse_their_names_only() {
        for scope in [Scope::Ingest, Scope::Read, Scope::Admin, Scope::Platform] {
            assert_eq!(scope.to_string().parse::<Scope>().ok(), Some(scope));
        }
        assert!("write".parse::<Scope>().is_err());
    }
}
