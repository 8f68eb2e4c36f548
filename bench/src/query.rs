//! `tally bench query`: how fast the GraphQL API answers usage queries over many tenants'
//! data.
//!
//! It migrates, then creates `--tenants` bench tenants, each with an ingest key, a read key
//! and two meters of the same event type grouped by `$.region`: a COUNT meter and a SUM meter
//! of `$.value`. It starts an ingest node and an aggregator of its own (the aggregator in the
//! bench's own consumer group, as `tally bench e2e` does), loads `--events-per-tenant` events
//! per tenant in batches (half of them in the last hour, the rest over the last day), waits
//! until both meters of every tenant counted exactly what ingest accepted, and stops both
//! nodes. Then it starts an API node (`tally serve --roles api`) and runs two phases, each of
//! `--warmup` plus `--duration`, with `--concurrency` workers on keep-alive connections:
//!
//! - **baseline**: `{ me { tenantId } }`: authentication and one catalog read, no ClickHouse;
//! - **queries**: `lastHour(meter)` and `usage(meter, from, to, window: HOUR,
//!   groupBy: ["region"])` over the last day, alternately, each for a random tenant and one
//!   of its two meters at random.
//!
//! Latency is end to end per HTTP request, and an answer with `errors` counts as failed. It
//! prints the load, p50/p95/p99/max and queries/s per query type, the API node's CPU, the
//! ratios of the p99s to the baseline's, and the verdicts on the target (p99 < 100 ms for
//! `lastHour` and for `usage`); then it stops the API node and suspends the bench tenants.
//!
//! This module sets the bench up and runs it; [`load`] loads the events and waits for the
//! meters, [`workers`] runs the query phases, and [`figures`] prints what they measured.

mod figures;
mod load;
mod workers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::header::HeaderValue;
use tally_meter::analytics::Analytics;
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::{self, Catalog};
use tally_meter::ids::{MeterKey, TenantId, TenantName};
use tally_meter::meter::{Aggregation, JsonPath, Meter, MeterSpec};

use self::figures::{Figures, footer};
use self::load::LoadPlan;
use self::workers::{Phase, QueryPlan};
use crate::cli::BenchQueryArgs;
use crate::cpu::Clock;
use crate::format::grouped;
use crate::node::Node;
use crate::tenants::{self, set_up_tenants, suspend_tenants};
use crate::{Setup, fail_unless_healthy, migrate_for_timed_bench, progress, short_random_id};

/// The p99 the bench checks for `lastHour` and for `usage`, in milliseconds.
pub const TARGET_P99_MS: f64 = 100.0;

/// The CloudEvents `type` of the loaded events.
const EVENT_TYPE: &str = "bench.query";
/// The key of every tenant's COUNT meter.
const COUNT_METER: &str = "calls";
/// The key of every tenant's SUM meter (of `$.value`).
const SUM_METER: &str = "amount";
/// The group both meters split by, read from `$.region`.
const REGION_GROUP: &str = "region";
/// How late an event may be for the meters: the loaded events go back one day.
const ALLOWED_LATENESS_SECS: u64 = 2 * 86_400;
/// Longest duration the histograms hold (longer ones are recorded as this).
const MAX_LATENCY: Duration = Duration::from_secs(60);

/// A bench tenant: its keys' `Authorization` values and its two meters.
#[derive(Clone)]
struct QueryTenant {
    /// Its ingest key's `Authorization` value.
    ingest: HeaderValue,
    /// Its read key's `Authorization` value.
    read: HeaderValue,
    /// Its COUNT and SUM meters.
    meters: [Meter; 2],
}

/// Runs the bench and prints its figures; fails, after printing them, if any request failed
/// or the meters did not count every loaded event.
pub async fn run(setup: &Setup, args: &BenchQueryArgs) -> anyhow::Result<()> {
    let catalog = migrate_for_timed_bench(setup, args.duration).await?;
    let analytics = Analytics::new(&setup.clickhouse);
    let mut fleet = Fleet::default();
    let measured = match fleet.create(&catalog, args.tenants).await {
        Ok(()) => {
            let tenants = Arc::new(std::mem::take(&mut fleet.tenants));
            measure(setup, args, tenants, &analytics).await
        }
        Err(error) => Err(error),
    };
    fleet.suspend(&catalog).await;
    let figures = measured?;

    println!("{}", figures.table());
    println!("{}", footer());
    fail_unless_healthy(&figures.problems(), "API")
}

/// Every tenant the bench created.
#[derive(Default)]
struct Fleet {
    /// Every tenant created, to suspend at the end, even those half set up.
    created: Vec<(TenantId, TenantName)>,
    /// The tenants fully set up.
    tenants: Vec<QueryTenant>,
}

