//! The steady load of `tally bench e2e`, and the check that the meters counted it.
//!
//! A ticker hands request slots to the senders at exactly the target rate (open loop: a slow
//! answer holds up only its own sender, and the schedule slips only when every sender is
//! busy, which the send lag shows). Each sender keeps its own keep-alive connection to the
//! ingest node. After the load, the meters are counted until they hold every event ingest
//! accepted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use tally_meter::analytics::Analytics;
use tally_meter::meter::Meter;
use tally_meter::usage::{self, Tz, UsageQuery, floor_minute};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use super::MAX_LATENCY;
use crate::body::{self, BatchTemplate};
use crate::histogram::DurationHistogram;
use crate::http::{self, BATCH_CONTENT_TYPE, Connection};
use crate::load::{RequestCounts, Window};
use crate::progress;

/// Size of one serialized load event, in bytes.
pub(super) const EVENT_BYTES: usize = 300;
/// How long after the load the meters may take to count every acknowledged event.
pub(super) const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);
/// Time between two counts of the load's events while waiting for the aggregator to catch up.
const CATCH_UP_POLL: Duration = Duration::from_millis(200);

/// What the load sends, and where.
pub(super) struct LoadPlan {
    /// The ingest node's address.
    pub(super) address: SocketAddr,
    /// `Authorization` values of the load's tenants, rotated over slot by slot.
    pub(super) authorizations: Vec<HeaderValue>,
    /// Events per request.
    pub(super) batch: usize,
    /// Events per second over all tenants.
    pub(super) rate: u64,
    /// Start of every load event id, unique to this bench.
    pub(super) id_prefix: String,
}

/// One request to send: when it is due, and its number in the schedule.
struct Slot {
    /// When the schedule wants it sent.
    due: Instant,
    /// Its place in the schedule, which picks the tenant.
    number: u64,
}

/// The load's schedule and its senders, running.
pub(super) struct RunningLoad {
    /// The ticker handing out slots.
    schedule: JoinHandle<()>,
    /// The senders, each counting what it sent.
    senders: Vec<JoinHandle<anyhow::Result<SenderCounts>>>,
}

impl RunningLoad {
    /// Starts the schedule at `began` and `concurrency` senders that take its slots; the
    /// schedule ends with `window`.
    pub(super) fn start(
        plan: Arc<LoadPlan>,
        concurrency: usize,
        began: Instant,
        window: Window,
    ) -> Self {
        let (slots, queue) = mpsc::channel(concurrency * 2);
        let queue = Arc::new(Mutex::new(queue));
        let schedule = tokio::spawn(schedule(Arc::clone(&plan), began, window.end, slots));
        let senders = (0..concurrency)
            .map(|index| {
                tokio::spawn(send_slots(
                    Arc::clone(&plan),
                    Arc::clone(&queue),
                    window,
                    index,
                ))
            })
            .collect();
        Self { schedule, senders }
    }

    /// Waits for the schedule to end and every sender to send its last slot; returns what
    /// they counted.
    pub(super) async fn finish(self) -> anyhow::Result<SenderCounts> {
        self.schedule.await.context("the load schedule panicked")?;
        let mut counts = SenderCounts::new()?;
        for sender in self.senders {
            counts.merge(sender.await.context("a bench sender panicked")??)?;
        }
        Ok(counts)
    }
}

/// Hands out one slot every `batch / rate` seconds from `began` until `end`. When every sender
/// is busy the queue fills and the ticker waits, then hands out the late slots at once.
async fn schedule(plan: Arc<LoadPlan>, began: Instant, end: Instant, slots: mpsc::Sender<Slot>) {
    let seconds_per_request = plan.batch as f64 / plan.rate as f64;
    for number in 0u64.. {
        let due = began + Duration::from_secs_f64(number as f64 * seconds_per_request);
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        if slots.send(Slot { due, number }).await.is_err() {
            break;
        }
    }
}

/// What the load's senders counted.
pub(super) struct SenderCounts {
    /// Requests started in the window.
    pub(super) requests_sent: u64,
    /// Events of those requests.
    pub(super) events_sent: u64,
    /// The 2xx requests completed in the window (the events they accepted and rejected, and
    /// their latency), and the failed requests of the whole run.
    pub(super) acknowledged: RequestCounts,
    /// Events accepted over the whole run, warmup included: what the meters must count.
    pub(super) accepted_total: u64,
    /// How late requests due in the window started.
    pub(super) lag: DurationHistogram,
}

