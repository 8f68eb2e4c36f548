//! Tally's query surface (`tally serve --roles api`): a GraphQL API at `/graphql` (POST to
//! query, GET for GraphiQL), authenticated by a bearer API key whose tenant binds every
//! resolver, with one error-code table (see [`error`]) shared by GraphQL's `extensions.code`
//! and HTTP statuses. [`rest`] serves the same usage as CSV and JSON exports,
//! [`audit_export`] the audit log, and [`invoice_export`] invoices as PDF, CSV and JSON; all
//! three answer through [`export`].
//! [`cost`] bounds what one request may cost; every request, and every ClickHouse query it
//! runs, ends by [`REQUEST_TIMEOUT`].

pub mod audit_export;
pub mod auth;
pub mod cost;
pub mod csv;
pub mod error;
pub mod export;
pub mod invoice_export;
pub mod rest;
pub mod schema;
pub mod stripe_webhook;
pub mod telemetry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::http::GraphiQLSource;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;

pub use self::schema::{Services, TallySchema};
use tally_meter::api_key::Scope;
use tally_meter::audit::Action;
use tally_meter::auth_failures::{AuthFailures, FailureLimits};
use tally_meter::catalog;
use tally_meter::ids::{ApiKeyId, TenantId};
use tally_meter::throttle::TokenBucket;

use crate::error::{ApiError, ErrorCode};
use crate::telemetry::PlatformAccessNotAudited;

/// API settings (`[api]` in the config).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Sustained requests per second of one API key.
    pub rate_per_key_per_sec: u64,
    /// Requests one key may send at once above the rate.
    pub burst_per_key: u64,
    /// Failed authentications one client address may have at once, before 429.
    pub failed_auth_burst: u64,
    /// Failed authentications per second a client address regains.
    pub failed_auth_per_sec: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            rate_per_key_per_sec: 50,
            burst_per_key: 100,
            failed_auth_burst: 20,
            failed_auth_per_sec: 1,
        }
    }
}

/// How long one GraphQL request or export may run; ClickHouse stops the API's queries then too.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Buckets kept before full ones (keys idle long enough) are forgotten.
const PRUNE_BUCKETS_AT: usize = 1024;
/// How often a platform key's access to one tenant is recorded in the audit log, at most.
const PLATFORM_ACCESS_INTERVAL: Duration = Duration::from_secs(60);
/// How often counted failed authentications are written to the audit log.
pub const FAILED_AUTH_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// Counts one API query of a tenant in its platform usage.
pub type CountQuery = Arc<dyn Fn(TenantId) + Send + Sync>;

/// The API's state: the schema, holding the services, each key's request bucket, the failed
/// authentications per client address, when each platform key last acted on each tenant, and
/// what counts each tenant's queries.
#[derive(Clone)]
pub struct Api {
    schema: TallySchema,
    services: Services,
    config: ApiConfig,
    buckets: Arc<Mutex<HashMap<ApiKeyId, TokenBucket>>>,
    failures: Arc<AuthFailures>,
    platform_access: Arc<Mutex<HashMap<(ApiKeyId, TenantId), Instant>>>,
    count_query: Option<CountQuery>,
}

impl Api {
    /// Builds the API around the services; its ClickHouse queries end by [`REQUEST_TIMEOUT`].
    pub fn new(services: Services, config: ApiConfig) -> Self {
        let services = services.with_deadline(REQUEST_TIMEOUT);
        Self {
            schema: schema::build(services.clone()),
            services,
            config,
            buckets: Arc::default(),
            failures: Arc::new(AuthFailures::new(FailureLimits {
                burst: config.failed_auth_burst,
                per_sec: config.failed_auth_per_sec,
            })),
            platform_access: Arc::default(),
            count_query: None,
        }
    }

    /// Counts every request admitted with one of a tenant's own keys (GraphQL and exports;
    /// not the web UI's pages, nor the operator's platform keys) as one of its API queries.
    pub fn counting_queries(self, count_query: CountQuery) -> Self {
        Self {
            count_query: Some(count_query),
            ..self
        }
    }

    /// Returns the failed authentications counted so far, for the task that writes them to the
    /// audit log ([`AuthFailures::run`]) and for the web UI's sign-in form.
    pub fn failures(&self) -> &Arc<AuthFailures> {
        &self.failures
    }

