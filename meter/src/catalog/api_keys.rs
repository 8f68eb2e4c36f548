//! SQL of the `api_keys` table: issuing, listing and revoking a tenant's keys, and looking up
//! the principal of a presented key.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Acquire, Postgres};

use super::{audit, tenant_must_exist, tenants};
use crate::api_key::{self, ApiKey, CreatedKey, Principal, Scope};
use crate::audit::{Action, Actor, Change};
use crate::caps::{self, Caps};
use crate::ids::{ApiKeyId, TenantId};
use crate::{Error, Result};

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

/// A key's id, tenant and scope: what a presented key or a web session resolves to.
pub(super) struct PrincipalRow {
    pub(super) id: ApiKeyId,
    pub(super) tenant_id: TenantId,
    pub(super) scope: String,
}

impl TryFrom<PrincipalRow> for Principal {
    type Error = Error;

    fn try_from(row: PrincipalRow) -> Result<Self> {
        Ok(Self {
            tenant_id: row.tenant_id,
            key_id: row.id,
            scope: row.scope.parse()?,
        })
    }
}

/// Creates a key for a tenant, records it in the audit log, and returns it with its secret.
/// The tenant must exist and have fewer active keys than `caps.keys_per_tenant`. Only the
/// operator may create platform keys; the catalog refuses any other issuer too.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, %scope, %actor))]
pub async fn create(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    scope: Scope,
    actor: Actor,
    caps: &Caps,
) -> Result<CreatedKey> {
    api_key::check_issuer(scope, actor)?;
    let secret = api_key::generate_secret();
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let active = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL"#,
        tenant as TenantId,
    )
    .fetch_one(&mut *transaction)
    .await?;
    caps::check(
        active,
        caps.keys_per_tenant,
        "active API keys",
        "keys_per_tenant",
    )?;
    let row = sqlx::query_as!(
        ApiKeyRow,
        r#"INSERT INTO api_keys (id, tenant_id, scope, prefix, secret_hash, issued_by)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id AS "id: ApiKeyId", tenant_id AS "tenant_id: TenantId", scope, prefix,
                     created_at, revoked_at"#,
        ApiKeyId::generate() as ApiKeyId,
        tenant as TenantId,
        scope.as_str(),
        api_key::prefix_of(&secret),
        api_key::hash_secret(&secret),
        actor.to_string(),
    )
    .fetch_one(&mut *transaction)
    .await
    .map_err(tenant_must_exist(tenant))?;
    let key: ApiKey = row.try_into()?;
    let change = Change::made(Action::KeyCreated, &key);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(CreatedKey {
        key,
        secret: SecretString::from(secret),
    })
}

/// Lists a tenant's keys, revoked ones included, oldest first.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Vec<ApiKey>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query_as!(
        ApiKeyRow,
        r#"SELECT id AS "id: ApiKeyId", tenant_id AS "tenant_id: TenantId", scope, prefix,
                  created_at, revoked_at
           FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id"#,
        tenant as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(ApiKey::try_from).collect()
}

/// Revokes one of a tenant's keys and records it in the audit log. Revoking a revoked key is a
/// no-op; a key that does not exist or belongs to another tenant is [`Error::NotFound`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, key_id = %key, %actor))]
pub async fn revoke(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    key: ApiKeyId,
    actor: Actor,
) -> Result<ApiKey> {
    let mut transaction = db.begin().await?;
    let row = sqlx::query_as!(
        ApiKeyRow,
        r#"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
           WHERE tenant_id = $1 AND id = $2
           RETURNING id AS "id: ApiKeyId", tenant_id AS "tenant_id: TenantId", scope, prefix,
                     created_at, revoked_at"#,
        tenant as TenantId,
        key as ApiKeyId,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    let revoked: ApiKey = row
        .ok_or_else(|| Error::NotFound(format!("API key {key} of tenant {tenant}")))?
        .try_into()?;
    let change = Change::made(Action::KeyRevoked, &revoked);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(revoked)
}

/// Finds the tenant and scope a presented key grants, or `None` when the key is unknown,
/// revoked, or belongs to a suspended tenant. A value not shaped like a key is `None` without
/// a query.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    db: impl Acquire<'_, Database = Postgres>,
    presented: &SecretString,
) -> Result<Option<Principal>> {
    let presented = presented.expose_secret();
    if !api_key::is_well_formed(presented) {
        return Ok(None);
    }
    let mut connection = db.acquire().await?;
    let row = sqlx::query_as!(
        PrincipalRow,
        r#"SELECT k.id AS "id: ApiKeyId", k.tenant_id AS "tenant_id: TenantId", k.scope
           FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
           WHERE k.secret_hash = $1 AND k.revoked_at IS NULL AND t.status = 'active'"#,
        api_key::hash_secret(presented),
    )
    .fetch_optional(&mut *connection)
    .await?;
    row.map(Principal::try_from).transpose()
}

/// Returns the tenant of a well-formed key that no longer authenticates (revoked, or of a
/// suspended tenant), so that a failed authentication can be shown to that tenant's admins.
#[tracing::instrument(skip_all)]
pub async fn owner_of_inactive(
    db: impl Acquire<'_, Database = Postgres>,
    presented: &SecretString,
) -> Result<Option<TenantId>> {
    let presented = presented.expose_secret();
    if !api_key::is_well_formed(presented) {
        return Ok(None);
    }
    let mut connection = db.acquire().await?;
    Ok(sqlx::query_scalar!(
        r#"SELECT tenant_id AS "tenant_id: TenantId" FROM api_keys WHERE secret_hash = $1"#,
        api_key::hash_secret(presented),
    )
    .fetch_optional(&mut *connection)
    .await?)
}
