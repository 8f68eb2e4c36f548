//! The delivery phase of `tally bench alerting`: how long from a breach to its notification's
//! arrival at a webhook, with the alerting role running as `tally serve` runs it.
//!
//! `--latency-tenants` more tenants each get the fleet's meter, one rule `breach` (the
//! meter's maximum over 1 minute above 500, per subject, firing at once), a signed webhook
//! receiver at a server the bench starts on loopback, and a routing tree grouping by
//! `alertname` and `subject` with `group_wait` `--group-wait`. The alerting role then runs in
//! the bench's process over these rules and every rule of the fleet, with
//! `alerting.allow_private_targets` on. After one evaluation interval, each tenant's subject
//! `hot` breaches at an instant of its own, spread evenly over the next interval (so that
//! breaches fall anywhere between two evaluations): a rollup row of 1000 for this minute and
//! the next two is written straight into ClickHouse, and the moment the insert returns is the
//! breach. Its latency ends when the webhook server receives the firing notification.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use chrono::Utc;
use parking_lot::Mutex;
use tally_alerting::catalog::{receivers, rules};
use tally_alerting::config::AlertingConfig;
use tally_alerting::evaluate::Evaluator;
use tally_alerting::notify::payload::Message;
use tally_alerting::notify::receiver::{Receiver, Target};
use tally_alerting::notify::routing::Routing;
use tally_alerting::role;
use tally_alerting::rule::RuleSpec;
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::catalog::Catalog;
use tally_meter::meter::Meter;
use tally_meter::usage::floor_minute;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::load::{Subject, insert_rollups};
use crate::progress;

/// The rule every latency tenant gets.
const RULE: &str = "breach";
/// The threshold of [`RULE`], above every value of the fleet's.
const THRESHOLD: i64 = 500;
/// The value of the breaching subject.
const BREACH_VALUE: i64 = 1000;
/// How long after the target the phase waits for missing notifications.
const GRACE: StdDuration = StdDuration::from_secs(30);

/// What the delivery phase measured.
pub(super) struct Delivery {
    /// Tenants whose subject breached.
    pub(super) tenants: usize,
    /// Seconds from each breach to its notification's arrival, sorted; one per tenant
    /// notified.
    pub(super) latencies: Vec<f64>,
    /// Firing notifications received beyond the first of each tenant.
    pub(super) repeats: u64,
    /// The routes' `group_wait`, in seconds.
    pub(super) group_wait_secs: f64,
    /// The target: the evaluation interval, `group_wait` and 2 s, in seconds.
    pub(super) target_secs: f64,
}

impl Delivery {
    /// The latency at `share` (0 to 1) of the notified breaches, by nearest rank.
    pub(super) fn percentile(&self, share: f64) -> Option<f64> {
        let rank = (share * self.latencies.len() as f64).ceil() as usize;
        self.latencies.get(rank.max(1) - 1).copied()
    }
}

/// What the webhook server has received: per tenant, when its first firing notification for
/// [`RULE`] arrived, and how many arrived in all.
#[derive(Default)]
struct Arrivals {
    first: HashMap<usize, Instant>,
    all: u64,
}

