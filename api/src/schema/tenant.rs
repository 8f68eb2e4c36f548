//! The caller's view of itself: `me`, its tenant and the scope of its key.

use async_graphql::{Context, ID, Object, SimpleObject};
use tally_meter::catalog::tenants;
use tally_meter::tenant::TenantRef;

use super::context::{caller, services};
use super::keys::ScopeValue;
use crate::cost::POSTGRES_QUERY;
use crate::error::ApiResult;

/// The caller.
#[derive(SimpleObject, Debug, Clone)]
pub struct Me {
    /// The caller's tenant.
    pub tenant_id: ID,
    /// The tenant's name.
    pub tenant_name: String,
    /// The scope of the key used.
    pub scope: ScopeValue,
    /// The id of the key used.
    pub key_id: ID,
}

/// Queries of the caller.
#[derive(Default)]
pub struct TenantQuery;

#[Object]
impl TenantQuery {
    /// The caller: its tenant and the scope of its key.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn me(&self, context: &Context<'_>) -> ApiResult<Me> {
        let caller = caller(context)?;
        let tenant =
            tenants::find(&services(context).catalog, &TenantRef::Id(caller.tenant())).await?;
        Ok(Me {
            tenant_id: ID(tenant.id.to_string()),
            tenant_name: tenant.name.to_string(),
            scope: ScopeValue::from(caller.principal.scope),
            key_id: ID(caller.principal.key_id.to_string()),
        })
    }
}
