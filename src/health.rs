//! Liveness, readiness and metrics: `/healthz` answers as long as the process serves HTTP;
//! `/readyz` checks every dependency of the roles this process runs and says, in JSON, which
//! are down; `/metrics` renders every role's Prometheus metrics.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use tally_meter::analytics::Analytics;
use tally_meter::bus::BusProbe;
use tally_meter::catalog::Catalog;

use crate::cli::Role;

/// How long one dependency check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a role of this process stopped on its own, once one has: `/readyz` then fails and the
/// process shuts down, to exit non-zero for a supervisor to restart.
#[derive(Clone, Default)]
pub struct RoleFailure(Arc<OnceLock<String>>);

impl RoleFailure {
    /// Records the first failure; later ones are left out.
    pub fn set(&self, reason: String) {
        let _ = self.0.set(reason);
    }

    /// Returns the failure, if a role failed.
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// The dependencies of this process's roles; `None` for one no role needs.
#[derive(Clone, Default)]
pub struct Dependencies {
    /// The catalog.
    pub postgres: Option<Catalog>,
    /// The analytics store.
    pub clickhouse: Option<Analytics>,
    /// The event bus.
    pub kafka: Option<BusProbe>,
    /// Set when a role failed.
    pub failure: RoleFailure,
}

impl Dependencies {
    /// The catalog, which `role` needs.
    pub fn catalog(&self, role: Role) -> anyhow::Result<Catalog> {
        self.postgres
            .clone()
            .with_context(|| format!("{role} needs postgres"))
    }

    /// The analytics store, which `role` needs.
    pub fn analytics(&self, role: Role) -> anyhow::Result<Analytics> {
        self.clickhouse
            .clone()
            .with_context(|| format!("{role} needs clickhouse"))
    }

    /// Checks every present dependency concurrently; each maps to `Ok` or the reason it is down.
    pub async fn check(&self) -> BTreeMap<&'static str, Result<(), String>> {
        let postgres = self.postgres.as_ref().map(Catalog::ping);
        let clickhouse = self.clickhouse.as_ref().map(Analytics::ping);
        let kafka = self.kafka.as_ref().map(|probe| probe.ping(CHECK_TIMEOUT));
        let (postgres, clickhouse, kafka) =
            tokio::join!(bounded(postgres), bounded(clickhouse), bounded(kafka));
        [
            ("postgres", postgres),
            ("clickhouse", clickhouse),
            ("kafka", kafka),
        ]
        .into_iter()
        .filter_map(|(name, outcome)| Some((name, outcome?)))
        .collect()
    }
}

/// Runs an optional check under [`CHECK_TIMEOUT`].
async fn bounded(
    check: Option<impl Future<Output = tally_meter::Result<()>>>,
) -> Option<Result<(), String>> {
    let check = check?;
    Some(match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    })
}

/// Returns the `/healthz`, `/readyz` and `/metrics` (Prometheus text format) routes.
pub fn router(dependencies: Dependencies, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .with_state(dependencies)
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
}

async fn readyz(State(dependencies): State<Dependencies>) -> (StatusCode, Json<Value>) {
    let outcomes = dependencies.check().await;
    let mut report = serde_json::Map::new();
    for (name, outcome) in &outcomes {
        let status = match outcome {
            Ok(()) => "up",
            Err(reason) => {
                tracing::warn!(dependency = name, reason, "dependency is down");
                "down"
            }
        };
        report.insert((*name).to_owned(), json!(status));
    }
    let failure = dependencies.failure.get();
    let ready = outcomes.values().all(Result::is_ok) && failure.is_none();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "dependencies": report,
    });
    if let Some(failure) = failure {
        body["failure"] = json!(failure);
    }
    (status, Json(body))
}
