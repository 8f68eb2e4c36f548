//! The web UI's server side: the axum router around the Leptos app, sessions in HttpOnly
//! cookies, the plain HTML form posts that change things (answered with a redirect and a
//! one-time message), and the bridge that runs the pages' GraphQL as the signed-in key.

use std::collections::BTreeMap;
use std::path::{Path as FilePath, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_graphql::Variables;
use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{Form, FromRef, Path, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, COOKIE, ETAG, HOST, IF_NONE_MATCH, ORIGIN,
    RETRY_AFTER, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use leptos::config::LeptosOptions;
use leptos::prelude::*;
use leptos::server_fn::error::FromServerFnError;
use leptos_axum::{LeptosRoutes, generate_route_list};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tally_api::auth::{Caller, ClientAddress};
use tally_api::error::ApiError;
use tally_api::{Api, REQUEST_TIMEOUT};
use tally_meter::api_key::{self, Scope};
use tally_meter::catalog::Pool;
use tally_meter::web_session;

use crate::app::{App, shell};
use crate::model::{Flash, Meter, MeterDetail, Page, SESSION_ENDED, UsageSelection, Viewer};

/// Web UI settings (`[web]` in the config).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// How long a sign-in lasts, in hours.
    pub session_hours: u32,
    /// Marks cookies `Secure` even without `X-Forwarded-Proto: https` (behind a TLS proxy
    /// that does not send it).
    pub secure_cookies: bool,
    /// The browser bundle (`tally-web.js` and `tally-web_bg.wasm`, built by `scripts/web.sh`);
    /// without it pages are served without scripts, which works as well, only without live
    /// updates and in-page navigation.
    pub pkg_dir: Option<PathBuf>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookies: false,
            pkg_dir: None,
        }
    }
}

const SESSION_COOKIE: &str = "tally_session";
/// The session cookie's name over TLS: the `__Host-` prefix makes browsers refuse it unless it
/// is `Secure`, for the whole site (`Path=/`) and set by this host only (no `Domain`).
const SECURE_SESSION_COOKIE: &str = "__Host-tally_session";
/// The form field that carries the session's form token.
const FORM_TOKEN_FIELD: &str = "form_token";
/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// The sign-in form's token, which the form must send back.
const SIGN_IN_COOKIE: &str = "tally_sign_in";
/// Where the pages' server functions answer (`#[server(prefix = …)]` in [`crate::data`]).
const SERVER_FN_PREFIX: &str = "/ui/fn/";
const FLASH_COOKIE: &str = "tally_flash";
const STYLESHEET: &str = include_str!("../style.css");

/// The web UI's state.
#[derive(Clone)]
pub struct Web {
    options: LeptosOptions,
    api: Api,
    pool: Pool,
    config: Arc<WebConfig>,
    bundle: Option<Arc<Bundle>>,
}

/// The browser bundle that hydrates the pages.
struct Bundle {
    js: BundleFile,
    wasm: BundleFile,
}

/// A file of the bundle, gzipped once at start, with an entity tag so that browsers download
/// it again only when it changed.
struct BundleFile {
    gzipped: Bytes,
    etag: HeaderValue,
}

impl Bundle {
    /// Reads the bundle from its directory; `None`, with a warning, if it is not all there.
    fn read(directory: &FilePath) -> Option<Self> {
        let read = |name: &str| {
            std::fs::read(directory.join(name))
                .and_then(|content| BundleFile::new(&content))
                .inspect_err(|error| {
                    tracing::warn!(
                        %error,
                        directory = %directory.display(),
                        "cannot read {name} of web.pkg_dir: pages are served without scripts"
                    );
                })
                .ok()
        };
        Some(Self {
            js: read(&format!("{OUTPUT_NAME}.js"))?,
            wasm: read(&format!("{OUTPUT_NAME}_bg.wasm"))?,
        })
    }
}

impl BundleFile {
    fn new(content: &[u8]) -> std::io::Result<Self> {
        use std::hash::{Hash, Hasher};
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(content)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        content.hash(&mut hasher);
        Ok(Self {
            gzipped: Bytes::from(encoder.finish()?),
            etag: HeaderValue::try_from(format!("\"{:016x}\"", hasher.finish()))
                .map_err(std::io::Error::other)?,
        })
    }
}

