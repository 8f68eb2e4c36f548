//! Registered event types: a tenant that registers any may send only those types.

use std::collections::{HashMap, HashSet};

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

/// Registers a type for a tenant; registering it twice is a no-op.
pub async fn register(pool: &Pool, tenant: TenantId, event_type: &str) -> Result<()> {
    check(event_type)?;
    sqlx::query(
        "INSERT INTO event_types (tenant_id, event_type) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(event_type)
    .execute(pool)
    .await
    .map_err(catalog::tenant_must_exist(tenant))?;
    Ok(())
}

/// Removes a registered type; an unknown one is [`Error::NotFound`].
pub async fn unregister(pool: &Pool, tenant: TenantId, event_type: &str) -> Result<()> {
    let result = sqlx::query("DELETE FROM event_types WHERE tenant_id = $1 AND event_type = $2")
        .bind(tenant)
        .bind(event_type)
        .execute(pool)
        .await?;
    if result.rows_affected() == 0 {
        return Err(Error::NotFound(format!("event type {event_type:?}")));
    }
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
