//! What every resolver takes from the request's context: the services, the caller and its
//! name in the audit log; and the parsing of meter keys, which several domains share.

use async_graphql::Context;
use tally_meter::audit::Actor;
use tally_meter::catalog::Catalog;
use tally_meter::ids::{MeterKey, TenantId};

use super::Services;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Returns the services the schema was built with.
pub fn services<'a>(context: &Context<'a>) -> &'a Services {
    context.data_unchecked::<Services>()
}

/// Returns the caller, or UNAUTHENTICATED when the request carried no key.
pub fn caller<'a>(context: &Context<'a>) -> ApiResult<&'a Caller> {
    context.data_opt::<Caller>().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "send an API key as `Authorization: Bearer KEY`",
        )
    })
}

/// The audit log's name for the caller: the key it used, flagged when a platform key.
pub fn actor(context: &Context<'_>) -> ApiResult<Actor> {
    Ok(caller(context)?.actor())
}

/// Returns the caller's tenant, once its key may read it, with the catalog that holds it.
pub fn read_access<'a>(context: &Context<'a>) -> ApiResult<(TenantId, &'a Catalog)> {
    let tenant = caller(context)?.may_read()?;
    Ok((tenant, &services(context).catalog))
}

/// Returns the caller's tenant, once its key may administer it, with the catalog that holds
/// it and the caller's name in the audit log.
pub fn admin_access<'a>(context: &Context<'a>) -> ApiResult<(TenantId, &'a Catalog, Actor)> {
    let caller = caller(context)?;
    let tenant = caller.may_administer()?;
    Ok((tenant, &services(context).catalog, caller.actor()))
}

/// Converts each item a store returned into its GraphQL type.
pub fn converted<Stored, Output: From<Stored>>(items: Vec<Stored>) -> Vec<Output> {
    items.into_iter().map(Output::from).collect()
}

/// Parses a meter key given as an argument.
pub fn meter_key(key: &str) -> ApiResult<MeterKey> {
    Ok(MeterKey::parse(key)?)
}
