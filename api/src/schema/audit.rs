//! The tenant's audit log: `auditLog` and its entries.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use tally_meter::audit;
use tally_meter::catalog::audit as audit_log;

use super::context::{admin_access, converted};
use super::cursor;
use crate::cost::{self, POSTGRES_QUERY};
use crate::error::ApiResult;

/// An entry of the tenant's audit log.
#[derive(SimpleObject, Debug, Clone)]
pub struct AuditEntry {
    /// Who: `operator` (the command line), `key:<id>` (one of the tenant's keys),
    /// `platform:<id>` (an operator's platform key) or `anonymous` (failed authentications).
    pub actor: String,
    /// What, such as `quota.set`, `key.created`, `meter.deleted`, `session.signed_in`,
    /// `platform.access` or `auth.failed` (the README lists them all).
    pub action: String,
    /// The value before, as JSON, if there was one.
    pub old_value: Option<String>,
    /// The value after, as JSON.
    pub new_value: Option<String>,
    /// The client's address, where known (sign-ins, platform access, failures).
    pub client: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<audit::AuditEntry> for AuditEntry {
    fn from(entry: audit::AuditEntry) -> Self {
        Self {
            actor: entry.actor,
            action: entry.action,
            old_value: entry.old_value.map(|value| value.to_string()),
            new_value: entry.new_value.map(|value| value.to_string()),
            client: entry.client,
            at: entry.at,
        }
    }
}

/// Queries of the audit log.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The latest changes of the tenant's quota and keys, newest first (admin keys only).
    #[graphql(complexity = "POSTGRES_QUERY + cost::page(first, child_complexity)")]
    async fn audit_log(
        &self,
        context: &Context<'_>,
        #[graphql(default = 50)] first: usize,
    ) -> ApiResult<Vec<AuditEntry>> {
        let (tenant, catalog, _) = admin_access(context)?;
        cursor::check_page_size(first)?;
        let limit = i64::try_from(first).unwrap_or(50);
        Ok(converted(audit_log::list(catalog, tenant, limit).await?))
    }
}
