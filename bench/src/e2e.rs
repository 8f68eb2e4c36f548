//! `tally bench e2e`: how long an event takes from ingest to usage queries under a steady
//! load, and what the aggregator's CPU costs per event.
//!
//! It migrates, creates bench tenants with limits too high to throttle and one COUNT meter
//! each, plus a canary tenant whose COUNT meter groups by canary, then starts an ingest node
//! and an aggregator (`tally serve --roles meter`) of its own. The aggregator joins a consumer
//! group of the bench's own, per topic prefix: the configured group may be shared with other
//! aggregators on the broker, whose rebalances would stall it (or which would take partitions
//! from it). Once the aggregator has counted a first canary (it has joined its group), the
//! bench runs for `--warmup` plus `--duration`:
//!
//! - **Load**: a ticker hands request slots, `--batch` events each, to `--concurrency`
//!   senders at exactly `--rate` events/s over the tenants (open loop: a slow answer holds up
//!   only its own sender, and the schedule slips only when every sender is busy, which the
//!   send lag shows).
//! - **Canaries**: every `--canary-interval-ms`, one event of the canary tenant with a unique
//!   id, subject and group value, on a connection of its own; its send time is taken just
//!   before the request.
//! - **Pollers**: a few staggered pollers ask the usage query behind `tally usage` and the API
//!   ([`Analytics::usage`]) for the canary meter, grouped by canary, every
//!   [`canary::POLL_INTERVAL`], until every pending canary shows; its ingest-to-queryable
//!   latency is the end of the first query that shows it minus its send time. At most
//!   [`canary::MAX_PENDING_CANARIES`] are pending at once; a canary due beyond that is skipped.
//!
//! Only what happens in the measured window counts: events sent and acknowledged, canaries
//! sent, and the CPU time of the aggregator and the ingest node read from `/proc`. After the
//! load, the bench waits until the meters have counted every acknowledged event (an exactness
//! check, and the aggregator's lag). It prints one table and the verdict on the target
//! (p95 < 2 s), stops both nodes and suspends the bench tenants.
//!
//! It then prints where a canary's time went, stage by stage ([`stages`]): its request and
//! Kafka's acknowledgement, the aggregator's consumer lag, the wait for its pass, each step of
//! the pass, and the wait for a query to show it, with the check that they add up.
//!
//! This module sets the bench up and runs it; [`load`] owns the load and the catch-up check,
//! [`canary`] the canaries and their pollers, [`nodes`] what is read of the two nodes,
//! [`figures`] the figures and the printed table, [`stages`] the stage breakdown and
//! [`stage_metrics`] the nodes' stage histograms it reads.

mod canary;
mod figures;
mod load;
mod nodes;
mod stage_metrics;
mod stages;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use hyper::header::HeaderValue;
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::{self, Catalog};
use tally_meter::ids::{MeterKey, TenantId, TenantName};
use tally_meter::meter::{Aggregation, JsonPath, Meter, MeterSpec};

use self::canary::{Canaries, DRAIN_TIMEOUT, POLL_INTERVAL, POLLERS};
use self::figures::{Figures, footer};
use self::load::{EVENT_BYTES, LoadPlan, RunningLoad, wait_caught_up};
use self::nodes::{Nodes, Snapshots};
use crate::body::BatchTemplate;
use crate::cli::BenchE2eArgs;
use crate::cpu::{Clock, listening_process};
use crate::format::grouped;
use crate::load::Window;
use crate::node::{Node, NodeLimits};
use crate::tenants::{self, suspend_tenants};
use crate::{Setup, fail_unless_healthy, migrate_for_timed_bench, progress, short_random_id};

/// The ingest-to-queryable p95 the bench checks, in milliseconds.
pub const TARGET_P95_MS: f64 = 1000.0;

/// The CloudEvents `type` of the load's events (the one [`BatchTemplate`] writes).
const LOAD_EVENT_TYPE: &str = "bench.reading";
/// The CloudEvents `type` of canary events.
const CANARY_EVENT_TYPE: &str = "bench.canary";
/// The key of every bench meter.
const METER_KEY: &str = "events";
/// The group of the canary meter: each canary's own id.
const CANARY_GROUP: &str = "canary";
/// How long the aggregator may take to count the first canary (joining its group included).
const FIRST_CANARY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest duration the histograms hold (longer ones are recorded as this).
const MAX_LATENCY: Duration = Duration::from_secs(600);

