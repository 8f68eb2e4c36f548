//! SQL of `alert_receivers` and `alert_routing`: where a tenant's notifications go.

use sqlx::types::Json;
use sqlx::{Acquire, Postgres};
use tally_meter::audit::{Action, Actor, Change};
use tally_meter::catalog::{audit, tenants};
use tally_meter::ids::TenantId;
use tally_meter::{Error, Result};

use crate::notify::receiver::{Receiver, Target};
use crate::notify::routing::Routing;

/// Most receivers one tenant may have.
pub const MAX_RECEIVERS_PER_TENANT: i64 = 100;

/// Creates or replaces a receiver, and records it (without its secret) in the audit log.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, receiver = %receiver.name, %actor))]
pub async fn set(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    receiver: &Receiver,
    actor: Actor,
) -> Result<()> {
    receiver.validate()?;
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM alert_receivers WHERE tenant_id = $1 AND name <> $2"#,
        tenant as TenantId,
        &receiver.name,
    )
    .fetch_one(&mut *transaction)
    .await?;
    if count >= MAX_RECEIVERS_PER_TENANT {
        return Err(Error::LimitReached(format!(
            "a tenant has at most {MAX_RECEIVERS_PER_TENANT} alert receivers"
        )));
    }
    sqlx::query!(
        "INSERT INTO alert_receivers (tenant_id, name, kind, config) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, name) DO UPDATE SET kind = excluded.kind, config = excluded.config",
        tenant as TenantId,
        &receiver.name,
        receiver.target.kind(),
        Json(&receiver.target) as _,
    )
    .execute(&mut *transaction)
    .await?;
    let change = Change::made(Action::AlertReceiverSet, &receiver.redacted());
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(())
}

/// A tenant's receivers by name, secrets included (for sending; show them redacted).
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Vec<Receiver>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query!(
        r#"SELECT name, config AS "config: Json<Target>" FROM alert_receivers
           WHERE tenant_id = $1 ORDER BY name"#,
        tenant as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Receiver {
            name: row.name,
            target: row.config.0,
        })
        .collect())
}

/// Deletes a receiver; one the routing tree names is [`Error::Conflict`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, receiver = name, %actor))]
pub async fn delete(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    name: &str,
    actor: Actor,
) -> Result<()> {
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    if let Some(routing) = routing_in(&mut transaction, tenant).await?
        && routing.receivers().contains(&name)
    {
        return Err(Error::Conflict(format!(
            "the routing tree sends to receiver {name}: change it first"
        )));
    }
    let deleted = sqlx::query!(
        "DELETE FROM alert_receivers WHERE tenant_id = $1 AND name = $2",
        tenant as TenantId,
        name,
    )
    .execute(&mut *transaction)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(Error::NotFound(format!("alert receiver {name}")));
    }
    let change = Change::removed(
        Action::AlertReceiverDeleted,
        &serde_json::json!({ "name": name }),
    );
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(())
}

/// Sets a tenant's routing tree; every receiver it names must exist.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, %actor))]
pub async fn set_routing(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    routing: &Routing,
    actor: Actor,
) -> Result<()> {
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let known = sqlx::query_scalar!(
        "SELECT name FROM alert_receivers WHERE tenant_id = $1",
        tenant as TenantId,
    )
    .fetch_all(&mut *transaction)
    .await?;
    if let Some(missing) = routing
        .receivers()
        .into_iter()
        .find(|name| !known.iter().any(|known| known == name))
    {
        return Err(Error::Invalid(format!(
            "the routing tree sends to receiver {missing}, which does not exist"
        )));
    }
    sqlx::query!(
        "INSERT INTO alert_routing (tenant_id, spec) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET spec = excluded.spec, updated_at = now()",
        tenant as TenantId,
        Json(routing) as _,
    )
    .execute(&mut *transaction)
    .await?;
    let change = Change::made(Action::AlertRoutingSet, &routing);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(())
}

/// A tenant's routing tree, if it set one.
pub async fn routing(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Option<Routing>> {
    let mut connection = db.acquire().await?;
    routing_in(&mut connection, tenant).await
}

async fn routing_in(
    connection: &mut sqlx::PgConnection,
    tenant: TenantId,
) -> Result<Option<Routing>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT spec AS "spec: Json<Routing>" FROM alert_routing WHERE tenant_id = $1"#,
        tenant as TenantId,
    )
    .fetch_optional(connection)
    .await?
    .map(|spec| spec.0))
}

/// Every tenant's routing tree, for the notifier.
pub async fn all_routing(
    db: impl Acquire<'_, Database = Postgres>,
) -> Result<Vec<(TenantId, Routing)>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query!(
        r#"SELECT r.tenant_id AS "tenant_id: TenantId", r.spec AS "spec: Json<Routing>"
           FROM alert_routing r JOIN tenants t ON t.id = r.tenant_id AND t.status = 'active'"#
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.tenant_id, row.spec.0))
        .collect())
}
