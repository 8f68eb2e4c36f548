//! The ingest tier's HTTP surface: routes, and the request span and metrics every route
//! records.

mod body;
mod events;
mod otlp;

use std::sync::Arc;
use std::time::Instant;

use axum::{Extension, Router};
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, post};

use serde_json::json;
use tally_meter::sli::INGEST_ANSWER;

use crate::Ingest;
use crate::metering::matched_route;
use crate::otlp::Signal;
use crate::telemetry::RequestServed;

/// The route of one OTLP signal's export path.
fn otlp_export(signal: Signal) -> MethodRouter<Arc<Ingest>> {
    post(otlp::export).layer(Extension(signal))
}

/// Returns the ingest routes: `POST /v1/events`, the OTLP/HTTP receivers and, when enabled,
/// the benchmark baseline.
pub fn router(ingest: Arc<Ingest>) -> Router {
    let mut routes = Router::new()
        .route("/v1/events", post(events::post_events))
        .route("/v1/metrics", otlp_export(Signal::Metrics))
        .route("/v1/logs", otlp_export(Signal::Logs))
        .route("/v1/traces", otlp_export(Signal::Traces));
    if ingest.config.bench_baseline {
        routes = routes.route("/v1/bench/baseline", post(events::post_baseline));
    }
    routes
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            Arc::clone(&ingest),
            record_request,
        ))
        .with_state(ingest)
}

/// The address of the client that sent a request, when the server recorded its connection's
/// peer (`tally serve` does).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        ))
    }
}

/// Counts every request and its latency by route ([`RequestServed`]), and observes each answer
/// for the platform's ingest availability SLO: its route and status.
async fn record_request(
    State(ingest): State<Arc<Ingest>>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = matched_route(&request);
    let started = Instant::now();
    let response = next.run(request).await;
    ingest.metering.observe(
        INGEST_ANSWER,
        json!({"route": endpoint, "status": response.status().as_u16()}),
    );
    RequestServed {
        endpoint,
        status: response.status(),
        elapsed: started.elapsed(),
    }
    .emit();
    response
}