/// Runs the bench and prints its figures; fails, after printing them, if any request failed,
/// any canary was lost or the meters did not count what ingest acknowledged.
pub async fn run(setup: &Setup, args: &BenchE2eArgs) -> anyhow::Result<()> {
    let catalog = migrate_for_timed_bench(setup, args.duration).await?;
    let analytics = Analytics::new(&setup.clickhouse);
    let mut fleet = Fleet::default();
    let measured = match fleet.create(&catalog, args.tenants).await {
        Ok(()) => measure(setup, args, &fleet, &analytics).await,
        Err(error) => Err(error),
    };
    fleet.suspend(&catalog).await;
    let figures = measured?;

    println!("{}", figures.table());
    println!("{}", figures.breakdown().table());
    println!("{}\n", stages::footer());
    println!("{}", footer(&setup.meter));
    fail_unless_healthy(&figures.problems(), "pipeline")
}

/// A bench tenant: its ingest key's `Authorization` value and its meter.
struct BenchTenant {
    authorization: HeaderValue,
    meter: Meter,
}

/// Every tenant the bench created, and what each is for.
#[derive(Default)]
struct Fleet {
    /// Every tenant created, to suspend at the end, even those half set up.
    created: Vec<(TenantId, TenantName)>,
    /// The load's tenants.
    load: Vec<BenchTenant>,
    /// The canary tenant.
    canary: Option<BenchTenant>,
}

impl Fleet {
    /// Creates `tenants` load tenants, then the canary tenant.
    async fn create(&mut self, catalog: &Catalog, tenants: u32) -> anyhow::Result<()> {
        let load_spec = MeterSpec {
            key: MeterKey::parse(METER_KEY)?,
            event_type: LOAD_EVENT_TYPE.to_owned(),
            value_path: None,
            aggregation: Aggregation::Count,
            group_by: BTreeMap::new(),
            allowed_lateness_secs: 3600,
        };
        for _ in 0..tenants {
            let tenant = self.create_tenant(catalog, &load_spec).await?;
            self.load.push(tenant);
        }
        let canary_spec = MeterSpec {
            event_type: CANARY_EVENT_TYPE.to_owned(),
            group_by: BTreeMap::from([(
                CANARY_GROUP.to_owned(),
                JsonPath::parse(&format!("$.{CANARY_GROUP}"))?,
            )]),
            ..load_spec
        };
        self.canary = Some(self.create_tenant(catalog, &canary_spec).await?);
        let names: Vec<&str> = self.created.iter().map(|(_, name)| name.as_str()).collect();
        progress(&format!(
            "created bench tenants {} (the last one sends the canaries)",
            names.join(", ")
        ));
        Ok(())
    }

    /// Creates a tenant with an ingest key and a meter of `spec`; it is suspended at the end
    /// even if this fails half way.
    async fn create_tenant(
        &mut self,
        catalog: &Catalog,
        spec: &MeterSpec,
    ) -> anyhow::Result<BenchTenant> {
        let (id, name) = tenants::create_tenant(catalog).await?;
        self.created.push((id, name));
        let authorization = tenants::authorize_ingest(catalog, id).await?;
        let meter =
            catalog::meters::create(catalog, id, spec, Actor::Operator, &Caps::default()).await?;
        Ok(BenchTenant {
            authorization,
            meter,
        })
    }

    /// Suspends every tenant created.
    async fn suspend(&self, catalog: &Catalog) {
        suspend_tenants(catalog, self.created.iter().map(|(id, name)| (*id, name))).await;
    }
}

/// The process of this machine listening on the port of `address` (`host:port`, or a URL
/// such as `http://host:port/`), if it is a loopback address.
fn local_process(address: &str) -> Option<u32> {
    let authority = address
        .split_once("://")
        .map_or(address, |(_, rest)| rest)
        .split('/')
        .next()?;
    let (host, port) = authority.rsplit_once(':')?;
    let local = matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "0.0.0.0");
    local
        .then(|| listening_process(port.parse().ok()?))
        .flatten()
}

