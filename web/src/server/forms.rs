//! The form posts that change things, one file per page (meters, keys, quota, alerts): each runs its
//! mutation as the signed-in key and answers with a redirect and a one-time message.

pub(super) mod alerts;
pub(super) mod keys;
pub(super) mod meters;
pub(super) mod quota;

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use tally_api::auth::Caller;

use super::bridge::run;
use super::cookies::redirect;
use super::state::Web;
use crate::model::Flash;

/// A form post: the UI's state and the request's parts, which carry the signed-in key and the
/// headers that the answer's message cookie depends on.
pub(in crate::server) struct FormPost {
    web: Web,
    parts: Parts,
}

impl FromRequestParts<Web> for FormPost {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        Ok(Self {
            web: web.clone(),
            parts: parts.clone(),
        })
    }
}

impl FormPost {
    /// Returns the signed-in key, unless the session ended.
    fn caller(&self) -> Option<Caller> {
        self.parts.extensions.get::<Caller>().copied()
    }

    /// Runs the form's mutation as the signed-in key and redirects to `back` with its outcome.
    async fn mutate(
        &self,
        back: &str,
        query: &str,
        variables: Value,
        done: impl FnOnce(Value) -> Flash,
    ) -> Response {
        let Some(caller) = self.caller() else {
            return Redirect::to("/login").into_response();
        };
        let flash = match run(&self.web, caller, query, variables).await {
            Ok(data) => done(data),
            Err(message) => Flash::error(message),
        };
        self.redirect(back, &flash)
    }

    /// Redirects to `to` with a one-time message.
    fn redirect(&self, to: &str, flash: &Flash) -> Response {
        redirect(to, flash, &self.web, &self.parts.headers)
    }

    /// Redirects back to a refused form with `message`, filled again with what was typed.
    fn refuse(&self, back: &str, message: String, typed: BTreeMap<String, String>) -> Response {
        self.redirect(back, &Flash::error(message).with_form(typed))
    }
}
