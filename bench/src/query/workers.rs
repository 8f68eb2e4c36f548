//! The query phases of `tally bench query`: `--concurrency` workers, each on its own
//! keep-alive connection to the API node, send GraphQL queries back to back for random
//! tenants (with their read keys) and check every answer; only queries started and answered
//! in the measured window count in the figures, failures count over the whole phase.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, StatusCode};
use serde_json::{Value, json};
use tally_meter::usage::floor_minute;

use super::{COUNT_METER, MAX_LATENCY, QueryTenant, REGION_GROUP, SUM_METER};
use crate::cpu::{Clock, Snapshot};
use crate::failures::Failures;
use crate::histogram::DurationHistogram;
use crate::http::{self, Connection, excerpt};
use crate::load::Window;

/// Where the queries go, and for whom.
pub(super) struct QueryPlan {
    /// The API node's address.
    pub(super) address: SocketAddr,
    /// The tenants, whose read keys the queries use.
    pub(super) tenants: Arc<Vec<QueryTenant>>,
}

/// A phase of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// `{ me { tenantId } }` only: authentication and a catalog read.
    Baseline,
    /// `lastHour` and `usage`, alternately.
    Queries,
}

impl Phase {
    /// Its name in progress messages.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline (me)",
            Self::Queries => "queries (lastHour, usage)",
        }
    }
}

/// A kind of query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Me,
    LastHour,
    Usage,
}

impl Kind {
    /// The query's field, which names it in failures.
    fn field(self) -> &'static str {
        match self {
            Self::Me => "me",
            Self::LastHour => "lastHour",
            Self::Usage => "usage",
        }
    }
}

/// The latency of the queries of one type answered in the measured window, and their number.
#[derive(Debug, Clone)]
pub(super) struct Latency {
    histogram: DurationHistogram,
    count: u64,
}

impl Latency {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            histogram: DurationHistogram::up_to(MAX_LATENCY)?,
            count: 0,
        })
    }

    fn record(&mut self, duration: Duration) {
        self.histogram.record(duration);
        self.count += 1;
    }

    /// Adds what `other` holds.
    pub(super) fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.histogram
            .merge(&other.histogram)
            .context("cannot merge histograms")?;
        self.count += other.count;
        Ok(())
    }

    /// Queries answered.
    pub(super) fn count(&self) -> u64 {
        self.count
    }

    /// A quantile, in milliseconds; `None` when nothing was answered.
    pub(super) fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        self.histogram.quantile_ms(quantile)
    }
}

/// What the workers of a phase measured.
pub(super) struct PhaseMeasurements {
    /// Length of the measured window, in seconds.
    pub(super) seconds: f64,
    /// The `me` queries answered in the window.
    pub(super) me: Latency,
    /// The `lastHour` queries answered in the window.
    pub(super) last_hour: Latency,
    /// The `usage` queries answered in the window.
    pub(super) usage: Latency,
    /// Failed queries of the whole phase, by kind.
    pub(super) failures: Failures,
    /// CPU time the API node used in the window, in seconds.
    pub(super) api_cpu_secs: f64,
    /// CPU time the bench itself used in the window, in seconds.
    pub(super) client_cpu_secs: f64,
    /// Busy time of all the machine's cores in the window, in seconds.
    pub(super) machine_busy_secs: f64,
    /// Time between the two CPU snapshots, in seconds.
    pub(super) cpu_window_secs: f64,
}

/// Runs one phase: `concurrency` workers for `warmup` plus `measured`, with the API node's
/// CPU time read at both ends of the measured window.
pub(super) async fn run_phase(
    plan: Arc<QueryPlan>,
    phase: Phase,
    concurrency: usize,
    (warmup, measured): (Duration, Duration),
    clock: Clock,
    api_pid: u32,
) -> anyhow::Result<PhaseMeasurements> {
    let began = Instant::now();
    let window = Window {
        start: began + warmup,
        end: began + warmup + measured,
    };
    let workers: Vec<_> = (0..concurrency)
        .map(|index| tokio::spawn(work(Arc::clone(&plan), phase, index, window)))
        .collect();
    tokio::time::sleep_until(window.start.into()).await;
    let before = Snapshot::take(clock, api_pid).context("cannot read the API node's CPU time")?;
    tokio::time::sleep_until(window.end.into()).await;
    let after = Snapshot::take(clock, api_pid).context("cannot read the API node's CPU time")?;
    let mut counts = Counts::new()?;
    for worker in workers {
        counts.merge(worker.await.context("a query worker panicked")??)?;
    }
    let seconds = |start: Duration, end: Duration| end.saturating_sub(start).as_secs_f64();
    Ok(PhaseMeasurements {
        seconds: measured.as_secs_f64(),
        me: counts.me,
        last_hour: counts.last_hour,
        usage: counts.usage,
        failures: counts.failures,
        api_cpu_secs: seconds(before.process, after.process),
        client_cpu_secs: seconds(before.own, after.own),
        machine_busy_secs: seconds(before.machine_busy, after.machine_busy),
        cpu_window_secs: after.at.duration_since(before.at).as_secs_f64(),
    })
}

/// What one worker counted.
struct Counts {
    me: Latency,
    last_hour: Latency,
    usage: Latency,
    failures: Failures,
}

impl Counts {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            me: Latency::new()?,
            last_hour: Latency::new()?,
            usage: Latency::new()?,
            failures: Failures::default(),
        })
    }

    fn of(&mut self, kind: Kind) -> &mut Latency {
        match kind {
            Kind::Me => &mut self.me,
            Kind::LastHour => &mut self.last_hour,
            Kind::Usage => &mut self.usage,
        }
    }

    fn merge(&mut self, other: Self) -> anyhow::Result<()> {
        self.me.merge(&other.me)?;
        self.last_hour.merge(&other.last_hour)?;
        self.usage.merge(&other.usage)?;
        self.failures.merge(other.failures);
        Ok(())
    }
}

