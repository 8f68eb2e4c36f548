//! The bridge from the pages to the API: runs GraphQL against the API's own schema as the
//! signed-in key, and gives the pages' server functions their data, the session's form token,
//! the sign-in form's token and the one-time message. The billing pages' data is in
//! [`billing`], the SLO pages' in [`slo`].

pub(crate) mod billing;
pub(crate) mod slo;

use async_graphql::Variables;
use axum::http::StatusCode;
use axum::http::request::Parts;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tally_api::REQUEST_TIMEOUT;
use tally_api::auth::Caller;

use super::session::{FormToken, SignInToken};
use super::state::Web;
use crate::data::{ME, METER_FIELDS};
use crate::model::{Flash, Meter, MeterDetail, Page, SESSION_ENDED, UsageSelection, Viewer};

/// Why the API refused an operation: its error code, if it gave one, and its message for
/// people.
pub(super) struct Refusal {
    /// The API's `extensions.code`, such as `NOT_FOUND`.
    pub(super) code: Option<String>,
    /// The message, as a sentence.
    pub(super) message: String,
}

impl Refusal {
    fn plain(message: String) -> Self {
        Self {
            code: None,
            message,
        }
    }
}

/// The page's error for a refusal: the API's message, for people.
fn refused(refusal: Refusal) -> ServerFnError {
    ServerFnError::new(refusal.message)
}

/// Runs a GraphQL operation as the caller; the error is the API's message, for people.
pub(super) async fn run(
    web: &Web,
    caller: Caller,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    run_coded(web, caller, query, variables)
        .await
        .map_err(|refusal| refusal.message)
}

/// Runs a GraphQL operation as the caller; the error keeps the API's code.
pub(super) async fn run_coded(
    web: &Web,
    caller: Caller,
    query: &str,
    variables: Value,
) -> Result<Value, Refusal> {
    let request = async_graphql::Request::new(query)
        .variables(Variables::from_json(variables))
        .data(caller);
    let response = tokio::time::timeout(REQUEST_TIMEOUT, web.api.schema().execute(request))
        .await
        .map_err(|_| {
            Refusal::plain("Tally took too long to answer; try again in a moment.".to_owned())
        })?;
    if let Some(error) = response.errors.first() {
        let code = error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            .and_then(|code| match code {
                async_graphql::Value::String(code) => Some(code.clone()),
                _ => None,
            });
        return Err(Refusal {
            code,
            message: sentence(&error.message),
        });
    }
    response
        .data
        .into_json()
        .map_err(|error| Refusal::plain(format!("Tally gave an answer it cannot show: {error}")))
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

/// Runs a page's query of one field without variables, `data: FIELD` beside `me`.
pub(crate) async fn query_data<T: DeserializeOwned>(field: &str) -> Result<Page<T>, ServerFnError> {
    query_page(&format!("{{ {ME} data: {field} }}"), json!({})).await
}

/// Runs a page's query whose fields beside `me` are together the page's data.
pub(crate) async fn query_fields<T: DeserializeOwned>(
    query: &str,
) -> Result<Page<T>, ServerFnError> {
    let value = page_query(query, Value::Object(serde_json::Map::new())).await?;
    Ok(page(viewer(&value)?, decode(value)?))
}

/// Runs a page's query without variables as the signed-in key; returns the UI's state and the
/// key (for the page's further queries), the viewer and the answer.
async fn page_answer(query: &str) -> Result<(Web, Caller, Viewer, Value), ServerFnError> {
    let (web, caller) = signed_in()?;
    let value = run_coded(&web, caller, query, json!({}))
        .await
        .map_err(refused)?;
    let viewer = viewer(&value)?;
    Ok((web, caller, viewer, value))
}

/// Runs the query of a page about one thing (an invoice, an SLO) as the signed-in key and
/// returns the viewer and the answer. When the API refuses it with one of the codes `missing`,
/// the page answers 404 with the message `not_found`.
async fn detail_answer(
    query: &str,
    variables: Value,
    missing: &[&str],
    not_found: String,
) -> Result<(Viewer, Value), ServerFnError> {
    let (web, caller) = signed_in()?;
    match run_coded(&web, caller, query, variables).await {
        Ok(value) => Ok((viewer(&value)?, value)),
        Err(refusal)
            if refusal
                .code
                .as_deref()
                .is_some_and(|code| missing.contains(&code)) =>
        {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(StatusCode::NOT_FOUND);
            }
            Err(ServerFnError::new(not_found))
        }
        Err(refusal) => Err(refused(refusal)),
    }
}

