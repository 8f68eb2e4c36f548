//! The session middleware: resumes the request's session from its cookie into a [`Caller`],
//! sends requests without one to the sign-in page, rate-limits the key, refuses a form post
//! without the session's form token, keeps signed-in pages out of caches and hands the
//! one-time message to the page.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, HOST, ORIGIN, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::*;
use leptos::server_fn::error::FromServerFnError;
use secrecy::SecretString;
use tally_api::auth::Caller;
use tally_api::error::ApiError;
use tally_meter::catalog::web_sessions;
use tally_meter::web_session;

use super::assets::is_static;
use super::cookies::{
    FLASH_COOKIE, SIGN_IN_COOKIE, clear_cookie, clear_session_cookie, cookie, redirect, secure,
    session_cookie, set_cookie, set_flash,
};
use super::state::Web;
use super::telemetry::{SessionStep, SessionStoreFailed};
use crate::model::{Flash, SESSION_ENDED};

/// The form field that carries the session's form token.
const FORM_TOKEN_FIELD: &str = "form_token";
/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Where the pages' server functions answer (their `#[server(prefix = …)]` in `data.rs`).
const SERVER_FN_PREFIX: &str = "/ui/fn/";

/// Resumes the request's session, if any, into a [`Caller`] extension, recording its tenant
/// on this middleware's span, which the pages and forms run in; sends requests without one to
/// the sign-in page. Hands the one-time message to the page and clears its cookie.
#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty))]
pub(super) async fn session(State(web): State<Web>, mut request: Request, next: Next) -> Response {
    if is_static(request.uri().path()) {
        return next.run(request).await;
    }
    let headers = request.headers().clone();
    let token = session_cookie(&headers).map(|token| SecretString::from(token.to_owned()));
    let principal = match &token {
        Some(token) => match web_sessions::resume(&web.catalog, token).await {
            Ok(principal) => principal,
            Err(error) => {
                SessionStoreFailed {
                    step: SessionStep::Resume,
                    error: &error,
                }
                .emit();
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "5")],
                    "Tally cannot reach its catalog right now; retry in a few seconds.",
                )
                    .into_response();
            }
        },
        None => None,
    };
    let path = request.uri().path().to_owned();
    // The sign-in page reuses the browser's token, or hands it a new one with the page.
    let new_sign_in_token = (path == "/login" && cookie(&headers, SIGN_IN_COOKIE).is_none())
        .then(web_session::random_token);
    if let Some(token) = cookie(&headers, SIGN_IN_COOKIE)
        .map(str::to_owned)
        .or_else(|| new_sign_in_token.clone())
    {
        request.extensions_mut().insert(SignInToken(token));
    }
    let flash = cookie(&headers, FLASH_COOKIE).and_then(Flash::decode);
    if let Some(flash) = &flash {
        request.extensions_mut().insert(flash.clone());
    }
    let mut response = match (principal, &token) {
        (Some(principal), Some(token)) => {
            if let Err(limited) = web.api.take_request(principal.key_id) {
                return rate_limited(&path, &limited);
            }
            request.extensions_mut().insert(Caller {
                principal,
                tenant: principal.tenant_id,
            });
            tally_api::telemetry::record_tenant(principal.tenant_id);
            let form_token = web_session::form_token(token);
            if request.method() == Method::POST && !path.starts_with(SERVER_FN_PREFIX) {
                request = match check_form(request, &form_token).await {
                    Ok(request) => request,
                    Err(refused) => return redirect("/", &Flash::error(refused), &web, &headers),
                };
            }
            request.extensions_mut().insert(FormToken(form_token));
            let mut response = next.run(request).await;
            // Signed-in pages show a tenant's data, and one shows a new key's secret: no cache
            // (the browser's or a proxy's) may keep them.
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        _ if path == "/login" => next.run(request).await,
        // A hydrated page loading data gets the reason as a server function error, to show.
        _ if path.starts_with(SERVER_FN_PREFIX) => {
            return (
                StatusCode::UNAUTHORIZED,
                ServerFnError::new(SESSION_ENDED).ser(),
            )
                .into_response();
        }
        _ => {
            let mut response = Redirect::to("/login").into_response();
            if token.is_some() {
                clear_session_cookie(&mut response, &web, &headers);
                set_flash(&mut response, &Flash::error(SESSION_ENDED), &web, &headers);
            }
            return response;
        }
    };
    if let Some(token) = &new_sign_in_token {
        set_cookie(
            &mut response,
            SIGN_IN_COOKIE,
            token,
            3600,
            secure(&web, &headers),
        );
    }
    let consumed = request_is_page(&path) && flash.is_some();
    let sets_flash = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|value| value.as_bytes().starts_with(FLASH_COOKIE.as_bytes()));
    if consumed && !sets_flash {
        clear_cookie(&mut response, FLASH_COOKIE);
    }
    response
}

/// The form token of the request's session, for the pages' forms.
#[derive(Clone)]
pub(super) struct FormToken(pub(super) String);

/// The sign-in form's token of the request, from its cookie or new.
#[derive(Clone)]
pub(super) struct SignInToken(pub(super) String);

/// Checks that a form post came from a page of this site: its `Origin`, when the browser sends
/// one, is this host, and its body carries the session's form token. Returns the request with
/// its body restored, or why it is refused.
async fn check_form(request: Request, expected: &str) -> Result<Request, &'static str> {
    const REFUSED: &str =
        "That form had expired or came from another site, so nothing was changed; try again here.";
    let (parts, body) = request.into_parts();
    let host = parts.headers.get(HOST).and_then(|host| host.to_str().ok());
    if let Some(origin) = parts.headers.get(ORIGIN) {
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|origin| origin.split_once("://"))
            .map(|(_, host)| host);
        if origin_host.is_none() || origin_host != host {
            return Err(REFUSED);
        }
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| "That form was too large to accept.")?;
    let presented = form_urlencoded_field(&bytes, FORM_TOKEN_FIELD);
    if presented.as_deref() != Some(expected) {
        return Err(REFUSED);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The first value of a field of an `application/x-www-form-urlencoded` body.
fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    fields
        .into_iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value)
}

/// 429 with `Retry-After`: a server function error for a hydrated page, words for the rest.
fn rate_limited(path: &str, limited: &ApiError) -> Response {
    let seconds = limited.retry_after_secs().unwrap_or(1);
    let text = format!("Slow down: {}. Retry in {seconds} s.", limited.message);
    let body = if path.starts_with(SERVER_FN_PREFIX) {
        ServerFnError::new(text).ser()
    } else {
        Bytes::from(text)
    };
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(RETRY_AFTER, HeaderValue::from(seconds))],
        body,
    )
        .into_response()
}

/// Whether the request is for a page, rather than a page's server function.
fn request_is_page(path: &str) -> bool {
    !path.starts_with(SERVER_FN_PREFIX)
}