/// One worker: sends queries back to back until the window ends.
async fn work(
    plan: Arc<QueryPlan>,
    phase: Phase,
    index: usize,
    window: Window,
) -> anyhow::Result<Counts> {
    let mut counts = Counts::new()?;
    let mut random = Random::new(index as u64);
    let host = HeaderValue::from_str(&plan.address.to_string())?;
    let content_type = HeaderValue::from_static("application/json");
    let mut connection: Option<Connection> = None;
    for number in index.. {
        if Instant::now() >= window.end {
            break;
        }
        let kind = match phase {
            Phase::Baseline => Kind::Me,
            Phase::Queries if number % 2 == 0 => Kind::LastHour,
            Phase::Queries => Kind::Usage,
        };
        let tenant = &plan.tenants[random.below(plan.tenants.len())];
        let meter = if random.next_u64() & 1 == 0 {
            COUNT_METER
        } else {
            SUM_METER
        };
        let Some(sender) =
            http::connection_or_pause(&mut connection, plan.address, &mut counts.failures).await
        else {
            continue;
        };
        let request = Request::post("/graphql")
            .header(HOST, host.clone())
            .header(CONTENT_TYPE, content_type.clone())
            .header(AUTHORIZATION, tenant.read.clone())
            .body(Full::new(query_body(kind, meter)))
            .context("cannot build a query")?;
        let started = Instant::now();
        let outcome = http::send(sender, request).await;
        let finished = Instant::now();
        match check(kind, outcome) {
            Ok(()) => {
                if window.start <= started && finished < window.end {
                    counts.of(kind).record(finished.duration_since(started));
                }
            }
            Err(failure) => {
                if failure.connection_lost {
                    connection = None;
                }
                counts.failures.record(
                    &format!("{}: {}", kind.field(), failure.kind),
                    failure.example,
                );
            }
        }
    }
    Ok(counts)
}

/// The GraphQL request of a query of `kind` on `meter`.
fn query_body(kind: Kind, meter: &str) -> Bytes {
    let body = match kind {
        Kind::Me => json!({ "query": "{ me { tenantId } }" }),
        Kind::LastHour => json!({
            "query": "query($meter: String!) { lastHour(meter: $meter) { windowStart events value } }",
            "variables": { "meter": meter },
        }),
        Kind::Usage => {
            // Usage ranges are whole minutes: the day up to the end of the current one.
            let to = floor_minute(Utc::now()) + chrono::Duration::minutes(1);
            let from = to - chrono::Duration::days(1);
            json!({
                "query": format!(
                    "query($meter: String!, $from: DateTime!, $to: DateTime!) {{ \
                     usage(meter: $meter, from: $from, to: $to, window: HOUR, \
                     groupBy: [\"{REGION_GROUP}\"]) {{ windowStart groups {{ name value }} events value }} }}"
                ),
                "variables": { "meter": meter, "from": from, "to": to },
            })
        }
    };
    Bytes::from(body.to_string())
}

/// Why a query failed.
struct QueryFailure {
    /// What went wrong, to count failures by.
    kind: String,
    /// The start of the answer or error.
    example: String,
    /// Whether the connection is gone.
    connection_lost: bool,
}

/// Checks an answer: HTTP 200, no `errors`, and the field's data of the expected shape.
fn check(
    kind: Kind,
    outcome: Result<(StatusCode, Bytes), hyper::Error>,
) -> Result<(), QueryFailure> {
    let failure = |what: &str, example: String| QueryFailure {
        kind: what.to_owned(),
        example,
        connection_lost: false,
    };
    let (status, answer) = match outcome {
        Ok(answered) => answered,
        Err(error) => {
            return Err(QueryFailure {
                kind: "connection error".to_owned(),
                example: error.to_string(),
                connection_lost: true,
            });
        }
    };
    if status != StatusCode::OK {
        return Err(failure(&format!("HTTP {status}"), excerpt(&answer)));
    }
    let Ok(document) = serde_json::from_slice::<Value>(&answer) else {
        return Err(failure("an answer that is not JSON", excerpt(&answer)));
    };
    if let Some(errors) = document.get("errors").and_then(Value::as_array)
        && let Some(first) = errors.first()
    {
        let code = first
            .pointer("/extensions/code")
            .and_then(Value::as_str)
            .unwrap_or("no code");
        return Err(failure(
            &format!("GraphQL error {code}"),
            first
                .get("message")
                .map(Value::to_string)
                .unwrap_or_default(),
        ));
    }
    let data = document.pointer(&format!("/data/{}", kind.field()));
    let shaped = match kind {
        Kind::Me => data
            .and_then(|me| me.get("tenantId"))
            .is_some_and(Value::is_string),
        Kind::LastHour => data
            .and_then(Value::as_array)
            .is_some_and(|points| points.len() == 60),
        Kind::Usage => data.is_some_and(Value::is_array),
    };
    if !shaped {
        return Err(failure("unexpected data", excerpt(&answer)));
    }
    Ok(())
}

/// A small xorshift generator: which tenant and meter each query is for.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Self {
        let nanos = u64::from(Utc::now().timestamp_subsec_nanos());
        Self((seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ nanos) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut value = self.0;
        value ^= value << 13;
        value ^= value >> 7;
        value ^= value << 17;
        self.0 = value;
        value
    }

    /// A number below `bound` (which must not be 0).
    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}
