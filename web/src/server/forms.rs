//! The form posts that change things, one file per page (meters, keys, quota, alerts): each runs its
//! mutation as the signed-in key and answers with a redirect and a one-time message.

pub(super) mod alerts;
pub(super) mod keys;
pub(super) mod meters;
pub(super) mod quota;

use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use tally_api::auth::Caller;

use super::bridge::run;
use super::cookies::redirect;
use super::state::Web;
use crate::model::Flash;

/// Runs a form's mutation as the signed-in key and redirects to `back` with its outcome.
async fn mutate(
    web: &Web,
    parts: &Parts,
    back: &str,
    query: &str,
    variables: Value,
    done: impl FnOnce(Value) -> Flash,
) -> Response {
    let Some(caller) = parts.extensions.get::<Caller>().copied() else {
        return Redirect::to("/login").into_response();
    };
    let flash = match run(web, caller, query, variables).await {
        Ok(data) => done(data),
        Err(message) => Flash::error(message),
    };
    redirect(back, &flash, web, &parts.headers)
}
