//! The audit log: who changed a tenant's quota or keys, when, and the value before and after.
//! Entries are written in the transaction of the change they record, so neither exists
//! without the other.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::Result;
use crate::ids::{ApiKeyId, TenantId};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// An operator with access to the catalog, through the `tally` command line.
    Operator,
    /// A caller of the API, by the key it used.
    Key(ApiKeyId),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Operator => f.write_str("operator"),
            Self::Key(key) => write!(f, "key:{key}"),
        }
    }
}

/// What was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The tenant's limits were set.
    QuotaSet,
    /// An API key was created.
    KeyCreated,
    /// An API key was revoked.
    KeyRevoked,
}

impl Action {
    /// Returns the stored name, such as `quota.set`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuotaSet => "quota.set",
            Self::KeyCreated => "key.created",
            Self::KeyRevoked => "key.revoked",
        }
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Order of recording.
    pub id: i64,
    /// Whose quota or key changed.
    pub tenant_id: TenantId,
    /// Who changed it: `operator` or `key:<id>`.
    pub actor: String,
    /// What changed, such as `quota.set`.
    pub action: String,
    /// The value before, if there was one.
    pub old_value: Option<Value>,
    /// The value after.
    pub new_value: Option<Value>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Records a change of a tenant's; call it inside the change's transaction.
pub async fn record(
    connection: &mut sqlx::PgConnection,
    tenant: TenantId,
    actor: Actor,
    action: Action,
    old_value: Option<Value>,
    new_value: Option<Value>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action, old_value, new_value)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(actor.to_string())
    .bind(action.as_str())
    .bind(old_value)
    .bind(new_value)
    .execute(connection)
    .await?;
    Ok(())
}

/// Lists a tenant's latest changes, newest first.
pub async fn list(
    pool: &crate::catalog::Pool,
    tenant: TenantId,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    Ok(sqlx::query_as(
        "SELECT id, tenant_id, actor, action, old_value, new_value, at FROM audit_log
         WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