/// The bundle's file names, without extensions.
const OUTPUT_NAME: &str = "tally-web";

impl FromRef<Web> for LeptosOptions {
    fn from_ref(web: &Web) -> Self {
        web.options.clone()
    }
}

/// Returns the UI's routes: the pages, their server functions, the form posts, the stylesheet
/// and the browser bundle; all but sign-in and the static files need a session.
pub fn router(api: &Api, pool: Pool, config: WebConfig) -> Router {
    let options = LeptosOptions::builder().output_name(OUTPUT_NAME).build();
    let bundle = config
        .pkg_dir
        .as_deref()
        .filter(|directory| !directory.as_os_str().is_empty())
        .and_then(Bundle::read)
        .map(Arc::new);
    let hydrate = bundle.is_some();
    let web = Web {
        options: options.clone(),
        api: api.clone(),
        pool,
        config: Arc::new(config),
        bundle,
    };
    let pages = generate_route_list(App);
    Router::new()
        .leptos_routes(&web, pages, move || shell(options.clone(), hydrate))
        .route("/pkg/{file}", get(bundle_file))
        .route("/login", post(sign_in))
        .route("/logout", post(sign_out))
        .route("/meters", post(create_meter))
        .route("/meters/{key}/delete", post(delete_meter))
        .route("/keys", post(create_key))
        .route("/keys/{id}/revoke", post(revoke_key))
        .route("/quota", post(set_quota))
        .route("/assets/tally.css", get(stylesheet))
        .route_layer(middleware::from_fn_with_state(web.clone(), session))
        .fallback(not_found)
        .with_state(web)
}

/// What any unknown address gets, signed in or not.
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Not found · Tally</title><link rel=\"stylesheet\" href=\"/assets/tally.css\">\
         </head><body><main class=\"narrow\"><h1>Page not found</h1><p>There is no page at \
         this address. <a href=\"/\">Go to the overview</a>.</p></main></body></html>",
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// Serves the browser bundle, gzipped; browsers revalidate it with its entity tag on every
/// page load and download it only when it changed. It was read at start, so rebuilding it never
/// changes the scripts under a running server's pages.
async fn bundle_file(
    State(web): State<Web>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(bundle) = &web.bundle else {
        return not_found().await;
    };
    let (served, content_type) = match file.strip_prefix(OUTPUT_NAME) {
        Some(".js") => (&bundle.js, "text/javascript; charset=utf-8"),
        Some("_bg.wasm") => (&bundle.wasm, "application/wasm"),
        _ => return not_found().await,
    };
    let cache = [
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (ETAG, served.etag.clone()),
    ];
    if headers.get(IF_NONE_MATCH) == Some(&served.etag) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    // Every browser that runs the bundle accepts gzip.
    (
        cache,
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CONTENT_ENCODING, HeaderValue::from_static("gzip")),
        ],
        served.gzipped.clone(),
    )
        .into_response()
}

/// The stylesheet and the browser bundle: the same for everyone, served without a session.
fn is_static(path: &str) -> bool {
    path.starts_with("/assets/") || path.starts_with("/pkg/")
}

