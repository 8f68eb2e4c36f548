//! Tally's ingest tier: the HTTP receivers that authenticate each request to a tenant, throttle
//! it, validate and quarantine bad events, and answer 2xx only once Kafka holds the events.
//!
//! - [`http`]: the routes (`POST /v1/events` for CloudEvents; OTLP/HTTP under `/v1/{metrics,
//!   logs,traces}`), body limits and gzip;
//! - [`cloudevents`], [`otlp`]: decoders that turn a body into [`Candidate`]s;
//! - the pipeline (`Ingest::submit`): rate limit, per-event validation, monthly quota,
//!   produce with acks, metering;
//! - [`policy`]: per-tenant limits, registered types and quota consumption, reloaded from the
//!   catalog every few seconds; [`auth`]: API keys with a short, bounded cache.
//!
//! Nothing a request sends may cost the server much more memory than the request itself:
//! decoders count items while reading and refuse a body over `ingest.max_batch_events` before
//! building any, OTLP items are measured with what they inherit before their events are built,
//! quarantine records keep a bounded prefix of the rejected bytes, and malformed API keys are
//! refused before any lookup or caching.

mod auth;
mod canary;
mod candidate;
pub mod cloudevents;
mod config;
mod error;
mod http;
mod metering;
pub mod otlp;
mod pipeline;
mod policy;
mod producer;
pub mod telemetry;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tally_meter::bus::KafkaConfig;
use tally_meter::catalog::Catalog;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::canary::Canary;
pub use crate::candidate::{Candidate, DecodeLimits};
pub use crate::config::IngestConfig;
pub use crate::error::IngestError;
pub use crate::http::router;
pub use crate::metering::{QueryMetering, observe_api_answers};
pub use crate::pipeline::{Outcome, Rejection};

use tally_meter::auth_failures::FailureLimits;
use tally_meter::ticks::Ticks;

use crate::auth::Authenticator;
use crate::metering::Metering;
use crate::policy::Policy;
use crate::producer::Producer;
use crate::telemetry::{PolicyNotRefreshed, QuotaUsageNotRecorded};

/// How often counted failed authentications are written to the audit log.
const FAILED_AUTH_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// A running ingest tier: shared by every request of this process.
pub struct Ingest {
    config: IngestConfig,
    rules: validate::Rules,
    auth: Authenticator,
    policy: Policy,
    producer: Producer,
    metering: Metering,
}

impl Ingest {
    /// Loads the policy, creates the producer, and starts the background loops (policy refresh
    /// and metering) on `tasks`; they stop, after a last metering send, when `shutdown` fires.
    pub async fn start(
        config: &IngestConfig,
        catalog: Catalog,
        kafka: &KafkaConfig,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> tally_meter::Result<Arc<Self>> {
        let refresh = Duration::from_secs(config.refresh_secs);
        let catalog_for_audit = catalog.clone();
        let to_ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let ingest = Arc::new(Self {
            config: config.clone(),
            rules: validate::Rules {
                max_event_bytes: config.max_event_bytes,
                max_age_ms: to_ms(config.max_event_age_secs),
                max_future_ms: to_ms(config.max_event_future_secs),
            },
            auth: Authenticator::new(
                catalog.clone(),
                refresh,
                FailureLimits {
                    burst: config.failed_auth_burst,
                    per_sec: config.failed_auth_per_sec,
                },
            ),
            policy: Policy::load(catalog, config.default_limits()).await?,
            producer: Producer::new(kafka, Duration::from_millis(config.produce_timeout_ms))?,
            metering: Metering::new(format!("ingest-{}", uuid::Uuid::new_v4().simple())),
        });
        tasks.spawn(Arc::clone(&ingest).refresh_policy(refresh, shutdown.clone()));
        tasks.spawn(Arc::clone(ingest.auth.failures()).run(
            catalog_for_audit,
            FAILED_AUTH_FLUSH_INTERVAL,
            shutdown.clone(),
        ));
        tasks.spawn(Arc::clone(&ingest).send_metering(shutdown));
        Ok(ingest)
    }

    async fn refresh_policy(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut ticks = Ticks::new(every, &shutdown);
        while ticks.next().await {
            if let Err(error) = self.policy.refresh(Utc::now()).await {
                PolicyNotRefreshed { error: &error }.emit();
            }
            self.policy.prune_buckets(std::time::Instant::now());
        }
        if let Err(error) = self.policy.refresh(Utc::now()).await {
            QuotaUsageNotRecorded { error: &error }.emit();
        }
    }

    async fn send_metering(self: Arc<Self>, shutdown: CancellationToken) {
        self.metering.run(&self.producer, shutdown).await;
    }
}
