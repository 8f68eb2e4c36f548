//! SQL of the `tenants` table: creating, finding and listing tenants, their status and hot
//! flag, and the row lock that makes a tenant's cap checks atomic.

use chrono::{DateTime, Utc};
use sqlx::{Acquire, Postgres};

use super::audit;
use crate::audit::{Action, Actor, Change};
use crate::ids::{Region, TenantId, TenantName};
use crate::tenant::{Tenant, TenantRef, TenantStatus};
use crate::{Error, Result};

struct TenantRow {
    id: TenantId,
    name: String,
    status: String,
    region: String,
    hot: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = Error;

    fn try_from(row: TenantRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            name: TenantName::parse(&row.name)?,
            status: row.status.parse()?,
            region: Region::parse(&row.region)?,
            hot: row.hot,
            created_at: row.created_at,
        })
    }
}

/// Creates an active tenant; a name already taken is a [`Error::Conflict`].
#[tracing::instrument(skip_all, fields(tenant = %name))]
pub async fn create(
    db: impl Acquire<'_, Database = Postgres>,
    name: &TenantName,
    region: &Region,
) -> Result<Tenant> {
    let mut connection = db.acquire().await?;
    let row = sqlx::query_as!(
        TenantRow,
        r#"INSERT INTO tenants (id, name, region) VALUES ($1, $2, $3)
           RETURNING id AS "id: TenantId", name, status, region, hot, created_at"#,
        TenantId::generate() as TenantId,
        name.as_str(),
        region.as_str(),
    )
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(database_error) if database_error.is_unique_violation() => {
            Error::Conflict(format!("a tenant named {name} already exists"))
        }
        _ => Error::Postgres(error),
    })?;
    row.try_into()
}

/// Lists every tenant, oldest first.
#[tracing::instrument(skip_all)]
pub async fn list(db: impl Acquire<'_, Database = Postgres>) -> Result<Vec<Tenant>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query_as!(
        TenantRow,
        r#"SELECT id AS "id: TenantId", name, status, region, hot, created_at
           FROM tenants ORDER BY created_at, id"#
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(Tenant::try_from).collect()
}

/// Finds a tenant by id or name; an unknown one is [`Error::NotFound`].
#[tracing::instrument(skip_all, fields(tenant = %tenant))]
pub async fn find(db: impl Acquire<'_, Database = Postgres>, tenant: &TenantRef) -> Result<Tenant> {
    let mut connection = db.acquire().await?;
    let row = match tenant {
        TenantRef::Id(id) => {
            sqlx::query_as!(
                TenantRow,
                r#"SELECT id AS "id: TenantId", name, status, region, hot, created_at
                   FROM tenants WHERE id = $1"#,
                *id as TenantId,
            )
            .fetch_optional(&mut *connection)
            .await?
        }
        TenantRef::Name(name) => {
            sqlx::query_as!(
                TenantRow,
                r#"SELECT id AS "id: TenantId", name, status, region, hot, created_at
                   FROM tenants WHERE name = $1"#,
                name.as_str(),
            )
            .fetch_optional(&mut *connection)
            .await?
        }
    };
    row.ok_or_else(|| Error::NotFound(format!("tenant {tenant}")))?
        .try_into()
}

/// Sets a tenant's status and records it in the audit log; suspending a tenant stops all of
/// its keys from authenticating.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, %status))]
pub async fn set_status(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    status: TenantStatus,
    actor: Actor,
) -> Result<()> {
    let mut transaction = db.begin().await?;
    let result = sqlx::query!(
        "UPDATE tenants SET status = $2 WHERE id = $1",
        tenant as TenantId,
        status.as_str(),
    )
    .execute(&mut *transaction)
    .await?;
    if result.rows_affected() == 0 {
        return Err(Error::NotFound(format!("tenant {tenant}")));
    }
    let action = match status {
        TenantStatus::Active => Action::TenantActivated,
        TenantStatus::Suspended => Action::TenantSuspended,
    };
    audit::commit(transaction, tenant, actor, Change::bare(action)).await?;
    Ok(())
}

/// Marks a tenant hot or not: a hot tenant's events are keyed by tenant and subject on the bus.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, hot))]
pub async fn set_hot(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    hot: bool,
) -> Result<()> {
    let mut connection = db.acquire().await?;
    let result = sqlx::query!(
        "UPDATE tenants SET hot = $2 WHERE id = $1",
        tenant as TenantId,
        hot,
    )
    .execute(&mut *connection)
    .await?;
    if result.rows_affected() == 0 {
        return Err(Error::NotFound(format!("tenant {tenant}")));
    }
    Ok(())
}

/// Returns the ids of every hot tenant.
#[tracing::instrument(skip_all)]
pub async fn hot_tenants(db: impl Acquire<'_, Database = Postgres>) -> Result<Vec<TenantId>> {
    let mut connection = db.acquire().await?;
    Ok(
        sqlx::query_scalar!(r#"SELECT id AS "id: TenantId" FROM tenants WHERE hot"#)
            .fetch_all(&mut *connection)
            .await?,
    )
}

/// Locks a tenant's row until the end of the transaction, so that counting its definitions and
/// adding one is atomic; a tenant that does not exist is [`Error::NotFound`].
pub async fn lock(connection: &mut sqlx::PgConnection, tenant: TenantId) -> Result<()> {
    let found = sqlx::query_scalar!(
        "SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE",
        tenant as TenantId,
    )
    .fetch_optional(connection)
    .await?;
    found
        .map(|_| ())
        .ok_or_else(|| Error::NotFound(format!("tenant {tenant}")))
}

/// Returns the platform tenant (the operator's books and SLOs), if one was made.
pub async fn platform(db: impl Acquire<'_, Database = Postgres>) -> Result<Option<TenantId>> {
    let mut connection = db.acquire().await?;
    Ok(
        sqlx::query_scalar!(r#"SELECT id AS "id: TenantId" FROM tenants WHERE platform"#)
            .fetch_optional(&mut *connection)
            .await?,
    )
}