/// Resumes the request's session, if any, into a [`Caller`] extension; sends requests without
/// one to the sign-in page. Hands the one-time message to the page and clears its cookie.
async fn session(State(web): State<Web>, mut request: Request, next: Next) -> Response {
    if is_static(request.uri().path()) {
        return next.run(request).await;
    }
    let headers = request.headers().clone();
    let token = session_cookie(&headers).map(|token| SecretString::from(token.to_owned()));
    let principal = match &token {
        Some(token) => match web_session::resume(&web.pool, token).await {
            Ok(principal) => principal,
            Err(error) => {
                tracing::warn!(%error, "cannot resume a web session");
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
struct FormToken(String);

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

fn request_is_page(path: &str) -> bool {
    !path.starts_with(SERVER_FN_PREFIX)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SECURE_SESSION_COOKIE).or_else(|| cookie(headers, SESSION_COOKIE))
}

fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// Clears the session cookie under the name the request's connection uses.
fn clear_session_cookie(response: &mut Response, web: &Web, headers: &HeaderMap) {
    let secure = secure(web, headers);
    set_cookie(response, session_cookie_name(secure), "", 0, secure);
}

fn secure(web: &Web, headers: &HeaderMap) -> bool {
    web.config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: u64, secure: bool) {
    let mut text = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict");
    if secure {
        text.push_str("; Secure");
    }
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

fn clear_cookie(response: &mut Response, name: &str) {
    set_cookie(response, name, "", 0, false);
}

fn set_flash(response: &mut Response, flash: &Flash, web: &Web, headers: &HeaderMap) {
    set_cookie(
        response,
        FLASH_COOKIE,
        &flash.encode(),
        120,
        secure(web, headers),
    );
}

/// Redirects to `to` with a one-time message.
fn redirect(to: &str, flash: &Flash, web: &Web, headers: &HeaderMap) -> Response {
    let mut response = Redirect::to(to).into_response();
    set_flash(&mut response, flash, web, headers);
    response
}

impl Flash {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str) -> Option<Self> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).ok()?).ok()
    }
}

#[derive(serde::Deserialize)]
struct SignIn {
    key: String,
    #[serde(default)]
    token: String,
}

async fn sign_in(
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
    let principal = match api_key::authenticate(&web.pool, &presented).await {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            if let ClientAddress(Some(address)) = client {
                let tenant = api_key::owner_of_inactive(&web.pool, &presented)
                    .await
                    .unwrap_or(None);
                failures.record(address, tenant, "web sign-in", Instant::now());
            }
            return refuse(
                "That key is not valid: it is mistyped, revoked, or its tenant is suspended.",
            );
        }
        Err(error) => {
            tracing::warn!(%error, "cannot check a key at sign-in");
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
    match web_session::start(&web.pool, &principal, ttl, address.as_deref()).await {
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
            tracing::warn!(%error, "cannot start a web session");
            refuse("Tally cannot reach its catalog right now; try again in a moment.")
        }
    }
}

