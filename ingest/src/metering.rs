//! Platform metering: what this node accepted and rejected, or how many API queries it answered,
//! per tenant and second, sent to the metering topic about once a second. A second is sent only once it is over, so each
//! `(tenant, second, node)` record is final; records whose send fails are resent unchanged, so
//! a reader can deduplicate on that triple. What is left is sent at shutdown.
//!
//! The same records carry the node's [`Observation`]s for the platform's own SLOs, under
//! [`TenantId::PLATFORM`]: how ingest and the API answered (route, status and, for the API, the
//! latency rounded up to a bucket of [`LATENCY_BUCKETS_MS`]), and the freshness canary's
//! delays. Kept and resent like the counts, they survive a broker outage: the 503s that ingest
//! answers while the brokers are away reach the SLO once they are back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{self, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use parking_lot::Mutex;
use serde_json::json;
use tally_meter::bus::KafkaConfig;
use tally_meter::event::{MeteringRecord, Observation, WIRE_VERSION};
use tally_meter::ids::TenantId;
use tally_meter::sli::API_ANSWER;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::producer::{OutRecord, Producer};
use crate::telemetry::MeteringNotSent;

/// How long shutdown waits for queued Kafka records.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// The upper bounds of the API latency buckets, in milliseconds: an answer is observed with
/// the smallest bound at or above its latency (so an SLO threshold on a bound is exact, and
/// between bounds errs towards slow), or in whole seconds past the last.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];

#[derive(Debug, Default, Clone)]
struct Counts {
    accepted_events: u64,
    rejected_events: u64,
    accepted_bytes: u64,
    api_queries: u64,
    observations: Vec<Observation>,
}

#[derive(Default)]
struct State {
    open: HashMap<(TenantId, i64), Counts>,
    unsent: Vec<MeteringRecord>,
}

/// Per-tenant, per-second counters of this node.
pub struct Metering {
    node: String,
    state: Mutex<State>,
}

impl Metering {
    /// Creates empty counters for the node named `node`.
    pub fn new(node: String) -> Self {
        Self {
            node,
            state: Mutex::new(State::default()),
        }
    }

    /// Counts one request's outcome in the current second.
    pub fn record(
        &self,
        tenant: TenantId,
        accepted: usize,
        rejected: usize,
        accepted_bytes: usize,
    ) {
        let mut state = self.state.lock();
        let second = Utc::now().timestamp();
        let entry = state.open.entry((tenant, second)).or_default();
        entry.accepted_events += accepted as u64;
        entry.rejected_events += rejected as u64;
        entry.accepted_bytes += accepted_bytes as u64;
    }

    /// Counts one outcome of the node's own work in the current second, described as the
    /// data of an event of `event_type` (one of [`tally_meter::sli::OBSERVED_TYPES`]).
    pub fn observe(&self, event_type: &str, data: serde_json::Value) {
        let second = Utc::now().timestamp();
        let mut state = self.state.lock();
        let observations = &mut state
            .open
            .entry((TenantId::PLATFORM, second))
            .or_default()
            .observations;
        match observations
            .iter_mut()
            .find(|seen| seen.event_type == event_type && seen.data == data)
        {
            Some(seen) => seen.count += 1,
            None => observations.push(Observation {
                event_type: event_type.to_owned(),
                data,
                count: 1,
            }),
        }
    }

    /// Counts one API query in the current second.
    pub fn record_query(&self, tenant: TenantId) {
        let second = Utc::now().timestamp();
        self.state
            .lock()
            .open
            .entry((tenant, second))
            .or_default()
            .api_queries += 1;
    }

