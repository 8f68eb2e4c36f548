//! The canaries of `tally bench e2e`: single events of the canary tenant, each with a unique
//! id, subject and group value, sent on a connection of their own, and the pollers that ask
//! the usage query behind `tally usage` and the API ([`Analytics::usage`]) until each shows.
//!
//! A canary is pending from just before its request is sent until the end of the first usage
//! query that shows it: that is its ingest-to-queryable latency. At most
//! [`MAX_PENDING_CANARIES`] are pending at once; a canary due beyond that is skipped. One
//! still pending [`DRAIN_TIMEOUT`] after the measured window is lost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::Full;
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use parking_lot::Mutex;
use serde_json::json;
use tally_meter::analytics::Analytics;
use tally_meter::meter::Meter;
use tally_meter::usage::{self, Tz, UsageQuery, floor_minute};

use super::stages::{Durations, visible_to_seen};
use super::{BenchTenant, CANARY_EVENT_TYPE, CANARY_GROUP, MAX_LATENCY};
use crate::failures::Failures;
use crate::histogram::DurationHistogram;
use crate::http::{self, Accepted, BATCH_CONTENT_TYPE, Connection, excerpt};
use crate::load::Window;
use crate::progress;

/// Time between two usage queries of one poller. With both pollers, a query every 25 ms: at
/// 12.5 ms the canaries' queries took as much of ClickHouse as the aggregator's dedup lookups,
/// and slowed what they measure.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Pollers, staggered evenly over [`POLL_INTERVAL`].
pub(super) const POLLERS: u32 = 2;
/// Most canaries waiting to show at once.
pub(super) const MAX_PENDING_CANARIES: usize = 256;
/// How long after the measured window canaries may take to show before they count as lost.
pub(super) const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The canary tenant, its meter, and the canaries sent and seen.
pub(super) struct Canaries {
    /// The ingest node's address.
    address: SocketAddr,
    /// The canary tenant's ingest key, as an `Authorization` value.
    authorization: HeaderValue,
    /// Where the usage queries go.
    analytics: Analytics,
    /// The canary tenant's meter, grouped by canary.
    meter: Meter,
    /// Start of every canary id, unique to this bench.
    tag: String,
    /// The canaries pending and the figures, shared by the sender and the pollers.
    state: Mutex<CanaryState>,
}

/// A canary sent and not yet seen in a usage query.
struct Pending {
    /// Just before its request was sent.
    sent: Instant,
    /// Its event time.
    time: DateTime<Utc>,
    /// Whether it was sent in the measured window.
    measured: bool,
}

/// The canaries pending, and what the canary sender and pollers counted.
struct CanaryState {
    /// The canaries sent and not yet seen, by id.
    pending: HashMap<String, Pending>,
    /// Whether the sender has stopped for good.
    sending_finished: bool,
    /// When the last usage query started, by any poller.
    last_query_started: Option<Instant>,
    /// What was counted so far.
    figures: CanaryFigures,
}

/// What the canaries measured.
#[derive(Clone)]
pub(super) struct CanaryFigures {
    /// Canaries sent in the window (acknowledged or not).
    pub(super) sent: u64,
    /// Canaries of the window seen in a usage query.
    pub(super) seen: u64,
    /// Canaries of the window not seen within [`DRAIN_TIMEOUT`] of the window's end.
    pub(super) lost: u64,
    /// Canaries of the window not sent because too many were pending.
    pub(super) skipped: u64,
    /// Send to first usage query showing it, of the window's canaries (lost ones as their
    /// wait, a lower bound).
    pub(super) latency: Durations,
    /// Send to ingest's acknowledgement, of the window's canaries.
    pub(super) acknowledgement: Durations,
    /// From its rows being written to the end of the first usage query showing it, of the
    /// window's canaries (estimated: [`visible_to_seen`]).
    pub(super) visible_to_seen: Durations,
    /// Time the pollers' usage queries took.
    pub(super) query: DurationHistogram,
    /// Failed canary requests.
    pub(super) failures: Failures,
    /// Usage queries that failed.
    pub(super) poll_errors: u64,
    /// The last usage query error.
    pub(super) last_poll_error: Option<String>,
}

