//! Registered event types: a tenant that registers any may send only those types.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use crate::audit::{self, Action, Actor};
use crate::caps::{self, Caps};
use crate::catalog::{self, Pool};
use crate::ids::TenantId;
use crate::{Error, Result};

/// Longest accepted event type name.
pub const MAX_EVENT_TYPE_LENGTH: usize = 256;

fn check(event_type: &str) -> Result<()> {
    if event_type.is_empty() || event_type.len() > MAX_EVENT_TYPE_LENGTH {
        return Err(Error::Invalid(format!(
            "an event type must be 1 to {MAX_EVENT_TYPE_LENGTH} bytes"
        )));
    }
    Ok(())
}

/// Registers a type for a tenant as an operator, within the default caps; see
/// [`register_by`].
pub async fn register(pool: &Pool, tenant: TenantId, event_type: &str) -> Result<()> {
    register_by(pool, tenant, event_type, Actor::Operator, &Caps::default()).await
}

/// Registers a type for a tenant and records it in the audit log; registering it twice is a
/// no-op, and a tenant at `caps.event_types_per_tenant` types is [`Error::LimitReached`].
pub async fn register_by(
    pool: &Pool,
    tenant: TenantId,
    event_type: &str,
    actor: Actor,
    caps: &Caps,
) -> Result<()> {
    check(event_type)?;
    let mut transaction = pool.begin().await?;
    caps::lock_tenant(&mut transaction, tenant).await?;
    let (count, known): (i64, bool) = sqlx::query_as(
        "SELECT count(*), coalesce(bool_or(event_type = $2), false)
         FROM event_types WHERE tenant_id = $1",
    )
    .bind(tenant)
    .bind(event_type)
    .fetch_one(&mut *transaction)
    .await?;
    if known {
        return Ok(());
    }
    caps::check(
        count,
        caps.event_types_per_tenant,
        "registered event types",
        "event_types_per_tenant",
    )?;
    sqlx::query("INSERT INTO event_types (tenant_id, event_type) VALUES ($1, $2)")
        .bind(tenant)
        .bind(event_type)
        .execute(&mut *transaction)
        .await
        .map_err(catalog::tenant_must_exist(tenant))?;
    audit::record(
        &mut transaction,
        tenant,
        actor,
        Action::EventTypeRegistered,
        None,
        Some(json!({ "event_type": event_type })),
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// Removes a registered type as an operator; see [`unregister_by`].
pub async fn unregister(pool: &Pool, tenant: TenantId, event_type: &str) -> Result<()> {
    unregister_by(pool, tenant, event_type, Actor::Operator).await
}

/// Removes a registered type and records it in the audit log; an unknown one is
/// [`Error::NotFound`].
pub async fn unregister_by(
    pool: &Pool,
    tenant: TenantId,
    event_type: &str,
    actor: Actor,
) -> Result<()> {
    let mut transaction = pool.begin().await?;
    let result = sqlx::query("DELETE FROM event_types WHERE tenant_id = $1 AND event_type = $2")
        .bind(tenant)
        .bind(event_type)
        .execute(&mut *transaction)
        .await?;
    if result.rows_affected() == 0 {
        return Err(Error::NotFound(format!("event type {event_type:?}")));
    }
    audit::record(
        &mut transaction,
        tenant,
        actor,
        Action::EventTypeUnregistered,
        Some(json!({ "event_type": event_type })),
        None,
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// Lists a tenant's registered types, sorted.
pub async fn list(pool: &Pool, tenant: TenantId) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT event_type FROM event_types WHERE tenant_id = $1 ORDER BY event_type",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await?)
}

/// Returns every tenant's registered types; tenants with none are absent.
pub async fn all(pool: &Pool) -> Result<HashMap<TenantId, HashSet<String>>> {
    let rows: Vec<(TenantId, String)> =
        sqlx::query_as("SELECT tenant_id, event_type FROM event_types")
            .fetch_all(pool)
            .await?;
    let mut by_tenant: HashMap<TenantId, HashSet<String>> = HashMap::new();
    for (tenant, event_type) in rows {
        by_tenant.entry(tenant).or_default().insert(event_type);
    }
    Ok(by_tenant)
}
