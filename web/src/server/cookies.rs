//! The web UI's cookies: the session's (`__Host-` prefixed over TLS), the sign-in form's and
//! the one-time message's, all HttpOnly and SameSite=Strict; and the redirect that leaves a
//! one-time message for the next page.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::state::Web;
use crate::model::Flash;

/// The session cookie's name over plain HTTP.
const SESSION_COOKIE: &str = "tally_session";
/// The session cookie's name over TLS: the `__Host-` prefix makes browsers refuse it unless it
/// is `Secure`, for the whole site (`Path=/`) and set by this host only (no `Domain`).
const SECURE_SESSION_COOKIE: &str = "__Host-tally_session";
/// The sign-in form's token, which the form must send back.
pub(super) const SIGN_IN_COOKIE: &str = "tally_sign_in";
/// The one-time message's cookie.
pub(super) const FLASH_COOKIE: &str = "tally_flash";

/// The value of the request's cookie `name`.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The session cookie's value, under its secure or its plain name.
pub(super) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SECURE_SESSION_COOKIE).or_else(|| cookie(headers, SESSION_COOKIE))
}

/// The session cookie's name: `__Host-` prefixed over TLS.
pub(super) fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// Clears the session cookie under the name the request's connection uses.
pub(super) fn clear_session_cookie(response: &mut Response, web: &Web, headers: &HeaderMap) {
    let secure = secure(web, headers);
    set_cookie(response, session_cookie_name(secure), "", 0, secure);
}

/// Whether cookies are `Secure`: by the settings, or because the request came over TLS.
pub(super) fn secure(web: &Web, headers: &HeaderMap) -> bool {
    web.config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// Sets an HttpOnly, SameSite=Strict cookie for the whole site.
pub(super) fn set_cookie(
    response: &mut Response,
    name: &str,
    value: &str,
    max_age: u64,
    secure: bool,
) {
    let mut text = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict");
    if secure {
        text.push_str("; Secure");
    }
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// Clears a cookie.
pub(super) fn clear_cookie(response: &mut Response, name: &str) {
    set_cookie(response, name, "", 0, false);
}

/// Leaves a one-time message for the next page, for two minutes.
pub(super) fn set_flash(response: &mut Response, flash: &Flash, web: &Web, headers: &HeaderMap) {
    set_cookie(
        response,
        FLASH_COOKIE,
        &flash.encode(),
        120,
        secure(web, headers),
    );
}

/// Redirects to `to` with a one-time message.
pub(super) fn redirect(to: &str, flash: &Flash, web: &Web, headers: &HeaderMap) -> Response {
    let mut response = Redirect::to(to).into_response();
    set_flash(&mut response, flash, web, headers);
    response
}

impl Flash {
    /// The message as a cookie value.
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The message from its cookie value, if it is one.
    pub(super) fn decode(text: &str) -> Option<Self> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).ok()?).ok()
    }
}