impl Canaries {
    /// Canaries of `tenant`, sent to the ingest node at `address`, with ids starting `tag`.
    pub(super) fn new(
        address: SocketAddr,
        tenant: &BenchTenant,
        analytics: Analytics,
        tag: String,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            address,
            authorization: tenant.authorization.clone(),
            analytics,
            meter: tenant.meter.clone(),
            tag,
            state: Mutex::new(CanaryState {
                pending: HashMap::new(),
                sending_finished: false,
                last_query_started: None,
                figures: CanaryFigures {
                    sent: 0,
                    seen: 0,
                    lost: 0,
                    skipped: 0,
                    latency: Durations::up_to(MAX_LATENCY)?,
                    acknowledgement: Durations::up_to(MAX_LATENCY)?,
                    visible_to_seen: Durations::up_to(MAX_LATENCY)?,
                    query: DurationHistogram::up_to(MAX_LATENCY)?,
                    failures: Failures::default(),
                    poll_errors: 0,
                    last_poll_error: None,
                },
            }),
        })
    }

    /// Sends canary `number` and waits until a usage query shows it; returns how long that
    /// took. Proves the aggregator has joined its group and counts.
    pub(super) async fn wait_until_counted(&self, timeout: Duration) -> anyhow::Result<Duration> {
        let mut connection = None;
        let started = Instant::now();
        self.send(&mut connection, 0, false).await;
        if let Some((kind, example)) = self.state.lock().figures.failures.first() {
            bail!("the first canary failed: {kind}: {example}");
        }
        loop {
            if let Err(error) = self.poll_once().await {
                progress(&format!("cannot query the canary's usage: {error}"));
            }
            if self.state.lock().pending.is_empty() {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= timeout {
                bail!(
                    "the aggregator did not count the first canary within {} s",
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Sends a canary every `interval` until the window ends; a canary due while
    /// [`MAX_PENDING_CANARIES`] are pending is skipped.
    pub(super) async fn send_every(self: Arc<Self>, interval: Duration, window: Window) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut connection = None;
        let mut number = 0;
        loop {
            ticker.tick().await;
            let now = Instant::now();
            if now >= window.end {
                break;
            }
            let measured = now >= window.start;
            {
                let mut state = self.state.lock();
                if state.pending.len() >= MAX_PENDING_CANARIES {
                    if measured {
                        state.figures.skipped += 1;
                    }
                    continue;
                }
            }
            number += 1;
            self.send(&mut connection, number, measured).await;
        }
    }

    /// Sends canary `number`: pending from just before its request until a poller sees it,
    /// unless its request fails.
    async fn send(&self, connection: &mut Option<Connection>, number: u64, measured: bool) {
        let id = format!("{}-canary-{number}", self.tag);
        let sender = match http::reuse_or_connect(connection, self.address).await {
            Ok(sender) => sender,
            Err(error) => {
                self.state
                    .lock()
                    .figures
                    .failures
                    .record("cannot connect", format!("{error:#}"));
                return;
            }
        };
        let time = Utc::now();
        let event = json!([{
            "specversion": "1.0",
            "id": id,
            "source": "bench/canary",
            "type": CANARY_EVENT_TYPE,
            "subject": id,
            "time": time.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": { CANARY_GROUP: id },
        }]);
        let request = Request::post("/v1/events")
            .header(HOST, self.address.to_string())
            .header(CONTENT_TYPE, BATCH_CONTENT_TYPE)
            .header(AUTHORIZATION, self.authorization.clone())
            .body(Full::new(Bytes::from(event.to_string())));
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                self.state
                    .lock()
                    .figures
                    .failures
                    .record("cannot build a request", error.to_string());
                return;
            }
        };
        let sent = Instant::now();
        {
            let mut state = self.state.lock();
            state.pending.insert(
                id.clone(),
                Pending {
                    sent,
                    time,
                    measured,
                },
            );
            if measured {
                state.figures.sent += 1;
            }
        }
        let outcome = http::send(sender, request).await;
        let acknowledged = Instant::now();
        let mut state = self.state.lock();
        let failure = match outcome {
            Ok((status, answer)) if status.is_success() => {
                match serde_json::from_slice::<Accepted>(&answer) {
                    Ok(Accepted { accepted: 1 }) => None,
                    _ => Some((format!("HTTP {status}, not accepted"), excerpt(&answer))),
                }
            }
            Ok((status, answer)) => Some((format!("HTTP {status}"), excerpt(&answer))),
            Err(error) => {
                *connection = None;
                Some(("connection error".to_owned(), error.to_string()))
            }
        };
        match failure {
            None if measured => {
                let acknowledgement = acknowledged.duration_since(sent);
                state.figures.acknowledgement.record(acknowledgement);
            }
            None => {}
            Some((kind, example)) => {
                state.pending.remove(&id);
                state.figures.failures.record(&kind, example);
            }
        }
    }

    /// Says that no canary will be sent any more: pollers stop once none is pending.
    pub(super) fn finish_sending(&self) {
        self.state.lock().sending_finished = true;
    }

    /// Polls every [`POLL_INTERVAL`], starting `offset` from now, until sending has finished
    /// and no canary is pending, or until `deadline`.
    pub(super) async fn poll_until_seen(self: Arc<Self>, offset: Duration, deadline: Instant) {
        let mut next = Instant::now() + offset;
        loop {
            tokio::time::sleep_until(next.into()).await;
            next = (next + POLL_INTERVAL).max(Instant::now());
            {
                let state = self.state.lock();
                if state.sending_finished && state.pending.is_empty() {
                    return;
                }
            }
            if Instant::now() >= deadline {
                return;
            }
            if let Err(error) = self.poll_once().await {
                let mut state = self.state.lock();
                state.figures.poll_errors += 1;
                state.figures.last_poll_error = Some(error.to_string());
            }
        }
    }

    /// Asks the canary meter's usage, grouped by canary, over the minutes of the pending
    /// canaries, and settles every pending canary it shows.
    async fn poll_once(&self) -> tally_meter::Result<()> {
        let asked = Instant::now();
        let (earliest, previous_query) = {
            let mut state = self.state.lock();
            let earliest = state.pending.values().map(|pending| pending.time).min();
            let Some(earliest) = earliest else {
                return Ok(());
            };
            (earliest, state.last_query_started.replace(asked))
        };
        let query = UsageQuery {
            from: floor_minute(earliest) - chrono::Duration::minutes(1),
            to: floor_minute(Utc::now()) + chrono::Duration::minutes(2),
            window: usage::Window::Minute,
            time_zone: Tz::UTC,
            group_by: vec![CANARY_GROUP.to_owned()],
            subject: None,
        };
        let points = self.analytics.usage(&self.meter, &query).await?;
        let seen = Instant::now();
        let mut state = self.state.lock();
        state.figures.query.record(seen.duration_since(asked));
        for point in points.iter().filter(|point| point.events > 0) {
            let Some(id) = point.groups.get(CANARY_GROUP) else {
                continue;
            };
            if let Some(pending) = state.pending.remove(id)
                && pending.measured
            {
                state.figures.seen += 1;
                state
                    .figures
                    .latency
                    .record(seen.duration_since(pending.sent));
                let waited = visible_to_seen(pending.sent, previous_query, asked, seen);
                state.figures.visible_to_seen.record(waited);
            }
        }
        Ok(())
    }

    /// Counts the window's canaries still pending as lost, recording how long they were
    /// waited for, and returns the figures.
    pub(super) fn finish(&self, deadline: Instant) -> CanaryFigures {
        let mut state = self.state.lock();
        let pending: Vec<Pending> = state.pending.drain().map(|(_, pending)| pending).collect();
        for pending in pending.into_iter().filter(|pending| pending.measured) {
            state.figures.lost += 1;
            let waited = deadline.saturating_duration_since(pending.sent);
            state.figures.latency.record(waited);
        }
        state.figures.clone()
    }
}
