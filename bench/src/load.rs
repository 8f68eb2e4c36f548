//! The load of one phase: `concurrency` senders, each with its own keep-alive HTTP/1.1
//! connection (hyper, no pool), posting batches back to back from the start of the warmup to
//! the end of the measured window. Only requests that complete inside the window count
//! towards throughput and latency; failures count whenever they happen.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};

use crate::body::{self, BatchTemplate};
use crate::failures::Failures;
use crate::histogram::DurationHistogram;
use crate::http::{self, BATCH_CONTENT_TYPE, Connection};

/// Longest latency the histograms hold (longer ones are recorded as this).
const MAX_LATENCY: Duration = Duration::from_secs(60);

/// Where a phase sends its requests.
pub struct Target {
    /// The node's address.
    pub address: SocketAddr,
    /// The path posted to.
    pub path: &'static str,
    /// `Authorization` values rotated over request by request; none when empty.
    pub authorizations: Vec<HeaderValue>,
}

/// What a phase sends.
pub struct Shape {
    /// Senders, each with its own connection.
    pub concurrency: usize,
    /// Events per request.
    pub batch: usize,
    /// Bytes per serialized event.
    pub event_bytes: usize,
    /// Start of every event id of the phase, unique to it.
    pub id_prefix: String,
}

/// The measured part of a phase.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// End of the warmup.
    pub start: Instant,
    /// End of the phase.
    pub end: Instant,
}

/// What the senders of a phase counted: their requests, the events those accepted and
/// rejected, latency and failures.
pub struct RequestCounts {
    /// 2xx requests completed in the window.
    pub requests: u64,
    /// Events those requests accepted.
    pub events: u64,
    /// Events of those requests that the server did not accept.
    pub rejected_events: u64,
    /// Latency of those requests.
    pub latency: DurationHistogram,
    /// Failed requests of the whole phase, warmup included.
    pub failures: Failures,
}

impl RequestCounts {
    fn new() -> anyhow::Result<Self> {
        Self::with_latency_up_to(MAX_LATENCY)
    }

    /// Nothing counted yet, with a latency histogram that holds up to `max_latency`.
    pub(crate) fn with_latency_up_to(max_latency: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            requests: 0,
            events: 0,
            rejected_events: 0,
            latency: DurationHistogram::up_to(max_latency)?,
            failures: Failures::default(),
        })
    }

    /// Adds what another sender counted.
    pub(crate) fn merge(&mut self, other: Self) -> anyhow::Result<()> {
        self.requests += other.requests;
        self.events += other.events;
        self.rejected_events += other.rejected_events;
        self.latency
            .merge(&other.latency)
            .context("cannot merge latency histograms")?;
        self.failures.merge(other.failures);
        Ok(())
    }

    /// Counts a request of `batch` events answered within the window after `latency`, of
    /// which `accepted` events were accepted.
    pub(crate) fn record(&mut self, batch: usize, accepted: u64, latency: Duration) {
        self.requests += 1;
        self.events += accepted;
        self.rejected_events += (batch as u64).saturating_sub(accepted);
        self.latency.record(latency);
    }

    /// Failed requests of the phase.
    pub fn failed_requests(&self) -> u64 {
        self.failures.total()
    }
}

/// Sends load until `window` ends and returns what every sender counted.
pub async fn drive(
    target: Arc<Target>,
    shape: Arc<Shape>,
    window: Window,
) -> anyhow::Result<RequestCounts> {
    let senders: Vec<_> = (0..shape.concurrency)
        .map(|index| {
            tokio::spawn(send_until(
                Arc::clone(&target),
                Arc::clone(&shape),
                window,
                index,
            ))
        })
        .collect();
    let mut total = RequestCounts::new()?;
    for sender in senders {
        total.merge(sender.await.context("a bench sender panicked")??)?;
    }
    Ok(total)
}

async fn send_until(
    target: Arc<Target>,
    shape: Arc<Shape>,
    window: Window,
    index: usize,
) -> anyhow::Result<RequestCounts> {
    let mut counts = RequestCounts::new()?;
    let mut template = BatchTemplate::new(&shape.id_prefix, index, shape.batch, shape.event_bytes);
    let host = HeaderValue::from_str(&target.address.to_string())?;
    let content_type = HeaderValue::from_static(BATCH_CONTENT_TYPE);
    let mut connection: Option<Connection> = None;
    let mut request_number = index;
    while Instant::now() < window.end {
        let Some(sender) =
            http::connection_or_pause(&mut connection, target.address, &mut counts.failures).await
        else {
            continue;
        };
        let mut request = Request::post(target.path)
            .header(HOST, host.clone())
            .header(CONTENT_TYPE, content_type.clone());
        if !target.authorizations.is_empty() {
            let authorization =
                &target.authorizations[request_number % target.authorizations.len()];
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        request_number += 1;
        let request = request
            .body(Full::new(template.next_body(&body::now())))
            .context("cannot build a bench request")?;

        let started = Instant::now();
        let outcome = http::send(sender, request).await;
        let finished = Instant::now();
        let Some(accepted) =
            http::accepted_or_record(outcome, &mut connection, &mut counts.failures)
        else {
            continue;
        };
        if window.start <= finished && finished <= window.end {
            counts.record(shape.batch, accepted, finished.duration_since(started));
        }
    }
    Ok(counts)
}
