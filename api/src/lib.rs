//! Tally's query surface (`tally serve --roles api`): a GraphQL API at `/graphql` (POST to
//! query, GET for GraphiQL), authenticated by a bearer API key whose tenant binds every
//! resolver, with one error-code table (see [`error`]) shared by GraphQL's `extensions.code`
//! and HTTP statuses. [`rest`] serves the same usage as CSV and JSON exports.

pub mod auth;
pub mod error;
pub mod rest;
pub mod schema;

use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub use self::schema::{Services, TallySchema};
use crate::error::{ApiError, ErrorCode};

/// How long one GraphQL request may run.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The API's state: the schema, holding the services.
#[derive(Clone)]
pub struct Api {
    schema: TallySchema,
    services: Services,
}

impl Api {
    /// Builds the API around the services.
    pub fn new(services: Services) -> Self {
        Self {
            schema: schema::build(services.clone()),
            services,
        }
    }

    /// Returns the schema, for tests and tools.
    pub fn schema(&self) -> &TallySchema {
        &self.schema
    }
}

/// Returns the API's routes.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/v1/usage.csv", get(rest::usage_csv))
        .route("/v1/usage.json", get(rest::usage_json))
        .with_state(api)
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn graphql(
    State(api): State<Api>,
    headers: HeaderMap,
    Json(request): Json<async_graphql::Request>,
) -> Response {
    let caller = match auth::authenticate(&api.services.pool, &headers).await {
        Ok(caller) => caller,
        Err(error) => return error_response(&error),
    };
    let request = request.data(caller);
    match tokio::time::timeout(REQUEST_TIMEOUT, api.schema.execute(request)).await {
        Ok(response) => Json(response).into_response(),
        Err(_) => error_response(&ApiError::new(
            ErrorCode::Unavailable,
            format!("the query took longer than {} s", REQUEST_TIMEOUT.as_secs()),
        )),
    }
}

/// A GraphQL-shaped error body with the code's HTTP status.
pub(crate) fn error_response(error: &ApiError) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": error.message, "extensions": { "code": error.code.as_str() } }]
    });
    (error.code.status(), Json(body)).into_response()
}
