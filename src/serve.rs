//! `tally serve`: connects to the dependencies of the chosen roles (failing fast, with a clear
//! message, when one cannot be reached), binds, serves HTTP, and drains on SIGINT or SIGTERM.
//! [`build`] binds and starts the roles and [`Server::run`] serves, so that `http.listen` may
//! ask for port 0 and the log's `tally is serving` line names the port given.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tally_alerting::evaluate::Evaluator;
use tally_api::{Api, Services};
use tally_ingest::{Canary, Ingest, QueryMetering};
use tally_meter::aggregator::{Aggregator, telemetry};
use tally_meter::analytics::Analytics;
use tally_meter::bus::BusProbe;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use crate::cli::Role;
use crate::cmd::connect_catalog;
use crate::config::Config;
use crate::health::{self, Dependencies, RoleFailure};
use crate::shutdown;

/// Histogram buckets of request latencies, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Histogram buckets of the freshness stages (`tally bench e2e`'s breakdown), in seconds: finer
/// where a pass's steps and waits fall, so that their percentiles mean something.
const STAGE_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75,
    1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];

/// How long `tally serve` waits for the brokers at start.
const KAFKA_START_TIMEOUT: Duration = Duration::from_secs(5);

/// A `tally serve` that is listening, with its roles started, but not yet answering: [`build`]
/// makes one, [`Server::run`] serves until a shutdown signal arrives. Splitting the two lets a
/// caller bind port 0 and learn the real address before serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    address: SocketAddr,
    app: Router,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    /// Cancelled once the HTTP server has answered its last request.
    drained: CancellationToken,
    failure: RoleFailure,
}

impl Server {
    /// Returns the address the server is bound to (the real port when `http.listen` asked
    /// for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves HTTP until SIGINT or SIGTERM, then drains every task of the roles.
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            listener,
            address: _,
            app,
            tasks,
            shutdown,
            drained,
            failure,
        } = self;
        let server_shutdown = shutdown.clone();
        tasks.spawn(async move {
            // Handlers read the peer address to throttle and audit failed authentications.
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(server_shutdown.cancelled_owned())
            .await;
            if let Err(error) = served {
                tracing::error!(%error, "the HTTP server failed");
            }
            drained.cancel();
        });
        tasks.close();
        shutdown.cancelled().await;
        tasks.wait().await;
        if let Some(failure) = failure.get() {
            anyhow::bail!("{failure}");
        }
        tracing::info!("tally stopped");
        Ok(())
    }
}

/// Connects to the dependencies of the roles, binds `http.listen` (port 0 picks a free port),
/// logs the bound address and starts the roles' background tasks.
pub async fn build(config: &Config, roles: &[Role]) -> anyhow::Result<Server> {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    let dependencies = connect(config, &roles).await?;
    let mut builder = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .context("invalid latency buckets")?;
    for stage_metric in [
        telemetry::STAGE_DURATION,
        telemetry::RECORD_WAIT,
        tally_ingest::telemetry::PRODUCE_ACK_DURATION,
    ] {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(stage_metric.to_owned()), STAGE_BUCKETS)
            .context("invalid stage buckets")?;
    }
    let metrics = builder
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let shutdown = shutdown::on_signal().context("cannot install signal handlers")?;
    // What counts or audits requests (ingest's metering, quota usage and failed-auth entries)
    // stops only once the last request was answered, so that its final records hold them all.
    let drained = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    let address = listener.local_addr()?;

    let tasks = TaskTracker::new();
    // A role's background loop runs in a task of its own, watched: its end or panic shuts the
    // whole process down.
    let supervise = |role: Role, running: JoinHandle<()>| {
        tasks.spawn(watch(
            role,
            running,
            dependencies.failure.clone(),
            shutdown.clone(),
        ));
    };
    let mut app = health::router(dependencies.clone(), metrics);
    if roles.contains(&Role::Ingest) {
        let catalog = dependencies.catalog(Role::Ingest)?;
        let ingest = Ingest::start(
            &config.ingest,
            catalog,
            &config.kafka,
            drained.clone(),
            &tasks,
        )
        .await
        .context("cannot start the ingest role")?;
        app = app.merge(tally_ingest::router(ingest));
    }
    if roles.contains(&Role::Api) {
        let services = Services {
            catalog: dependencies.catalog(Role::Api)?,
            analytics: dependencies.analytics(Role::Api)?,
            default_limits: config.ingest.default_limits(),
            caps: config.caps,
            raw_retention_days: config.meter.raw_retention_days,
        };
        // Each tenant's queries go to the metering topic, for its platform usage; sends that
        // fail are kept and retried, so the API answers while the brokers are away.
        let query_metering = QueryMetering::start(
            &config.kafka,
            Duration::from_millis(config.ingest.produce_timeout_ms),
            drained.clone(),
            &tasks,
        )
        .context("cannot start the api role's metering")?;
        let counting = Arc::clone(&query_metering);
        let api = Api::new(services.clone(), config.api)
            .counting_queries(Arc::new(move |tenant| counting.record(tenant)));
        tasks.spawn(api.failures().clone().run(
            services.catalog.clone(),
            tally_api::FAILED_AUTH_FLUSH_INTERVAL,
            drained.clone(),
        ));
        app = app
            .merge(tally_web::router(
                &api,
                services.catalog,
                config.web.clone(),
            ))
            // Every answer of the API is observed for the platform's API latency SLO.
            .merge(
                tally_api::router(api).layer(axum::middleware::from_fn_with_state(
                    query_metering,
                    tally_ingest::observe_api_answers,
                )),
            )
            .merge(tally_api::stripe_webhook::router(
                dependencies.catalog(Role::Api)?,
                config.billing.stripe.webhook_secret.clone(),
            ));
    }
    if roles.contains(&Role::Meter) {
        let catalog = dependencies.catalog(Role::Meter)?;
        let analytics = dependencies.analytics(Role::Meter)?;
        if config.meter.canary_interval_secs > 0 {
            Canary::start(
                &config.kafka,
                Duration::from_millis(config.ingest.produce_timeout_ms),
                (catalog.clone(), analytics.clone()),
                Duration::from_secs(config.meter.canary_interval_secs),
                shutdown.clone(),
                &tasks,
            )
            .context("cannot start the freshness canary")?;
        }
        let aggregator = Aggregator::start(&config.meter, &config.kafka, catalog, analytics)
            .await
            .context("cannot start the meter role")?;
        supervise(Role::Meter, tokio::spawn(aggregator.run(shutdown.clone())));
    }
    if roles.contains(&Role::Alerting) {
        let evaluator = Evaluator {
            catalog: dependencies.catalog(Role::Alerting)?,
            analytics: dependencies.analytics(Role::Alerting)?,
            default_limits: config.ingest.default_limits(),
            raw_retention_days: config.meter.raw_retention_days,
        };
        let run = tally_alerting::role::run(evaluator, config.alerting.clone(), shutdown.clone());
        supervise(Role::Alerting, tokio::spawn(run));
    }
    if roles.contains(&Role::Billing) {
        let catalog = dependencies.catalog(Role::Billing)?;
        let analytics = dependencies.analytics(Role::Billing)?;
        let run = tally_billing::role::run(
            catalog,
            analytics,
            config.billing.clone(),
            config.meter.raw_retention_days,
            shutdown.clone(),
        );
        supervise(Role::Billing, tokio::spawn(run));
    }
    let server = Server {
        listener,
        address,
        app: with_request_spans(app),
        tasks,
        shutdown,
        drained,
        failure: dependencies.failure.clone(),
    };
    let role_names: Vec<String> = roles.iter().map(Role::to_string).collect();
    tracing::info!(address = %server.address(), roles = %role_names.join(","), "tally is serving");
    Ok(server)
}

