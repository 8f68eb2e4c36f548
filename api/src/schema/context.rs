//! What every resolver takes from the request's context: the services, the caller and its
//! name in the audit log; and the parsing of meter keys, which several domains share.

use async_graphql::Context;
use tally_meter::audit::Actor;
use tally_meter::ids::MeterKey;

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

/// Parses a meter key given as an argument.
pub fn meter_key(key: &str) -> ApiResult<MeterKey> {
    Ok(MeterKey::parse(key)?)
}