/// Runs the phase over `meters` (the latency tenants'), beside the rules already stored.
pub(super) async fn measure(
    evaluator: &Evaluator,
    config: &AlertingConfig,
    meters: &[Meter],
    group_wait: StdDuration,
) -> anyhow::Result<Delivery> {
    let interval = config.eval_interval();
    let target_secs = (interval + group_wait).as_secs_f64() + 2.0;
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let stop = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the webhook server")?;
    let address = listener.local_addr()?;
    let server = tokio::spawn({
        let app = Router::new()
            .route("/hook/{tenant}", post(receive))
            .with_state(Arc::clone(&arrivals));
        let stop = stop.clone();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        }
    });
    let measured = async {
        progress(&format!(
            "setting up {} tenants with a webhook receiver and a rule each",
            meters.len()
        ));
        prepare(&evaluator.catalog, meters, &address.to_string(), group_wait).await?;
        let role = tokio::spawn(role::run(
            evaluator.clone(),
            AlertingConfig {
                allow_private_targets: true,
                ..config.clone()
            },
            stop.clone(),
        ));
        progress(&format!(
            "running the alerting role; {} subjects breach over {} s",
            meters.len(),
            interval.as_secs()
        ));
        tokio::time::sleep(interval).await;
        let breaches = breach(&evaluator.analytics, meters, interval).await;
        let deadline = Instant::now() + StdDuration::from_secs_f64(target_secs) + GRACE;
        while breaches.is_ok()
            && arrivals.lock().first.len() < meters.len()
            && Instant::now() < deadline
        {
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        stop.cancel();
        role.await.context("the alerting role panicked")?;
        breaches
    }
    .await;
    stop.cancel();
    server
        .await
        .context("the webhook server panicked")?
        .context("the webhook server failed")?;
    let breaches = measured?;
    let arrivals = arrivals.lock();
    let mut latencies: Vec<f64> = breaches
        .iter()
        .enumerate()
        .filter_map(|(tenant, breached)| {
            let arrived = arrivals.first.get(&tenant)?;
            Some(arrived.saturating_duration_since(*breached).as_secs_f64())
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(Delivery {
        tenants: meters.len(),
        repeats: arrivals.all - arrivals.first.len() as u64,
        latencies,
        group_wait_secs: group_wait.as_secs_f64(),
        target_secs,
    })
}

/// Gives each tenant of `meters` the receiver `bench` at `/hook/INDEX` of `address`, routing
/// to it, and the rule [`RULE`].
async fn prepare(
    catalog: &Catalog,
    meters: &[Meter],
    address: &str,
    group_wait: StdDuration,
) -> anyhow::Result<()> {
    let rule = RuleSpec::parse(&format!(
        r#"{{"name": "{RULE}", "kind": "threshold", "meter": "{}", "window": "1m", "op": ">",
             "value": "{THRESHOLD}", "by": "subject", "severity": "critical"}}"#,
        super::load::METER,
    ))?;
    let routing = Routing::parse(&format!(
        r#"{{"receiver": "bench", "group_by": ["alertname", "subject"],
             "group_wait": "{}ms"}}"#,
        group_wait.as_millis()
    ))?;
    for (index, meter) in meters.iter().enumerate() {
        let receiver = Receiver {
            name: "bench".to_owned(),
            target: Target::Webhook {
                url: format!("http://{address}/hook/{index}"),
                secret: "bench-webhook-secret".to_owned(),
            },
        };
        receivers::set(catalog, meter.tenant_id, &receiver, Actor::Operator).await?;
        receivers::set_routing(catalog, meter.tenant_id, &routing, Actor::Operator).await?;
        rules::create(catalog, meter.tenant_id, &rule, Actor::Operator).await?;
    }
    Ok(())
}

/// Makes the subject `hot` of each of `meters` breach, one after the other, evenly over
/// `interval`; returns when each breach was written.
async fn breach(
    analytics: &Analytics,
    meters: &[Meter],
    interval: StdDuration,
) -> anyhow::Result<Vec<Instant>> {
    let hot = [Subject {
        name: "hot".to_owned(),
        region: "north",
        value: BREACH_VALUE,
    }];
    let started = tokio::time::Instant::now();
    let spacing = interval / u32::try_from(meters.len().max(1)).unwrap_or(u32::MAX);
    let mut breached = Vec::with_capacity(meters.len());
    for (index, meter) in meters.iter().enumerate() {
        tokio::time::sleep_until(started + spacing * u32::try_from(index).unwrap_or(u32::MAX))
            .await;
        let minutes = (floor_minute(Utc::now()), 3);
        insert_rollups(analytics, std::slice::from_ref(meter), minutes, &hot).await?;
        breached.push(Instant::now());
    }
    Ok(breached)
}

/// Records a notification's arrival; only firing notifications of [`RULE`] count.
async fn receive(
    State(arrivals): State<Arc<Mutex<Arrivals>>>,
    Path(tenant): Path<usize>,
    body: String,
) -> StatusCode {
    let arrived = Instant::now();
    let Ok(message) = serde_json::from_str::<Message>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let breached = message.status == "firing"
        && message
            .alerts
            .iter()
            .any(|alert| alert.labels.get("alertname").map(String::as_str) == Some(RULE));
    if breached {
        let mut arrivals = arrivals.lock();
        arrivals.all += 1;
        arrivals.first.entry(tenant).or_insert(arrived);
    }
    StatusCode::OK
}
