//! SQL of the `event_types` table: the types a tenant registered, which are then the only ones
//! it may send.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use sqlx::{Acquire, Postgres};

use super::{audit, tenant_must_exist, tenants};
use crate::audit::{Action, Actor, Change};
use crate::caps::{self, Caps};
use crate::event_type;
use crate::ids::TenantId;
use crate::{Error, Result};

/// Registers a type for a tenant and records it in the audit log; registering it twice is a
/// no-op, and a tenant at `caps.event_types_per_tenant` types is [`Error::LimitReached`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, event_type, %actor))]
pub async fn register(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    event_type: &str,
    actor: Actor,
    caps: &Caps,
) -> Result<()> {
    event_type::check(event_type)?;
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let existing = sqlx::query!(
        r#"SELECT count(*) AS "count!", coalesce(bool_or(event_type = $2), false) AS "known!"
           FROM event_types WHERE tenant_id = $1"#,
        tenant as TenantId,
        event_type,
    )
    .fetch_one(&mut *transaction)
    .await?;
    if existing.known {
        return Ok(());
    }
    caps::check(
        existing.count,
        caps.event_types_per_tenant,
        "registered event types",
        "event_types_per_tenant",
    )?;
    sqlx::query!(
        "INSERT INTO event_types (tenant_id, event_type) VALUES ($1, $2)",
        tenant as TenantId,
        event_type,
    )
    .execute(&mut *transaction)
    .await
    .map_err(tenant_must_exist(tenant))?;
    let change = Change::made(
        Action::EventTypeRegistered,
        &json!({ "event_type": event_type }),
    );
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(())
}

/// Removes a registered type and records it in the audit log; an unknown one is
/// [`Error::NotFound`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, event_type, %actor))]
pub async fn unregister(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    event_type: &str,
    actor: Actor,
) -> Result<()> {
    let mut transaction = db.begin().await?;
    let result = sqlx::query!(
        "DELETE FROM event_types WHERE tenant_id = $1 AND event_type = $2",
        tenant as TenantId,
        event_type,
    )
    .execute(&mut *transaction)
    .await?;
    if result.rows_affected() == 0 {
        return Err(Error::NotFound(format!("event type {event_type:?}")));
    }
    let change = Change::removed(
        Action::EventTypeUnregistered,
        &json!({ "event_type": event_type }),
    );
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(())
}

/// Lists a tenant's registered types, sorted.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Vec<String>> {
    let mut connection = db.acquire().await?;
    Ok(sqlx::query_scalar!(
        "SELECT event_type FROM event_types WHERE tenant_id = $1 ORDER BY event_type",
        tenant as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?)
}

/// Returns every tenant's registered types; tenants with none are absent.
#[tracing::instrument(skip_all)]
pub async fn all(
    db: impl Acquire<'_, Database = Postgres>,
) -> Result<HashMap<TenantId, HashSet<String>>> {
    let mut connection = db.acquire().await?;
    let rows =
        sqlx::query!(r#"SELECT tenant_id AS "tenant_id: TenantId", event_type FROM event_types"#)
            .fetch_all(&mut *connection)
            .await?;
    let mut by_tenant: HashMap<TenantId, HashSet<String>> = HashMap::new();
    for row in rows {
        by_tenant
            .entry(row.tenant_id)
            .or_default()
            .insert(row.event_type);
    }
    Ok(by_tenant)
}