/// Starts both nodes, drives the bench and stops them; they are killed on any error.
async fn measure(
    setup: &Setup,
    args: &BenchE2eArgs,
    fleet: &Fleet,
    analytics: &Analytics,
) -> anyhow::Result<Figures> {
    let canary = fleet.canary.as_ref().context("no canary tenant")?;
    let (batch, concurrency) = (args.batch as usize, args.concurrency as usize);
    let tag = short_random_id();
    let id_prefix = format!("{tag}-load");
    let largest = BatchTemplate::new(&id_prefix, concurrency, batch, EVENT_BYTES);
    let limits = NodeLimits {
        batch_events: batch,
        event_bytes: largest.largest_event_bytes(),
        body_bytes: largest.body_bytes(),
    };
    let (ingest, aggregator) = Node::ingest_and_aggregator(setup, &limits).await?;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "tally bench e2e: {} tenants, {}-byte events, {batch} per request, target {} events/s \
         from {concurrency} senders, a canary every {} ms, {} s warmup + {} s measured, \
         aggregator flush interval {} ms, {cores} cores\n",
        args.tenants,
        limits.event_bytes,
        grouped(args.rate),
        args.canary_interval_ms,
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
        setup.meter.flush_interval_ms,
    );

    let canaries = Arc::new(Canaries::new(
        ingest.address(),
        canary,
        analytics.clone(),
        tag,
    )?);
    let load = Arc::new(LoadPlan {
        address: ingest.address(),
        authorizations: fleet
            .load
            .iter()
            .map(|tenant| tenant.authorization.clone())
            .collect(),
        batch,
        rate: args.rate,
        id_prefix,
    });
    let nodes = Nodes {
        ingest: ingest.pid(),
        aggregator: aggregator.pid(),
        ingest_address: ingest.address(),
        aggregator_address: aggregator.address(),
        broker: local_process(setup.kafka.brokers.split(',').next().unwrap_or_default()),
        clickhouse: local_process(&setup.clickhouse.url),
    };
    let load_meters: Vec<Meter> = fleet
        .load
        .iter()
        .map(|tenant| tenant.meter.clone())
        .collect();
    let figures = drive(args, load, canaries, nodes, analytics, &load_meters).await?;

    progress("stopping the ingest node and the aggregator");
    for (name, stopped) in [
        ("the ingest node", ingest.stop().await),
        ("the aggregator", aggregator.stop().await),
    ] {
        match stopped {
            Ok(status) if status.success() => {}
            Ok(status) => progress(&format!("{name} exited with {status}")),
            Err(error) => progress(&format!("{error:#}")),
        }
    }
    Ok(figures)
}

/// Waits for the aggregator to count, then runs the load, the canaries and their pollers, and
/// waits for the canaries to show and the meters to catch up.
async fn drive(
    args: &BenchE2eArgs,
    load: Arc<LoadPlan>,
    canaries: Arc<Canaries>,
    nodes: Nodes,
    analytics: &Analytics,
    load_meters: &[Meter],
) -> anyhow::Result<Figures> {
    progress("waiting for the aggregator to count a first canary");
    let first = canaries.wait_until_counted(FIRST_CANARY_TIMEOUT).await?;
    progress(&format!(
        "the aggregator counted the first canary {:.2} s after it was sent",
        first.as_secs_f64()
    ));

    let clock = Clock::detect();
    let began = Instant::now();
    let began_time = Utc::now();
    let window = Window {
        start: began + args.warmup,
        end: began + args.warmup + args.duration,
    };
    progress(&format!(
        "sending {} events/s for {} s, measuring the last {} s",
        grouped(args.rate),
        (args.warmup + args.duration).as_secs_f64(),
        args.duration.as_secs_f64()
    ));
    let running_load = RunningLoad::start(load, args.concurrency as usize, began, window);
    let canary_interval = Duration::from_millis(args.canary_interval_ms);
    let canary_sender = tokio::spawn(Arc::clone(&canaries).send_every(canary_interval, window));
    let drain_deadline = window.end + DRAIN_TIMEOUT;
    let pollers: Vec<_> = (0..POLLERS)
        .map(|index| {
            let offset = POLL_INTERVAL * index / POLLERS;
            tokio::spawn(Arc::clone(&canaries).poll_until_seen(offset, drain_deadline))
        })
        .collect();

    tokio::time::sleep_until(window.start.into()).await;
    let before = Snapshots::take(clock, nodes).await?;
    tokio::time::sleep_until(window.end.into()).await;
    let after = Snapshots::take(clock, nodes).await?;

    let counts = running_load.finish().await?;
    let load_done = Instant::now();
    canary_sender.await.context("the canary sender panicked")?;
    canaries.finish_sending();
    progress("waiting for the canaries to show and the meters to count every event");
    let pollers_done = async {
        for poller in pollers {
            if poller.await.is_err() {
                progress("a canary poller panicked");
            }
        }
    };
    let since = began_time - chrono::Duration::minutes(1);
    let (catch_up, ()) = tokio::join!(
        wait_caught_up(
            analytics,
            load_meters,
            since,
            counts.accepted_total,
            load_done
        ),
        pollers_done
    );
    let canaries = canaries.finish(drain_deadline);
    Ok(Figures::new(
        args, window, counts, canaries, catch_up, &before, &after,
    ))
}
