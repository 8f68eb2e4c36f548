//! `tally bench ingest`: migrates, creates bench tenants with ingest keys and limits too high
//! to throttle, starts an ingest node of its own with the decode-only baseline enabled, and
//! runs both phases `--runs` times: first `POST /v1/bench/baseline` (read and decode the
//! CloudEvents, then discard them: the floor any ingest pays), then `POST /v1/events` (the
//! whole path, up to Kafka's acknowledgement). Each phase warms up, then measures for
//! `--duration`: events/s, latency, and the node's CPU time read from `/proc`. Every run's
//! table and the medians over runs go to standard output, progress to standard error.
//!
//! The bench tenants are suspended at the end, so their keys stop working.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use hyper::header::HeaderValue;
use tally_meter::catalog::Catalog;
use tally_meter::ids::{TenantId, TenantName};

use crate::body::BatchTemplate;
use crate::cli::BenchIngestArgs;
use crate::cpu::{Clock, Snapshot};
use crate::format::grouped;
use crate::load::{self, Shape, Target, Window};
use crate::node::{Node, NodeLimits};
use crate::report::{self, PhaseFigures, RunFigures};
use crate::tenants::{self, suspend_tenants};
use crate::{Setup, migrate_for_timed_bench, progress, short_random_id};

/// A bench tenant and the `Authorization` value of its ingest key.
struct BenchTenant {
    id: TenantId,
    name: TenantName,
    authorization: HeaderValue,
}

/// Runs the bench and prints its figures; fails, after printing them, if any request failed.
pub async fn run(setup: &Setup, args: &BenchIngestArgs) -> anyhow::Result<()> {
    let catalog = migrate_for_timed_bench(setup, args.duration).await?;
    let tenants = create_tenants(&catalog, args.tenants).await?;
    let measured = measure(setup, args, &tenants).await;
    suspend_tenants(
        &catalog,
        tenants.iter().map(|tenant| (tenant.id, &tenant.name)),
    )
    .await;
    let runs = measured?;

    println!("{}", report::summary(&runs));
    println!("{}", footer());
    let problems: u64 = runs.iter().map(RunFigures::problems).sum();
    if problems > 0 {
        bail!(
            "{problems} failed requests or rejected events (see the lines starting with !!): \
             these figures do not describe a healthy ingest"
        );
    }
    Ok(())
}

/// Creates `count` bench tenants, each with an ingest key.
async fn create_tenants(catalog: &Catalog, count: u32) -> anyhow::Result<Vec<BenchTenant>> {
    let mut tenants = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (id, name) = tenants::create_tenant(catalog).await?;
        let authorization = tenants::authorize_ingest(catalog, id).await?;
        tenants.push(BenchTenant {
            id,
            name,
            authorization,
        });
    }
    let names: Vec<&str> = tenants.iter().map(|tenant| tenant.name.as_str()).collect();
    progress(&format!("created bench tenants {}", names.join(", ")));
    Ok(tenants)
}

/// Starts the node, runs every run, and stops the node; it is killed on any error.
async fn measure(
    setup: &Setup,
    args: &BenchIngestArgs,
    tenants: &[BenchTenant],
) -> anyhow::Result<Vec<RunFigures>> {
    let (batch, event_bytes) = (args.batch as usize, args.event_bytes as usize);
    let concurrency = args.concurrency as usize;
    let tag = short_random_id();
    // The longest id prefix and sender number make the largest events and bodies.
    let largest = BatchTemplate::new(
        &format!("{tag}-r{}-baseline", args.runs),
        concurrency,
        batch,
        event_bytes,
    );
    let limits = NodeLimits {
        batch_events: batch,
        event_bytes: largest.largest_event_bytes(),
        body_bytes: largest.body_bytes(),
    };
    progress("starting an ingest node");
    let node = Node::ingest(setup, &limits).await?;
    progress(&format!(
        "ingest node {} listens on {}",
        node.pid(),
        node.address()
    ));
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "tally bench ingest: {} tenants, {}-byte events, {batch} per request ({}-byte bodies), \
         {concurrency} connections, {} s warmup + {} s measured per phase, {} runs, {cores} cores\n",
        tenants.len(),
        limits.event_bytes,
        grouped(limits.body_bytes as u64),
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
        args.runs,
    );

    let clock = Clock::detect();
    let baseline_target = Arc::new(Target {
        address: node.address(),
        path: "/v1/bench/baseline",
        authorizations: Vec::new(),
    });
    let ingest_target = Arc::new(Target {
        address: node.address(),
        path: "/v1/events",
        authorizations: tenants
            .iter()
            .map(|tenant| tenant.authorization.clone())
            .collect(),
    });
    let mut runs = Vec::with_capacity(args.runs as usize);
    for number in 1..=args.runs {
        let phase = |name: &str, target: &Arc<Target>| {
            progress(&format!("run {number} of {}: {name}", args.runs));
            let shape = Shape {
                concurrency,
                batch,
                event_bytes,
                id_prefix: format!("{tag}-r{number}-{name}"),
            };
            measure_phase(&node, clock, Arc::clone(target), shape, args)
        };
        let baseline = phase("baseline", &baseline_target).await?;
        let ingest = phase("ingest", &ingest_target).await?;
        let run = RunFigures { baseline, ingest };
        println!(
            "{}",
            report::run_table(&format!("run {number} of {}", args.runs), &run)
        );
        runs.push(run);
    }

    progress("stopping the ingest node");
    let status = node.stop().await?;
    if !status.success() {
        progress(&format!("the ingest node exited with {status}"));
    }
    Ok(runs)
}

/// Drives one phase: warmup, then the measured window between two CPU snapshots.
async fn measure_phase(
    node: &Node,
    clock: Clock,
    target: Arc<Target>,
    shape: Shape,
    args: &BenchIngestArgs,
) -> anyhow::Result<PhaseFigures> {
    let began = Instant::now();
    let window = Window {
        start: began + args.warmup,
        end: began + args.warmup + args.duration,
    };
    let load = tokio::spawn(load::drive(target, Arc::new(shape), window));
    tokio::time::sleep_until(window.start.into()).await;
    let before = Snapshot::take(clock, node.pid())?;
    tokio::time::sleep_until(window.end.into()).await;
    let after = Snapshot::take(clock, node.pid())?;
    let counts = load.await.context("the bench load panicked")??;
    Ok(PhaseFigures::new(&counts, window, &before, &after))
}

/// What the figures mean, printed after the summary.
fn footer() -> String {
    format!(
        "baseline: POST /v1/bench/baseline reads and decodes the CloudEvents, then discards them.\n\
         ingest: POST /v1/events authenticates, throttles, validates and waits for Kafka's acks.\n\
         The bench, the ingest node and the broker share this machine's cores: events/s is bounded\n\
         by the bench's own CPU, and in the ingest phase by the broker's acknowledgements too\n\
         (\"other processes\" is mostly the broker). Events/s per ingest-node core (accepted events\n\
         per CPU-second of the node) and the ratios measured in the same run are the figures to\n\
         compare. Targets: >= {} events/s per ingest-node core; >= {} of the baseline.",
        grouped(report::TARGET_EVENTS_PER_CORE as u64),
        report::TARGET_BASELINE_RATIO
    )
}
