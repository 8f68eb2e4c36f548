//! The events `tally bench query` queries: loaded through the bench's ingest node in batches
//! of up to [`BATCH`] events of one tenant, by `--concurrency` senders on keep-alive
//! connections; then the wait until both meters of every tenant counted exactly what ingest
//! accepted for it.
//!
//! Half of a tenant's events fall in the last hour (what `lastHour` shows), the others over
//! the last day (what the `usage` query reads), spread over three regions and ten subjects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::Full;
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use serde_json::json;
use tally_meter::analytics::Analytics;
use tally_meter::usage::{self, Tz, UsageQuery, floor_minute};
use tokio::task::JoinSet;

use super::{EVENT_TYPE, QueryTenant};
use crate::failures::Failures;
use crate::format::grouped;
use crate::http::{self, BATCH_CONTENT_TYPE, Connection};
use crate::node::NodeLimits;
use crate::progress;

/// Most events per request.
const BATCH: usize = 100;
/// The regions events are spread over.
const REGIONS: [&str; 3] = ["eu", "us", "ap"];
/// How long after the load the meters may take to count every accepted event.
const COUNT_TIMEOUT: Duration = Duration::from_secs(180);
/// Pause between two rounds of counting.
const COUNT_POLL: Duration = Duration::from_millis(500);
/// Tenants counted at once.
const COUNT_CONCURRENCY: usize = 8;

/// What to load.
pub(super) struct LoadPlan {
    /// The tenants, whose ingest keys send their events.
    pub(super) tenants: Arc<Vec<QueryTenant>>,
    /// Events per tenant.
    pub(super) events_per_tenant: usize,
    /// Start of every event id, unique to this bench.
    pub(super) id_prefix: String,
}

impl LoadPlan {
    /// Requests per tenant.
    fn batches_per_tenant(&self) -> usize {
        self.events_per_tenant.div_ceil(BATCH)
    }

    /// What the ingest node must allow.
    pub(super) fn limits(&self) -> NodeLimits {
        NodeLimits {
            batch_events: BATCH,
            event_bytes: 1024,
            body_bytes: BATCH * 1024,
        }
    }

    /// The body of batch `batch` of tenant `tenant`, its events stamped relative to `now`.
    fn body(&self, tenant: usize, batch: usize, now: DateTime<Utc>) -> Bytes {
        let first = batch * BATCH;
        let last = (first + BATCH).min(self.events_per_tenant);
        let events: Vec<serde_json::Value> = (first..last)
            .map(|index| {
                let spread = mix(tenant as u64, index as u64);
                // Even events in the last 55 minutes, odd ones over the last day.
                let seconds_ago = if index % 2 == 0 {
                    spread % 3_300
                } else {
                    spread % 86_000
                };
                let time = now - chrono::Duration::seconds(seconds_ago as i64);
                json!({
                    "specversion": "1.0",
                    "id": format!("{}-{tenant}-{index}", self.id_prefix),
                    "source": "bench/query",
                    "type": EVENT_TYPE,
                    "subject": format!("device-{}", index % 10),
                    "time": time.to_rfc3339_opts(SecondsFormat::Millis, true),
                    "data": { "value": index % 10 + 1, "region": REGIONS[index % REGIONS.len()] },
                })
            })
            .collect();
        Bytes::from(serde_json::to_vec(&events).unwrap_or_default())
    }
}