impl Fleet {
    /// Creates `count` tenants, a few at a time.
    async fn create(&mut self, catalog: &Catalog, count: u32) -> anyhow::Result<()> {
        let specs = Arc::new(meter_specs()?);
        progress(&format!(
            "creating {} bench tenants, each with two meters, an ingest and a read key",
            grouped(u64::from(count))
        ));
        let tenants = set_up_tenants(catalog, count, &mut self.created, move |catalog, id| {
            set_up_tenant(catalog, id, Arc::clone(&specs))
        })
        .await?;
        self.tenants.extend(tenants);
        Ok(())
    }

    /// Suspends every tenant created.
    async fn suspend(&self, catalog: &Catalog) {
        suspend_tenants(catalog, self.created.iter().map(|(id, name)| (*id, name))).await;
    }
}

/// The COUNT and SUM meters every bench tenant gets, both grouped by region.
fn meter_specs() -> anyhow::Result<[MeterSpec; 2]> {
    let count = MeterSpec {
        key: MeterKey::parse(COUNT_METER)?,
        event_type: EVENT_TYPE.to_owned(),
        value_path: None,
        aggregation: Aggregation::Count,
        group_by: BTreeMap::from([(
            REGION_GROUP.to_owned(),
            JsonPath::parse(&format!("$.{REGION_GROUP}"))?,
        )]),
        allowed_lateness_secs: ALLOWED_LATENESS_SECS,
    };
    let sum = MeterSpec {
        key: MeterKey::parse(SUM_METER)?,
        value_path: Some(JsonPath::parse("$.value")?),
        aggregation: Aggregation::Sum,
        ..count.clone()
    };
    Ok([count, sum])
}

/// Gives tenant `id` its keys and meters.
async fn set_up_tenant(
    catalog: Catalog,
    id: TenantId,
    specs: Arc<[MeterSpec; 2]>,
) -> anyhow::Result<QueryTenant> {
    let ingest = tenants::authorize_ingest(&catalog, id).await?;
    let key =
        catalog::api_keys::create(&catalog, id, Scope::Read, Actor::Operator, &Caps::default())
            .await?;
    let secret = secrecy::ExposeSecret::expose_secret(&key.secret);
    let mut read = HeaderValue::from_str(&format!("Bearer {secret}"))?;
    read.set_sensitive(true);
    let count =
        catalog::meters::create(&catalog, id, &specs[0], Actor::Operator, &Caps::default()).await?;
    let sum =
        catalog::meters::create(&catalog, id, &specs[1], Actor::Operator, &Caps::default()).await?;
    Ok(QueryTenant {
        ingest,
        read,
        meters: [count, sum],
    })
}

/// Loads the events through nodes of its own, then runs both query phases against an API
/// node; every node is killed on any error.
async fn measure(
    setup: &Setup,
    args: &BenchQueryArgs,
    tenants: Arc<Vec<QueryTenant>>,
    analytics: &Analytics,
) -> anyhow::Result<Figures> {
    let plan = LoadPlan {
        tenants: Arc::clone(&tenants),
        events_per_tenant: args.events_per_tenant as usize,
        id_prefix: format!("{}-query", short_random_id()),
    };
    let (ingest, aggregator) = Node::ingest_and_aggregator(setup, &plan.limits()).await?;
    let loaded = load::load(
        Arc::new(plan),
        ingest.address(),
        args.concurrency as usize,
        analytics,
    )
    .await?;
    progress("stopping the ingest node and the aggregator");
    stop("the ingest node", ingest.stop().await);
    stop("the aggregator", aggregator.stop().await);

    let api = Node::api(setup).await?;
    progress(&format!(
        "API node {} listens on {}",
        api.pid(),
        api.address()
    ));
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "tally bench query: {} tenants, {} events each, {} workers, {} s warmup + {} s \
         measured per phase, {cores} cores\n",
        grouped(u64::from(args.tenants)),
        grouped(u64::from(args.events_per_tenant)),
        args.concurrency,
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
    );
    let plan = Arc::new(QueryPlan {
        address: api.address(),
        tenants,
    });
    let clock = Clock::detect();
    let mut phases = Vec::with_capacity(2);
    for phase in [Phase::Baseline, Phase::Queries] {
        progress(&format!(
            "{}: {} s warmup + {} s measured",
            phase.name(),
            args.warmup.as_secs_f64(),
            args.duration.as_secs_f64()
        ));
        phases.push(
            workers::run_phase(
                Arc::clone(&plan),
                phase,
                args.concurrency as usize,
                (args.warmup, args.duration),
                clock,
                api.pid(),
            )
            .await?,
        );
    }
    progress("stopping the API node");
    stop("the API node", api.stop().await);
    let queries = phases.pop().context("no queries phase")?;
    let baseline = phases.pop().context("no baseline phase")?;
    Ok(Figures::new(args, loaded, baseline, queries))
}

/// Reports a node that did not stop cleanly.
fn stop(name: &str, stopped: anyhow::Result<std::process::ExitStatus>) {
    match stopped {
        Ok(status) if status.success() => {}
        Ok(status) => progress(&format!("{name} exited with {status}")),
        Err(error) => progress(&format!("{error:#}")),
    }
}