async fn sign_out(State(web): State<Web>, client: ClientAddress, headers: HeaderMap) -> Response {
    let address = client.0.map(|address| address.to_string());
    if let Some(token) = session_cookie(&headers)
        && let Err(error) = web_session::end(
            &web.pool,
            &SecretString::from(token.to_owned()),
            address.as_deref(),
        )
        .await
    {
        tracing::warn!(%error, "cannot end a web session");
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

/// Runs a GraphQL operation as the caller; the error is the API's message, for people.
async fn run(web: &Web, caller: Caller, query: &str, variables: Value) -> Result<Value, String> {
    let request = async_graphql::Request::new(query)
        .variables(Variables::from_json(variables))
        .data(caller);
    let response = tokio::time::timeout(REQUEST_TIMEOUT, web.api.schema().execute(request))
        .await
        .map_err(|_| "Tally took too long to answer; try again in a moment.".to_owned())?;
    if let Some(error) = response.errors.first() {
        return Err(sentence(&error.message));
    }
    response
        .data
        .into_json()
        .map_err(|error| format!("Tally gave an answer it cannot show: {error}"))
}

/// Makes an API message a sentence: capitalised, with a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut text: String = chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

/// Runs a page's query as the signed-in key and decodes `{ me, data }`.
pub(crate) async fn query_page<T: DeserializeOwned>(
    query: &str,
    variables: Value,
) -> Result<Page<T>, ServerFnError> {
    let mut page: Page<T> = decode(page_query(query, variables).await?)?;
    page.flash = flash();
    page.viewer.form_token = form_token();
    Ok(page)
}

/// The form token of the signed-in session, for the page's forms.
pub(crate) fn form_token() -> String {
    use_context::<Parts>()
        .and_then(|parts| parts.extensions.get::<FormToken>().cloned())
        .map(|FormToken(token)| token)
        .unwrap_or_default()
}

/// The sign-in form's token of the request, from its cookie or new.
#[derive(Clone)]
struct SignInToken(String);

/// The token the sign-in form must send back.
pub(crate) fn sign_in_token() -> String {
    use_context::<Parts>()
        .and_then(|parts| parts.extensions.get::<SignInToken>().cloned())
        .map(|SignInToken(token)| token)
        .unwrap_or_default()
}

/// The message the request's previous form post left.
pub(crate) fn flash() -> Option<Flash> {
    use_context::<Parts>().and_then(|parts| parts.extensions.get::<Flash>().cloned())
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ServerFnError> {
    serde_json::from_value(value).map_err(|error| {
        ServerFnError::new(format!("Tally gave an answer it cannot show: {error}"))
    })
}

async fn page_query(query: &str, variables: Value) -> Result<Value, ServerFnError> {
    let web = use_context::<Web>().ok_or_else(|| ServerFnError::new("the UI is not set up"))?;
    let caller = use_context::<Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>().copied())
        .ok_or_else(|| ServerFnError::new(SESSION_ENDED))?;
    run(&web, caller, query, variables)
        .await
        .map_err(ServerFnError::new)
}

/// The meter page's data: the meter, its last hour and its usage over the selection.
pub(crate) async fn meter_detail(
    key: String,
    selection: UsageSelection,
) -> Result<Page<MeterDetail>, ServerFnError> {
    let to = chrono::Utc::now();
    let from = to - chrono::Duration::hours(i64::from(selection.hours.clamp(1, 24 * 93)));
    let value = page_query(
        "query($key: String!, $from: DateTime!, $to: DateTime!, $window: Window!,
               $groupBy: [String!]!) {
           me { tenantName scope keyId }
           meters { key eventType aggregation valuePath groupBy { name path } allowedLatenessSecs }
           lastHour(meter: $key) { windowStart windowEnd groups { name value } events value }
           usage(meter: $key, from: $from, to: $to, window: $window, groupBy: $groupBy) {
             windowStart windowEnd groups { name value } events value
           }
         }",
        json!({
            "key": key,
            "from": from,
            "to": to,
            "window": selection.window,
            "groupBy": selection.group_by,
        }),
    )
    .await?;
    let meters: Vec<Meter> = decode(value["meters"].clone())?;
    let meter = meters
        .into_iter()
        .find(|meter| meter.key == key)
        .ok_or_else(|| ServerFnError::new(format!("There is no meter {key}.")))?;
    let mut viewer: Viewer = decode(value["me"].clone())?;
    viewer.form_token = form_token();
    Ok(Page {
        viewer,
        flash: flash(),
        data: MeterDetail {
            meter,
            last_hour: decode(value["lastHour"].clone())?,
            usage: decode(value["usage"].clone())?,
        },
    })
}

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

#[derive(serde::Deserialize, serde::Serialize)]
struct MeterForm {
    key: String,
    event_type: String,
    aggregation: String,
    #[serde(default)]
    value_path: String,
    #[serde(default)]
    group_by: String,
    #[serde(default)]
    allowed_lateness_secs: String,
}

async fn create_meter(
    State(web): State<Web>,
    parts: Parts,
    Form(form): Form<MeterForm>,
) -> Response {
    // What was typed, to fill the form again if it is refused.
    let fields: BTreeMap<String, String> = serde_json::to_value(&form)
        .and_then(serde_json::from_value)
        .unwrap_or_default();
    let refuse = |text: String| {
        redirect(
            "/meters",
            &Flash::error(text).with_form(fields.clone()),
            &web,
            &parts.headers,
        )
    };
    let group_by = match parse_group_by(&form.group_by) {
        Ok(group_by) => group_by,
        Err(message) => return refuse(message),
    };
    let lateness = form.allowed_lateness_secs.trim();
    let lateness: u64 = if lateness.is_empty() {
        0
    } else {
        match lateness.parse() {
            Ok(seconds) => seconds,
            Err(_) => return refuse("Allowed lateness must be a whole number of seconds.".into()),
        }
    };
    let value_path = form.value_path.trim();
    let input = json!({
        "key": form.key.trim(),
        "eventType": form.event_type.trim(),
        "aggregation": form.aggregation,
        "valuePath": (!value_path.is_empty()).then_some(value_path),
        "groupBy": group_by,
        "allowedLatenessSecs": lateness,
    });
    let Some(caller) = parts.extensions.get::<Caller>().copied() else {
        return Redirect::to("/login").into_response();
    };
    match run(
        &web,
        caller,
        "mutation($input: MeterInput!) { createMeter(input: $input) { key } }",
        json!({ "input": input }),
    )
    .await
    {
        Ok(_) => redirect(
            "/meters",
            &Flash::notice(format!("Meter {} created.", form.key.trim())),
            &web,
            &parts.headers,
        ),
        Err(message) => refuse(message),
    }
}

/// Parses `name=path` entries separated by commas or new lines.
fn parse_group_by(text: &str) -> Result<Vec<Value>, String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, path) = entry.split_once('=').ok_or_else(|| {
                format!("Group by entries are name=path, such as region=$.region; got {entry:?}.")
            })?;
            Ok(json!({ "name": name.trim(), "path": path.trim() }))
        })
        .collect()
}