/// Connects to what the roles need and checks each answers.
async fn connect(config: &Config, roles: &[Role]) -> anyhow::Result<Dependencies> {
    let needs = |wanted: &[Role]| roles.iter().any(|role| wanted.contains(role));
    let mut dependencies = Dependencies::default();
    if needs(&[
        Role::Ingest,
        Role::Meter,
        Role::Api,
        Role::Alerting,
        Role::Billing,
    ]) {
        dependencies.postgres = Some(connect_catalog(config).await?);
    }
    if needs(&[Role::Meter, Role::Api, Role::Alerting, Role::Billing]) {
        let analytics = Analytics::new(&config.clickhouse);
        analytics
            .ping()
            .await
            .with_context(|| format!("cannot reach clickhouse at {}", config.clickhouse.url))?;
        dependencies.clickhouse = Some(analytics);
    }
    if needs(&[Role::Ingest, Role::Meter]) {
        let probe = BusProbe::new(&config.kafka)?;
        probe
            .ping(KAFKA_START_TIMEOUT)
            .await
            .with_context(|| format!("cannot reach kafka at {}", config.kafka.brokers))?;
        dependencies.kafka = Some(probe);
    }
    Ok(dependencies)
}

/// Wraps every route of every role in a span named `request` with the method and the matched
/// path (never the query or headers), closed when the response body ends. Errors are logged
/// once by the code that knows why, so the layer logs no failures of its own; handlers open
/// their own spans inside it, with the tenant once their credentials name it.
fn with_request_spans(app: Router) -> Router {
    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request| {
                let path = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str);
                tracing::info_span!("request", method = %request.method(), path)
            })
            .on_failure(()),
    )
}

/// Waits for a role's background task. One that panicked, or ended before shutdown was asked
/// for, marks the process failed (`/readyz` answers 503) and shuts it down, so that it exits
/// non-zero and its supervisor restarts it, instead of serving on without the role.
async fn watch(
    role: Role,
    running: JoinHandle<()>,
    failure: RoleFailure,
    shutdown: CancellationToken,
) {
    let reason = match running.await {
        Ok(()) if shutdown.is_cancelled() => return,
        Ok(()) => "stopped on its own".to_owned(),
        Err(error) => match error.try_into_panic() {
            Ok(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                format!("panicked: {message}")
            }
            Err(error) => error.to_string(),
        },
    };
    let reason = format!("the {role} role {reason}");
    tracing::error!(%role, reason, "a role failed: tally shuts down for its supervisor to restart it");
    failure.set(reason);
    shutdown.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_role_that_panics_fails_the_process_and_shuts_it_down() {
        let failure = RoleFailure::default();
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(async { panic!("poisoned") });
        watch(Role::Meter, running, failure.clone(), shutdown.clone()).await;
        assert_eq!(failure.get(), Some("the meter role panicked: poisoned"));
        assert!(shutdown.is_cancelled());
    }

    #[tokio::test]
    async fn a_role_stopped_by_shutdown_is_no_failure() {
        let failure = RoleFailure::default();
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let running = tokio::spawn(async {});
        watch(Role::Meter, running, failure.clone(), shutdown).await;
        assert_eq!(failure.get(), None);
    }
}
