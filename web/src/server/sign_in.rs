//! Sign-in, which trades a read or admin key for a session cookie (from a form Tally served to
//! this browser, throttled per address after keys that did not work), and sign-out.

use std::time::Instant;

use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};
use tally_api::auth::ClientAddress;
use tally_meter::api_key::Scope;
use tally_meter::catalog::{api_keys, web_sessions};

use super::cookies::{
    SIGN_IN_COOKIE, clear_session_cookie, cookie, redirect, secure, session_cookie,
    session_cookie_name, set_cookie,
};
use super::state::Web;
use super::telemetry::{SessionStep, SessionStoreFailed};
use crate::model::Flash;

#[derive(serde::Deserialize)]
/// The sign-in form.
pub(super) struct SignIn {
    key: String,
    #[serde(default)]
    token: String,
}

/// Signs in with the form's key, from a form Tally served to this browser; a session starts
/// only for a read or admin key.
pub(super) async fn sign_in(
    State(web): State<Web>,
    client: ClientAddress,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let refuse = |text: &str| redirect("/login", &Flash::error(text), &web, &headers);
    // Only a form Tally served to this browser carries the token its cookie holds.
    if form.token.is_empty() || cookie(&headers, SIGN_IN_COOKIE) != Some(form.token.as_str()) {
        return refuse("The sign-in form had expired or came from elsewhere; sign in again here.");
    }
    let failures = web.api.failures();
    if let ClientAddress(Some(address)) = client
        && let Err(wait) = failures.admit(address, Instant::now())
    {
        return refuse(&format!(
            "Too many keys that did not work were tried from your address; wait {} s and try \
             again.",
            wait.as_secs() + 1
        ));
    }
    let presented = SecretString::from(form.key.trim().to_owned());
    let principal = match api_keys::authenticate(&web.catalog, &presented).await {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            if let ClientAddress(Some(address)) = client {
                failures
                    .record_key(&web.catalog, address, Some(&presented), "web sign-in")
                    .await;
            }
            return refuse(
                "That key is not valid: it is mistyped, revoked, or its tenant is suspended.",
            );
        }
        Err(error) => {
            SessionStoreFailed {
                step: SessionStep::CheckKey,
                error: &error,
            }
            .emit();
            return refuse("Tally cannot reach its catalog right now; try again in a moment.");
        }
    };
    match principal.scope {
        Scope::Read | Scope::Admin => {}
        Scope::Ingest => {
            return refuse(
                "That is an ingest key: it may only send events. Sign in with a read or admin key.",
            );
        }
        Scope::Platform => {
            return refuse(
                "That is a platform key, which names a tenant per request. Sign in with one \
                 tenant's read or admin key.",
            );
        }
    }
    let ttl = chrono::Duration::hours(i64::from(web.config.session_hours));
    let address = client.0.map(|address| address.to_string());
    match web_sessions::start(&web.catalog, &principal, ttl, address.as_deref()).await {
        Ok(token) => {
            let mut response = Redirect::to("/").into_response();
            set_cookie(
                &mut response,
                session_cookie_name(secure(&web, &headers)),
                token.expose_secret(),
                u64::try_from(ttl.num_seconds()).unwrap_or(0),
                secure(&web, &headers),
            );
            response
        }
        Err(error) => {
            SessionStoreFailed {
                step: SessionStep::Start,
                error: &error,
            }
            .emit();
            refuse("Tally cannot reach its catalog right now; try again in a moment.")
        }
    }
}

/// Ends the session and clears its cookie.
pub(super) async fn sign_out(
    State(web): State<Web>,
    client: ClientAddress,
    headers: HeaderMap,
) -> Response {
    let address = client.0.map(|address| address.to_string());
    if let Some(token) = session_cookie(&headers)
        && let Err(error) = web_sessions::end(
            &web.catalog,
            &SecretString::from(token.to_owned()),
            address.as_deref(),
        )
        .await
    {
        SessionStoreFailed {
            step: SessionStep::End,
            error: &error,
        }
        .emit();
    }
    let mut response = redirect(
        "/login",
        &Flash::notice("You are signed out."),
        &web,
        &headers,
    );
    clear_session_cookie(&mut response, &web, &headers);
    response
}
