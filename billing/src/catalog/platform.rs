//! SQL of the operator's books: which tenant is the platform tenant (`tenants.platform`), and
//! which tenants it does not bill yet.

use chrono::{DateTime, Utc};
use sqlx::{Acquire, PgConnection, Postgres};
use tally_meter::ids::TenantId;
use tally_meter::{Error, Result};

/// Marks a tenant as the platform tenant; another one already marked is [`Error::Conflict`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn mark(db: impl Acquire<'_, Database = Postgres>, tenant: TenantId) -> Result<()> {
    let mut connection = db.acquire().await?;
    sqlx::query!(
        "UPDATE tenants SET platform = true WHERE id = $1",
        tenant as TenantId,
    )
    .execute(&mut *connection)
    .await
    .map_err(super::conflict_on_unique(|| {
        "there is a platform tenant already: the operator keeps one set of books".to_owned()
    }))?;
    Ok(())
}

pub use tally_meter::catalog::tenants::platform as tenant;

/// Says whether `tenant` is the platform tenant.
pub async fn is_platform(connection: &mut PgConnection, tenant: TenantId) -> Result<bool> {
    let platform = sqlx::query_scalar!(
        "SELECT platform FROM tenants WHERE id = $1",
        tenant as TenantId,
    )
    .fetch_optional(connection)
    .await?;
    platform.ok_or_else(|| Error::NotFound(format!("tenant {tenant}")))
}

/// A tenant the platform tenant has no customer for yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Unbilled {
    /// The tenant.
    pub id: TenantId,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Lists the tenants, oldest first, that none of the platform tenant's customers owns as a
/// subject.
pub async fn unbilled(
    db: impl Acquire<'_, Database = Postgres>,
    platform: TenantId,
) -> Result<Vec<Unbilled>> {
    let mut connection = db.acquire().await?;
    Ok(sqlx::query_as!(
        Unbilled,
        r#"SELECT t.id AS "id: TenantId", t.name, t.created_at FROM tenants t
           WHERE NOT t.platform
             AND NOT EXISTS (SELECT 1 FROM customer_subjects s
                             WHERE s.tenant_id = $1 AND s.subject = t.id::text)
           ORDER BY t.created_at, t.id"#,
        platform as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?)
}