impl SenderCounts {
    /// Nothing counted yet.
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            requests_sent: 0,
            events_sent: 0,
            acknowledged: RequestCounts::with_latency_up_to(MAX_LATENCY)?,
            accepted_total: 0,
            lag: DurationHistogram::up_to(MAX_LATENCY)?,
        })
    }

    /// Adds what another sender counted.
    fn merge(&mut self, other: Self) -> anyhow::Result<()> {
        self.requests_sent += other.requests_sent;
        self.events_sent += other.events_sent;
        self.acknowledged.merge(other.acknowledged)?;
        self.accepted_total += other.accepted_total;
        self.lag
            .merge(&other.lag)
            .context("cannot merge lag histograms")?;
        Ok(())
    }

    /// Failed requests of the whole run.
    pub(super) fn failed_requests(&self) -> u64 {
        self.acknowledged.failed_requests()
    }
}

/// One sender: takes slots off the shared queue until the schedule ends, and sends each on
/// its own keep-alive connection.
async fn send_slots(
    plan: Arc<LoadPlan>,
    queue: Arc<Mutex<mpsc::Receiver<Slot>>>,
    window: Window,
    index: usize,
) -> anyhow::Result<SenderCounts> {
    let mut counts = SenderCounts::new()?;
    let mut template = BatchTemplate::new(&plan.id_prefix, index, plan.batch, EVENT_BYTES);
    let host = HeaderValue::from_str(&plan.address.to_string())?;
    let content_type = HeaderValue::from_static(BATCH_CONTENT_TYPE);
    let mut connection: Option<Connection> = None;
    loop {
        let Some(slot) = queue.lock().await.recv().await else {
            break;
        };
        let Some(sender) = http::connection_or_pause(
            &mut connection,
            plan.address,
            &mut counts.acknowledged.failures,
        )
        .await
        else {
            continue;
        };
        let authorization = &plan.authorizations[slot.number as usize % plan.authorizations.len()];
        let request = Request::post("/v1/events")
            .header(HOST, host.clone())
            .header(CONTENT_TYPE, content_type.clone())
            .header(AUTHORIZATION, authorization.clone())
            .body(Full::new(template.next_body(&body::now())))
            .context("cannot build a bench request")?;

        let started = Instant::now();
        if in_window(window, slot.due) {
            counts
                .lag
                .record(started.saturating_duration_since(slot.due));
        }
        if in_window(window, started) {
            counts.requests_sent += 1;
            counts.events_sent += plan.batch as u64;
        }
        let outcome = http::send(sender, request).await;
        let finished = Instant::now();
        let Some(accepted) =
            http::accepted_or_record(outcome, &mut connection, &mut counts.acknowledged.failures)
        else {
            continue;
        };
        counts.accepted_total += accepted;
        if in_window(window, finished) {
            counts
                .acknowledged
                .record(plan.batch, accepted, finished.duration_since(started));
        }
    }
    Ok(counts)
}

/// Whether `at` falls in the measured window, its end left out.
fn in_window(window: Window, at: Instant) -> bool {
    window.start <= at && at < window.end
}

/// How the meters caught up with the load.
pub(super) struct CatchUp {
    /// Events they counted at the last count, if any count succeeded.
    pub(super) counted: Option<u64>,
    /// How long after the load they held every accepted event.
    pub(super) after: Option<Duration>,
}

/// Counts the load's events in the meters until they hold every accepted event; says how long
/// after the load that took, or `None` if they did not within [`CATCH_UP_TIMEOUT`].
pub(super) async fn wait_caught_up(
    analytics: &Analytics,
    meters: &[Meter],
    since: DateTime<Utc>,
    accepted: u64,
    load_done: Instant,
) -> CatchUp {
    let mut counted = None;
    loop {
        match count_events(analytics, meters, since).await {
            Ok(count) => counted = Some(count),
            Err(error) => progress(&format!("cannot count the load's events: {error}")),
        }
        let now = Instant::now();
        if counted.is_some_and(|count| count >= accepted) {
            return CatchUp {
                counted,
                after: Some(now.duration_since(load_done)),
            };
        }
        if now >= load_done + CATCH_UP_TIMEOUT {
            return CatchUp {
                counted,
                after: None,
            };
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
}

/// The load's events the meters have counted since `since`.
async fn count_events(
    analytics: &Analytics,
    meters: &[Meter],
    since: DateTime<Utc>,
) -> tally_meter::Result<u64> {
    let query = UsageQuery {
        from: floor_minute(since),
        to: floor_minute(Utc::now()) + chrono::Duration::minutes(2),
        window: usage::Window::Hour,
        time_zone: Tz::UTC,
        group_by: Vec::new(),
        subject: None,
    };
    let mut total = 0;
    for meter in meters {
        let points = analytics.usage(meter, &query).await?;
        total += points.iter().map(|point| point.events).sum::<u64>();
    }
    Ok(total)
}