async fn delete_meter(State(web): State<Web>, parts: Parts, Path(key): Path<String>) -> Response {
    mutate(
        &web,
        &parts,
        "/meters",
        "mutation($key: String!) { deleteMeter(key: $key) }",
        json!({ "key": key }),
        |_| Flash::notice(format!("Meter {key} deleted.")),
    )
    .await
}

#[derive(serde::Deserialize)]
struct KeyForm {
    scope: String,
}

async fn create_key(State(web): State<Web>, parts: Parts, Form(form): Form<KeyForm>) -> Response {
    mutate(
        &web,
        &parts,
        "/keys",
        "mutation($scope: Scope!) { createApiKey(scope: $scope) { key { prefix scope } secret } }",
        json!({ "scope": form.scope }),
        |data| {
            let created = &data["createApiKey"];
            let mut flash = Flash::notice(format!(
                "{} key created. Copy it now: Tally shows it only once.",
                created["key"]["scope"]
                    .as_str()
                    .unwrap_or("The")
                    .to_lowercase()
            ));
            flash.secret = created["secret"].as_str().map(str::to_owned);
            flash
        },
    )
    .await
}

async fn revoke_key(State(web): State<Web>, parts: Parts, Path(id): Path<String>) -> Response {
    let own = parts
        .extensions
        .get::<Caller>()
        .is_some_and(|caller| caller.principal.key_id.to_string() == id);
    let response = mutate(
        &web,
        &parts,
        "/keys",
        "mutation($id: ID!) { revokeApiKey(id: $id) { prefix } }",
        json!({ "id": id }),
        |data| {
            Flash::notice(format!(
                "Key {}… revoked: it stops working within seconds.",
                data["revokeApiKey"]["prefix"].as_str().unwrap_or_default()
            ))
        },
    )
    .await;
    if own {
        // The session went with its key: the next page asks to sign in again.
        return redirect(
            "/login",
            &Flash::notice("You revoked the key you signed in with; sign in with another key."),
            &web,
            &parts.headers,
        );
    }
    response
}

#[derive(serde::Deserialize)]
struct QuotaForm {
    rate_per_sec: String,
    #[serde(default)]
    burst: String,
    #[serde(default)]
    monthly_events: String,
    monthly_mode: String,
}

async fn set_quota(State(web): State<Web>, parts: Parts, Form(form): Form<QuotaForm>) -> Response {
    let number = |text: &str, what: &str| -> Result<Option<u64>, String> {
        let text = text.trim().replace(['_', ','], "");
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| format!("{what} must be a whole number."))
    };
    let parsed = (|| {
        let rate = number(&form.rate_per_sec, "The rate")?
            .ok_or_else(|| "The rate is required.".to_owned())?;
        Ok::<_, String>((
            rate,
            number(&form.burst, "The burst")?,
            number(&form.monthly_events, "Monthly events")?,
        ))
    })();
    let (rate, burst, monthly) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => return redirect("/quota", &Flash::error(message), &web, &parts.headers),
    };
    mutate(
        &web,
        &parts,
        "/quota",
        "mutation($input: QuotaInput!) { setQuota(input: $input) { ratePerSec } }",
        json!({ "input": {
            "ratePerSec": rate,
            "burst": burst,
            "monthlyEvents": monthly,
            "monthlyMode": form.monthly_mode,
        }}),
        |_| Flash::notice("Quota saved. Ingest applies it within a few seconds."),
    )
    .await
}