/// The signed-in viewer of an answer's `me`, with the session's form token.
fn viewer(value: &Value) -> Result<Viewer, ServerFnError> {
    let mut viewer: Viewer = decode(value["me"].clone())?;
    viewer.form_token = form_token();
    Ok(viewer)
}

/// A page of `data` for `viewer`, with the request's one-time message.
fn page<T>(viewer: Viewer, data: T) -> Page<T> {
    Page {
        viewer,
        flash: flash(),
        data,
    }
}

/// A value the session middleware left on the request being rendered, such as its form token.
fn request_extension<T: Clone + Send + Sync + 'static>() -> Option<T> {
    use_context::<Parts>().and_then(|parts| parts.extensions.get::<T>().cloned())
}

/// The form token of the signed-in session, for the page's forms.
pub(crate) fn form_token() -> String {
    request_extension()
        .map(|FormToken(token)| token)
        .unwrap_or_default()
}

/// The sign-in form's token of the request, from its cookie or new: the token the sign-in form
/// must send back.
pub(crate) fn sign_in_token() -> String {
    request_extension()
        .map(|SignInToken(token)| token)
        .unwrap_or_default()
}

/// The message the request's previous form post left.
pub(crate) fn flash() -> Option<Flash> {
    request_extension()
}

/// Decodes a part of an answer.
fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ServerFnError> {
    serde_json::from_value(value).map_err(|error| {
        ServerFnError::new(format!("Tally gave an answer it cannot show: {error}"))
    })
}

/// Runs a page's query as the request's signed-in key.
async fn page_query(query: &str, variables: Value) -> Result<Value, ServerFnError> {
    let (web, caller) = signed_in()?;
    run(&web, caller, query, variables)
        .await
        .map_err(ServerFnError::new)
}

/// The UI's state and the request's signed-in key.
fn signed_in() -> Result<(Web, Caller), ServerFnError> {
    let web = use_context::<Web>().ok_or_else(|| ServerFnError::new("the UI is not set up"))?;
    let caller = request_extension::<Caller>().ok_or_else(|| ServerFnError::new(SESSION_ENDED))?;
    Ok((web, caller))
}

/// The fields of a usage point that the meter page shows.
const USAGE_POINT_FIELDS: &str = "windowStart windowEnd groups { name value } events value";

/// The meter page's data: the meter, its last hour and its usage over the selection.
pub(crate) async fn meter_detail(
    key: String,
    selection: UsageSelection,
) -> Result<Page<MeterDetail>, ServerFnError> {
    // Usage ranges are whole minutes: up to the end of the current one.
    let to = tally_meter::usage::floor_minute(chrono::Utc::now()) + chrono::Duration::minutes(1);
    let from = to - chrono::Duration::hours(i64::from(selection.hours.clamp(1, 24 * 93)));
    let value = page_query(
        &format!(
            "query($key: String!, $from: DateTime!, $to: DateTime!, $window: Window!,
               $groupBy: [String!]!) {{
           {ME}
           meters {{ {METER_FIELDS} }}
           lastHour(meter: $key) {{ {USAGE_POINT_FIELDS} }}
           usage(meter: $key, from: $from, to: $to, window: $window, groupBy: $groupBy) {{
             {USAGE_POINT_FIELDS}
           }}
         }}"
        ),
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
    let detail = MeterDetail {
        meter,
        last_hour: decode(value["lastHour"].clone())?,
        usage: decode(value["usage"].clone())?,
    };
    Ok(page(viewer(&value)?, detail))
}