    /// Authenticates a request, takes one request from its key's bucket, and records a
    /// platform key's access to the tenant it named.
    async fn admit(
        &self,
        client: auth::ClientAddress,
        credentials: &auth::Credentials,
    ) -> Result<auth::Caller, ApiError> {
        let caller =
            auth::authenticate(&self.services.catalog, &self.failures, client, credentials).await?;
        telemetry::record_tenant(caller.tenant());
        self.take_request(caller.principal.key_id)?;
        if caller.principal.scope == Scope::Platform {
            self.record_platform_access(&caller, client).await;
        } else if let Some(count_query) = &self.count_query {
            count_query(caller.tenant);
        }
        Ok(caller)
    }

    /// Records in the tenant's audit log, at most once a minute per key and tenant, that an
    /// operator's platform key acted on it.
    async fn record_platform_access(&self, caller: &auth::Caller, client: auth::ClientAddress) {
        let now = Instant::now();
        {
            let mut seen = self.platform_access.lock();
            let key = (caller.principal.key_id, caller.tenant);
            if seen
                .get(&key)
                .is_some_and(|at| now.saturating_duration_since(*at) < PLATFORM_ACCESS_INTERVAL)
            {
                return;
            }
            seen.retain(|_, at| now.saturating_duration_since(*at) < PLATFORM_ACCESS_INTERVAL);
            seen.insert(key, now);
        }
        let details = serde_json::json!({
            "platform_tenant_id": caller.principal.tenant_id,
            "other_tenant": caller.principal.tenant_id != caller.tenant,
        });
        let client = client.0.map(|address| address.to_string());
        if let Err(error) = catalog::audit::note(
            &self.services.catalog,
            Some(caller.tenant),
            &caller.actor().to_string(),
            Action::PlatformAccess,
            Some(details),
            client.as_deref(),
        )
        .await
        {
            PlatformAccessNotAudited { error: &error }.emit();
        }
    }

    /// Takes one request from a key's bucket: the API's routes and the web UI's pages share
    /// each key's rate. The error is RATE_LIMITED with when to retry.
    pub fn take_request(&self, key: ApiKeyId) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock();
        let now = Instant::now();
        let config = self.config;
        if buckets.len() >= PRUNE_BUCKETS_AT {
            buckets.retain(|_, bucket| {
                !bucket.is_full(config.rate_per_key_per_sec, config.burst_per_key, now)
            });
        }
        buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::full(config.burst_per_key, now))
            .take(1, config.rate_per_key_per_sec, config.burst_per_key, now)
            .map_err(|retry_after| ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "this key may send {} requests per second (bursts of {}); retry later",
                        config.rate_per_key_per_sec, config.burst_per_key
                    ),
                )
            })
    }

    /// Returns the schema, for tests and tools.
    pub fn schema(&self) -> &TallySchema {
        &self.schema
    }
}

/// Returns the API's routes.
pub fn router(api: Api) -> Router {
    let routes = Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/v1/usage.csv", get(rest::usage_csv))
        .route("/v1/usage.json", get(rest::usage_json))
        .route("/v1/audit.csv", get(audit_export::audit_csv))
        .route("/v1/audit.json", get(audit_export::audit_json))
        .route("/v1/invoices.csv", get(invoice_export::month_csv))
        .route("/v1/invoices/{file}", get(invoice_export::invoice_file));
    routes.with_state(api)
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty))]
async fn graphql(
    State(api): State<Api>,
    client: auth::ClientAddress,
    credentials: auth::Credentials,
    Json(request): Json<async_graphql::Request>,
) -> Response {
    let caller = match api.admit(client, &credentials).await {
        Ok(caller) => caller,
        Err(error) => return error_response(&error),
    };
    let request = request.data(caller);
    match tokio::time::timeout(REQUEST_TIMEOUT, api.schema.execute(request)).await {
        Ok(response) => Json(response).into_response(),
        Err(_) => error_response(&ApiError::past_deadline("query")),
    }
}

/// A GraphQL-shaped error body with the code's HTTP status.
pub(crate) fn error_response(error: &ApiError) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": error.message, "extensions": { "code": error.code.as_str() } }]
    });
    let mut response = (error.status(), Json(body)).into_response();
    if let Some(seconds) = error.retry_after_secs() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