    /// Sends every finished second about once a second until `shutdown` fires, then
    /// everything left, and flushes the producer.
    pub async fn run(&self, producer: &Producer, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = ticks.tick() => self.send(producer, false).await,
                () = shutdown.cancelled() => break,
            }
        }
        self.send(producer, true).await;
        producer.flush(SHUTDOWN_FLUSH_TIMEOUT);
    }

    /// Sends every finished second (every second, when `everything`) and earlier failures.
    pub async fn send(&self, producer: &Producer, everything: bool) {
        let records = {
            let mut state = self.state.lock();
            let current = Utc::now().timestamp();
            let due: Vec<(TenantId, i64)> = state
                .open
                .keys()
                .filter(|(_, second)| everything || *second < current)
                .copied()
                .collect();
            for key in due {
                if let Some(counts) = state.open.remove(&key) {
                    let record = self.to_record(key, counts);
                    state.unsent.push(record);
                }
            }
            std::mem::take(&mut state.unsent)
        };
        if records.is_empty() {
            return;
        }
        let out = records.iter().map(OutRecord::metering).collect();
        if let Err(error) = producer.send_all(out).await {
            MeteringNotSent {
                records: records.len(),
                error: &error,
            }
            .emit();
            self.state.lock().unsent.extend(records);
        }
    }

    fn to_record(&self, (tenant_id, second): (TenantId, i64), counts: Counts) -> MeteringRecord {
        MeteringRecord {
            v: WIRE_VERSION,
            tenant_id,
            second,
            node: self.node.clone(),
            accepted_events: counts.accepted_events,
            rejected_events: counts.rejected_events,
            accepted_bytes: counts.accepted_bytes,
            api_queries: counts.api_queries,
            observations: counts.observations,
        }
    }
}

/// The API's platform metering: the queries each tenant's keys made, sent on the metering topic
/// like ingest's counts, so that the aggregator sums them into the tenant's platform usage.
pub struct QueryMetering {
    metering: Metering,
    producer: Producer,
}

impl QueryMetering {
    /// Creates the producer and starts sending on `tasks`; the last records leave when
    /// `shutdown` fires.
    pub fn start(
        kafka: &KafkaConfig,
        produce_timeout: Duration,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> tally_meter::Result<Arc<Self>> {
        let metering = Arc::new(Self {
            metering: Metering::new(format!("api-{}", uuid::Uuid::new_v4().simple())),
            producer: Producer::new(kafka, produce_timeout)?,
        });
        let running = Arc::clone(&metering);
        tasks.spawn(async move {
            running.metering.run(&running.producer, shutdown).await;
        });
        Ok(metering)
    }

    /// Counts one query answered for `tenant`.
    pub fn record(&self, tenant: TenantId) {
        self.metering.record_query(tenant);
    }

    /// Observes one API answer for the platform's API latency SLO: its route, status and
    /// latency bucket ([`LATENCY_BUCKETS_MS`]).
    pub fn observe_answer(&self, route: &str, status: StatusCode, elapsed: Duration) {
        self.metering.observe(
            API_ANSWER,
            json!({
                "route": route,
                "status": status.as_u16(),
                "latency_ms": latency_bucket_ms(elapsed),
            }),
        );
    }
}

/// Observes every answer of the router it wraps with [`QueryMetering::observe_answer`].
pub async fn observe_api_answers(
    extract::State(metering): extract::State<Arc<QueryMetering>>,
    request: Request,
    next: Next,
) -> Response {
    let route = matched_route(&request);
    let started = Instant::now();
    let response = next.run(request).await;
    metering.observe_answer(&route, response.status(), started.elapsed());
    response
}

/// The route pattern a request matched, or `unmatched`.
pub(crate) fn matched_route(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned())
}

/// The smallest bound of [`LATENCY_BUCKETS_MS`] at or above `elapsed`, or past the last, the
/// whole seconds at or above it.
fn latency_bucket_ms(elapsed: Duration) -> u64 {
    let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    LATENCY_BUCKETS_MS
        .into_iter()
        .find(|bound| millis <= *bound)
        .unwrap_or_else(|| millis.div_ceil(1_000).saturating_mul(1_000))
}
