//! The audit log: who changed what of a tenant's, when, and the value before and after; who
//! signed in to the web UI and out again; where an operator's platform key acted on a tenant;
//! and, aggregated per client address, the authentications that failed. Changes are recorded in
//! the transaction of the change itself, so neither exists without the other.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::Result;
use crate::catalog::Pool;
use crate::ids::{ApiKeyId, TenantId};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// An operator with access to the catalog, through the `tally` command line.
    Operator,
    /// A caller of the API or the web UI, by the tenant key it used.
    Key(ApiKeyId),
    /// An operator's platform key acting on a tenant it named: flagged apart from the
    /// tenant's own keys.
    Platform(ApiKeyId),
}

impl Actor {
    /// Whether the actor stands for the operator (the command line or a platform key), who
    /// may grant what a tenant's own keys may not.
    pub fn is_operator(self) -> bool {
        matches!(self, Self::Operator | Self::Platform(_))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Operator => f.write_str("operator"),
            Self::Key(key) => write!(f, "key:{key}"),
            Self::Platform(key) => write!(f, "platform:{key}"),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The tenant's limits were set.
    QuotaSet,
    /// An API key was created.
    KeyCreated,
    /// An API key was revoked.
    KeyRevoked,
    /// A meter was created.
    MeterCreated,
    /// A meter was deleted.
    MeterDeleted,
    /// An event type was registered.
    EventTypeRegistered,
    /// An event type was unregistered.
    EventTypeUnregistered,
    /// The tenant was suspended.
    TenantSuspended,
    /// The tenant was activated again.
    TenantActivated,
    /// Someone signed in to the web UI.
    SignedIn,
    /// Someone signed out of the web UI.
    SignedOut,
    /// An operator's platform key acted on the tenant (recorded at most once a minute per key).
    PlatformAccess,
    /// Requests with a missing, malformed, unknown or revoked key, counted per client address.
    AuthenticationFailed,
}

impl Action {
    /// Returns the stored name, such as `quota.set`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuotaSet => "quota.set",
            Self::KeyCreated => "key.created",
            Self::KeyRevoked => "key.revoked",
            Self::MeterCreated => "meter.created",
            Self::MeterDeleted => "meter.deleted",
            Self::EventTypeRegistered => "event_type.registered",
            Self::EventTypeUnregistered => "event_type.unregistered",
            Self::TenantSuspended => "tenant.suspended",
            Self::TenantActivated => "tenant.activated",
            Self::SignedIn => "session.signed_in",
            Self::SignedOut => "session.signed_out",
            Self::PlatformAccess => "platform.access",
            Self::AuthenticationFailed => "auth.failed",
        }
    }
}

/// One recorded entry.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Order of recording.
    pub id: i64,
    /// The tenant concerned; `None` for failed authentications with keys of no tenant.
    pub tenant_id: Option<TenantId>,
    /// Who: `operator`, `key:<id>`, `platform:<id>`, or `anonymous` for failed
    /// authentications.
    pub actor: String,
    /// What, such as `quota.set`.
    pub action: String,
    /// The value before, if there was one.
    pub old_value: Option<Value>,
    /// The value after, or the details (such as a failure count).
    pub new_value: Option<Value>,
    /// The client's address, where known.
    pub client: Option<String>,
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

/// Records something that is not a change (a sign-in, a platform key's access, failed
/// authentications), with the client's address when known.
pub async fn note(
    pool: &Pool,
    tenant: Option<TenantId>,
    actor: &str,
    action: Action,
    details: Option<Value>,
    client: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action, new_value, client)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(actor)
    .bind(action.as_str())
    .bind(details)
    .bind(client)
    .execute(pool)
    .await?;
    Ok(())
}

const ENTRY_COLUMNS: &str = "id, tenant_id, actor, action, old_value, new_value, client, at";

/// Lists a tenant's latest entries, newest first.
pub async fn list(pool: &Pool, tenant: TenantId, limit: i64) -> Result<Vec<AuditEntry>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_log
         WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2"
    ))
    .bind(tenant)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Lists the latest entries of every tenant and those of none, newest first: the operator's
/// view.
pub async fn list_all(pool: &Pool, limit: i64) -> Result<Vec<AuditEntry>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_log ORDER BY at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
