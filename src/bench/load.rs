//! The load of one phase: `concurrency` senders, each with its own keep-alive HTTP/1.1
//! connection (hyper, no pool), posting batches back to back from the start of the warmup to
//! the end of the measured window. Only requests that complete inside the window count
//! towards throughput and latency; failures count whenever they happen.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

use crate::bench::body::{self, BatchTemplate};

/// The content type of every bench request.
const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";
/// Pause before reconnecting after a connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
/// Highest latency the histograms hold, in microseconds (longer ones are recorded as this).
const MAX_LATENCY_US: u64 = 60_000_000;

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

/// What the senders of a phase counted.
pub struct Tally {
    /// 2xx requests completed in the window.
    pub requests: u64,
    /// Events those requests accepted.
    pub events: u64,
    /// Events of those requests that the server did not accept.
    pub rejected_events: u64,
    /// Latency of those requests, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Failed requests of the whole phase, warmup included, by kind: count and first example.
    pub failures: BTreeMap<String, (u64, String)>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            requests: 0,
            events: 0,
            rejected_events: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .context("cannot create a latency histogram")?,
            failures: BTreeMap::new(),
        })
    }

    fn fail(&mut self, kind: String, example: String) {
        self.failures.entry(kind).or_insert((0, example)).0 += 1;
    }

    fn merge(&mut self, other: Self) -> anyhow::Result<()> {
        self.requests += other.requests;
        self.events += other.events;
        self.rejected_events += other.rejected_events;
        self.latency_us
            .add(&other.latency_us)
            .context("cannot merge latency histograms")?;
        for (kind, (count, example)) in other.failures {
            self.failures.entry(kind).or_insert((0, example)).0 += count;
        }
        Ok(())
    }

    /// Failed requests of the phase.
    pub fn failed_requests(&self) -> u64 {
        self.failures.values().map(|(count, _)| count).sum()
    }
}

/// The part of a 2xx answer the bench reads.
#[derive(Deserialize)]
struct Accepted {
    accepted: u64,
}

/// Sends load until `window` ends and returns what every sender counted.
pub async fn drive(
    target: Arc<Target>,
    shape: Arc<Shape>,
    window: Window,
) -> anyhow::Result<Tally> {
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
    let mut total = Tally::new()?;
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
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut template = BatchTemplate::new(&shape.id_prefix, index, shape.batch, shape.event_bytes);
    let host = HeaderValue::from_str(&target.address.to_string())?;
    let content_type = HeaderValue::from_static(BATCH_CONTENT_TYPE);
    let mut connection: Option<SendRequest<Full<Bytes>>> = None;
    let mut request_number = index;
    while Instant::now() < window.end {
        let sender = match connection.as_mut() {
            Some(sender) => sender,
            None => match connect(target.address).await {
                Ok(sender) => connection.insert(sender),
                Err(error) => {
                    tally.fail("cannot connect".to_owned(), format!("{error:#}"));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
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
        let outcome = post(sender, request).await;
        let finished = Instant::now();
        let in_window = window.start <= finished && finished <= window.end;
        match outcome {
            Ok((status, answer)) if status.is_success() => {
                let Ok(Accepted { accepted }) = serde_json::from_slice(&answer) else {
                    tally.fail(
                        format!("HTTP {status} without an accepted count"),
                        excerpt(&answer),
                    );
                    continue;
                };
                if in_window {
                    tally.requests += 1;
                    tally.events += accepted;
                    tally.rejected_events += (shape.batch as u64).saturating_sub(accepted);
                    let micros = u64::try_from(finished.duration_since(started).as_micros())
                        .unwrap_or(MAX_LATENCY_US);
                    tally
                        .latency_us
                        .saturating_record(micros.clamp(1, MAX_LATENCY_US));
                }
            }
            Ok((status, answer)) => tally.fail(format!("HTTP {status}"), excerpt(&answer)),
            Err(error) => {
                connection = None;
                tally.fail("connection error".to_owned(), error.to_string());
            }
        }
    }
    Ok(tally)
}

/// Opens a keep-alive HTTP/1.1 connection; its driver runs on its own task until it closes.
async fn connect(address: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "bench connection closed");
        }
    });
    Ok(sender)
}

/// Sends one request and reads the whole answer.
async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let answer = response.into_body().collect().await?.to_bytes();
    Ok((status, answer))
}

/// Answers `GET path` with its status, on a connection of its own.
pub async fn get_status(address: SocketAddr, path: &str) -> anyhow::Result<StatusCode> {
    let mut sender = connect(address).await?;
    let request = Request::get(path)
        .header(HOST, address.to_string())
        .body(Full::new(Bytes::new()))?;
    let (status, _) = post(&mut sender, request).await?;
    Ok(status)
}

/// The start of an answer, on one line, for error reports.
fn excerpt(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next().unwrap_or("");
    line.chars().take(200).collect()
}