/// A well-spread number from two (SplitMix64's finalizer).
fn mix(first: u64, second: u64) -> u64 {
    let mut value = first
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(second);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

/// What loading the events measured.
pub(super) struct Loaded {
    /// Events sent.
    pub(super) events_sent: u64,
    /// Events ingest accepted.
    pub(super) accepted: u64,
    /// Failed requests.
    pub(super) failures: Failures,
    /// From the first request to the last answer.
    pub(super) load_time: Duration,
    /// Events both meters counted, at the last count (the COUNT meters').
    pub(super) counted: u64,
    /// Tenants whose meters had not counted every accepted event at the last count.
    pub(super) tenants_behind: usize,
    /// How long after the load every meter held every accepted event, if they did within
    /// [`COUNT_TIMEOUT`].
    pub(super) counted_after: Option<Duration>,
}

/// Sends every tenant's events, then waits until the meters counted them.
pub(super) async fn load(
    plan: Arc<LoadPlan>,
    address: SocketAddr,
    concurrency: usize,
    analytics: &Analytics,
) -> anyhow::Result<Loaded> {
    let tenants = plan.tenants.len();
    let total = tenants * plan.events_per_tenant;
    progress(&format!(
        "loading {} events ({} per tenant) from {concurrency} senders",
        grouped(total as u64),
        grouped(plan.events_per_tenant as u64)
    ));
    let accepted: Arc<Vec<AtomicU64>> = Arc::new((0..tenants).map(|_| AtomicU64::new(0)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let senders: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(send_batches(
                Arc::clone(&plan),
                address,
                Arc::clone(&next),
                Arc::clone(&accepted),
            ))
        })
        .collect();
    let mut failures = Failures::default();
    for sender in senders {
        failures.merge(sender.await.context("a bench sender panicked")??);
    }
    let load_time = began.elapsed();
    let accepted: Vec<u64> = accepted
        .iter()
        .map(|count| count.load(Ordering::Relaxed))
        .collect();
    let accepted_total = accepted.iter().sum();
    progress(&format!(
        "ingest accepted {} events in {:.2} s; waiting for the meters to count them",
        grouped(accepted_total),
        load_time.as_secs_f64()
    ));
    let loaded_at = Instant::now();
    let (counted, tenants_behind) = wait_counted(&plan.tenants, &accepted, analytics).await;
    let counted_after = (tenants_behind == 0).then(|| loaded_at.elapsed());
    if let Some(after) = counted_after {
        progress(&format!(
            "the meters counted every event {:.2} s after the load",
            after.as_secs_f64()
        ));
    }
    Ok(Loaded {
        events_sent: total as u64,
        accepted: accepted_total,
        failures,
        load_time,
        counted,
        tenants_behind,
        counted_after,
    })
}

/// One sender: takes the next batch until none is left, and sends it on its own keep-alive
/// connection.
async fn send_batches(
    plan: Arc<LoadPlan>,
    address: SocketAddr,
    next: Arc<AtomicUsize>,
    accepted: Arc<Vec<AtomicU64>>,
) -> anyhow::Result<Failures> {
    let mut failures = Failures::default();
    let batches = plan.batches_per_tenant();
    let jobs = plan.tenants.len() * batches;
    let host = HeaderValue::from_str(&address.to_string())?;
    let content_type = HeaderValue::from_static(BATCH_CONTENT_TYPE);
    let mut connection: Option<Connection> = None;
    loop {
        let job = next.fetch_add(1, Ordering::Relaxed);
        if job >= jobs {
            break;
        }
        let (tenant, batch) = (job / batches, job % batches);
        let Some(sender) = http::connection_or_pause(&mut connection, address, &mut failures).await
        else {
            continue;
        };
        let request = Request::post("/v1/events")
            .header(HOST, host.clone())
            .header(CONTENT_TYPE, content_type.clone())
            .header(AUTHORIZATION, plan.tenants[tenant].ingest.clone())
            .body(Full::new(plan.body(tenant, batch, Utc::now())))
            .context("cannot build a bench request")?;
        let outcome = http::send(sender, request).await;
        if let Some(count) = http::accepted_or_record(outcome, &mut connection, &mut failures) {
            accepted[tenant].fetch_add(count, Ordering::Relaxed);
        }
    }
    Ok(failures)
}

/// Counts every tenant's events in both its meters until they hold what ingest accepted for
/// it, or [`COUNT_TIMEOUT`] passed; returns the events the COUNT meters counted and how many
/// tenants were still behind. The tenant loaded last is waited for first, so the sweep over
/// every tenant starts once the aggregator has nearly caught up.
async fn wait_counted(
    tenants: &Arc<Vec<QueryTenant>>,
    accepted: &[u64],
    analytics: &Analytics,
) -> (u64, usize) {
    let deadline = Instant::now() + COUNT_TIMEOUT;
    let accepted = Arc::new(accepted.to_vec());
    let mut counted = vec![0u64; tenants.len()];
    let mut pending: Vec<usize> = (0..tenants.len()).collect();
    if let Some(&last) = pending.last() {
        loop {
            match count_tenant(analytics, &tenants[last]).await {
                Ok(count) if count >= accepted[last] => break,
                Ok(_) => {}
                Err(error) => progress(&format!("cannot count the loaded events: {error}")),
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(COUNT_POLL).await;
        }
    }
    loop {
        let mut tasks = JoinSet::new();
        let mut behind = Vec::new();
        for &tenant in &pending {
            if tasks.len() >= COUNT_CONCURRENCY
                && let Some(Ok((index, count))) = tasks.join_next().await
            {
                settle(index, count, &accepted, &mut counted, &mut behind);
            }
            let (tenants, analytics) = (Arc::clone(tenants), analytics.clone());
            tasks.spawn(async move { (tenant, count_tenant(&analytics, &tenants[tenant]).await) });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Ok((index, count)) = joined {
                settle(index, count, &accepted, &mut counted, &mut behind);
            }
        }
        pending = behind;
        if pending.is_empty() || Instant::now() >= deadline {
            break;
        }
        progress(&format!(
            "{} tenants' meters have not counted every event yet",
            grouped(pending.len() as u64)
        ));
        tokio::time::sleep(COUNT_POLL).await;
    }
    (counted.iter().sum(), pending.len())
}

/// Keeps a tenant's count; the tenant is still behind if it is short or could not be counted.
fn settle(
    tenant: usize,
    count: tally_meter::Result<u64>,
    accepted: &[u64],
    counted: &mut [u64],
    behind: &mut Vec<usize>,
) {
    match count {
        Ok(count) => {
            counted[tenant] = count;
            if count < accepted[tenant] {
                behind.push(tenant);
            }
        }
        Err(error) => {
            progress(&format!("cannot count the loaded events: {error}"));
            behind.push(tenant);
        }
    }
}

/// The events a tenant's meters both counted over the last eight days: the smaller of the
/// two meters' counts.
async fn count_tenant(analytics: &Analytics, tenant: &QueryTenant) -> tally_meter::Result<u64> {
    let now = Utc::now();
    let query = UsageQuery {
        from: floor_minute(now - chrono::Duration::days(8)),
        to: floor_minute(now) + chrono::Duration::minutes(2),
        window: usage::Window::Day,
        time_zone: Tz::UTC,
        group_by: Vec::new(),
        subject: None,
    };
    let mut least = u64::MAX;
    for meter in &tenant.meters {
        let points = analytics.usage(meter, &query).await?;
        least = least.min(points.iter().map(|point| point.events).sum());
    }
    Ok(least)
}
