//! SQL of the `audit_log` table: recording changes (inside the change's own transaction) and
//! other events, and listing the latest entries.

use serde_json::Value;
use sqlx::{Acquire, PgConnection, Postgres, Transaction};

use crate::Result;
use crate::audit::{Action, Actor, AuditEntry, Change};
use crate::ids::TenantId;

/// Records a change of a tenant's on the connection of the change's transaction, so that
/// neither exists without the other.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, %actor, action = change.action.as_str()))]
pub async fn record(
    connection: &mut PgConnection,
    tenant: TenantId,
    actor: Actor,
    change: Change,
) -> Result<()> {
    let entry = Entry {
        tenant: Some(tenant),
        actor: &actor.to_string(),
        action: change.action,
        old_value: change.old_value,
        new_value: change.new_value,
        client: None,
    };
    insert(connection, entry).await
}

/// Records a change of a tenant's and commits the transaction that made it: the last step of
/// every catalog change.
pub async fn commit(
    mut transaction: Transaction<'_, Postgres>,
    tenant: TenantId,
    actor: Actor,
    change: Change,
) -> Result<()> {
    record(&mut transaction, tenant, actor, change).await?;
    transaction.commit().await?;
    Ok(())
}

/// Records something that is not a change (a sign-in, a platform key's access, failed
/// authentications), with the client's address when known.
#[tracing::instrument(skip_all, fields(tenant_id = ?tenant, actor, action = action.as_str()))]
pub async fn note(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: Option<TenantId>,
    actor: &str,
    action: Action,
    details: Option<Value>,
    client: Option<&str>,
) -> Result<()> {
    let mut connection = db.acquire().await?;
    insert_note(&mut connection, tenant, actor, action, details, client).await
}

/// Records what [`note`] records, on a connection the caller holds.
pub(super) async fn insert_note(
    connection: &mut PgConnection,
    tenant: Option<TenantId>,
    actor: &str,
    action: Action,
    details: Option<Value>,
    client: Option<&str>,
) -> Result<()> {
    let entry = Entry {
        tenant,
        actor,
        action,
        old_value: None,
        new_value: details,
        client,
    };
    insert(connection, entry).await
}

/// One row of `audit_log` to write.
struct Entry<'a> {
    tenant: Option<TenantId>,
    actor: &'a str,
    action: Action,
    old_value: Option<Value>,
    new_value: Option<Value>,
    client: Option<&'a str>,
}

async fn insert(connection: &mut PgConnection, entry: Entry<'_>) -> Result<()> {
    sqlx::query!(
        "INSERT INTO audit_log (tenant_id, actor, action, old_value, new_value, client)
         VALUES ($1, $2, $3, $4, $5, $6)",
        entry.tenant as Option<TenantId>,
        entry.actor,
        entry.action.as_str(),
        entry.old_value,
        entry.new_value,
        entry.client,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// [`query_rows!`](crate::query_rows) of [`AuditEntry`]s.
macro_rules! query_entries {
    ($($query:tt)*) => {
        crate::query_rows!(
            AuditEntry,
            r#"id, tenant_id AS "tenant_id: TenantId", actor, action, old_value, new_value,
              client, at"#,
            $($query)*
        )
    };
}

/// Lists a tenant's latest entries, newest first.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, limit))]
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let mut connection = db.acquire().await?;
    Ok(query_entries!(
        "SELECT",
        "FROM audit_log WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        tenant as TenantId,
        limit,
    )
    .fetch_all(&mut *connection)
    .await?)
}

/// Lists the latest entries of every tenant and those of none, newest first: the operator's
/// view.
#[tracing::instrument(skip_all, fields(limit))]
pub async fn list_all(
    db: impl Acquire<'_, Database = Postgres>,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let mut connection = db.acquire().await?;
    Ok(query_entries!(
        "SELECT",
        "FROM audit_log ORDER BY at DESC, id DESC LIMIT $1",
        limit,
    )
    .fetch_all(&mut *connection)
    .await?)
}
