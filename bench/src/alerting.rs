//! `tally bench alerting`: how long a full evaluation pass over many threshold rules takes,
//! against the evaluation interval.
//!
//! It migrates, creates `--tenants` bench tenants, each with a MAX meter grouped by region,
//! and `--rules-per-tenant` threshold rules each (loaded with one SQL statement: the setup is
//! not what is measured): windows of 1 and 5 minutes, `>` and `<`, per subject and per region,
//! firing at once or after 30 s ([`load::Plan::rule`]). It writes rollup rows straight into
//! ClickHouse in which each of `--subjects` subjects per tenant has the same value in every
//! minute the passes read, so that a known share of the series breach. Then it times, with
//! [`Evaluator::due`] as the alerting role calls it, one interval apart on the evaluation's
//! clock:
//!
//! - **the cold pass**: every series is new, and each breaching one makes a transition;
//! - **`--passes` steady passes**, whose median is the figure: every alerting series is
//!   stored, read and written again;
//! - **the baseline**: `--baseline-rules` rules evaluated one query per rule and one
//!   transaction each, as before batching ([`baseline`]), one interval later.
//!
//! The clock of these passes ends when the bench starts, so that every rule is due again
//! when, last, **the delivery phase** ([`delivery`]) runs the alerting role in real time over
//! them and the rules of `--latency-tenants` more tenants, whose subjects breach one by one,
//! and times each breach until its notification reaches a webhook.
//!
//! It prints each pass's rules, transitions and time, rules/s, the pass time against
//! `alerting.eval_interval_secs`, the baseline's rules/s, the time a pass of every rule would
//! take at that rate, the ratio, and the delivery latencies. It fails, after printing, if a
//! rule failed, a pass left a rule out, the cold pass's transitions are not the breaching
//! series, or a breach was not notified. The targets are a steady pass within one interval,
//! and a p95 delivery latency below the interval, `group_wait` and 2 s. The bench tenants are
//! suspended at the end.

mod baseline;
mod delivery;
mod figures;
mod load;

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tally_alerting::catalog::rules;
use tally_alerting::evaluate::Evaluator;
use tally_alerting::rule::Rule;
use tally_meter::analytics::Analytics;
use tally_meter::catalog::Catalog;

use self::baseline::evaluate_one_by_one;
use self::figures::{Baseline, Figures, Pass};
use self::load::{Fleet, Plan, create_rules, write_rollups};
use crate::cli::BenchAlertingArgs;
use crate::format::grouped;
use crate::{Setup, migrate_and_connect, print_figures, progress};

/// How long after the bench starts the fleet's rollups last: past the delivery phase.
const DELIVERY_ROLLUPS: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Runs the bench and prints its figures; fails, after printing them, if the passes did not
/// evaluate every rule as expected.
pub async fn run(setup: &Setup, args: &BenchAlertingArgs) -> anyhow::Result<()> {
    let catalog = migrate_and_connect(setup).await?;
    let analytics = Analytics::new(&setup.clickhouse);
    let setup_started = Instant::now();
    let mut fleet = Fleet::default();
    let mut latency = Fleet::default();
    let measured = async {
        fleet.create(&catalog, args.tenants).await?;
        latency.create(&catalog, args.latency_tenants).await?;
        measure(
            setup,
            args,
            (&catalog, &analytics),
            (&fleet, &latency),
            setup_started,
        )
        .await
    }
    .await;
    fleet.suspend(&catalog).await;
    latency.suspend(&catalog).await;
    let figures = measured?;
    print_figures(&figures.table(), &figures.problems())
}

/// Creates the rules and rollups of the tenants of `fleet`, set up since `setup_started`,
/// runs the passes and the baseline, and then the delivery phase with the tenants of
/// `latency`.
async fn measure(
    setup: &Setup,
    args: &BenchAlertingArgs,
    (catalog, analytics): (&Catalog, &Analytics),
    (fleet, latency): (&Fleet, &Fleet),
    setup_started: Instant,
) -> anyhow::Result<Figures> {
    let plan = Plan::new(args);
    let interval = Duration::from_std(setup.alerting.eval_interval())?;
    let half = interval / 2;
    // The evaluation's clock, in the past: the cold pass, one pass an interval, then the
    // baseline now. The rollups last long enough for the delivery phase's passes.
    let last = Utc::now();
    let instants: Vec<DateTime<Utc>> = (0..=args.passes + 1)
        .rev()
        .map(|pass| last - interval * i32::try_from(pass).unwrap_or(i32::MAX))
        .collect();
    let start = instants[0];
    let rollups_until = last + Duration::from_std(DELIVERY_ROLLUPS)?;

    progress(&format!(
        "creating {} rules and writing the rollups",
        grouped(plan.rules())
    ));
    create_rules(catalog, &fleet.meters, plan).await?;
    write_rollups(analytics, &fleet.meters, plan, (start, rollups_until)).await?;
    let setup_secs = setup_started.elapsed().as_secs_f64();

    let evaluator = Evaluator {
        catalog: catalog.clone(),
        analytics: analytics.clone(),
        default_limits: setup.default_limits,
        raw_retention_days: setup.meter.raw_retention_days,
    };
    let mut passes = Vec::new();
    for (number, at) in instants[..instants.len() - 1].iter().enumerate() {
        progress(&format!("evaluation pass {}", number + 1));
        let started = Instant::now();
        let report = evaluator.due(*at, *at - half).await?;
        passes.push(Pass {
            secs: started.elapsed().as_secs_f64(),
            report,
        });
    }

    let sample = sample_rules(catalog, fleet, plan, args.baseline_rules).await?;
    progress(&format!(
        "evaluating {} rules one by one, as before batching",
        sample.len()
    ));
    let started = Instant::now();
    let one_by_one = evaluate_one_by_one(catalog, analytics, &sample, last, last - half).await?;
    let baseline = Baseline {
        rules: sample.len() as u64,
        secs: started.elapsed().as_secs_f64(),
        done: one_by_one,
    };
    let delivery = if latency.meters.is_empty() {
        None
    } else {
        Some(
            delivery::measure(
                &evaluator,
                &setup.alerting,
                &latency.meters,
                args.group_wait,
            )
            .await?,
        )
    };
    Ok(Figures {
        plan,
        interval_secs: setup.alerting.eval_interval().as_secs_f64(),
        setup_secs,
        series: plan.series()?,
        passes,
        baseline,
        delivery,
    })
}

/// `count` rules (or every rule, if fewer), all the rules of tenants spread evenly over the
/// fleet.
async fn sample_rules(
    catalog: &Catalog,
    fleet: &Fleet,
    plan: Plan,
    count: u32,
) -> anyhow::Result<Vec<Rule>> {
    let tenants_needed = count.div_ceil(plan.rules_per_tenant).max(1) as usize;
    let stride = (fleet.meters.len() / tenants_needed).max(1);
    let mut sample = Vec::new();
    for meter in fleet.meters.iter().step_by(stride) {
        if sample.len() >= count as usize {
            break;
        }
        sample.extend(rules::list(catalog, meter.tenant_id).await?);
    }
    sample.truncate(count as usize);
    Ok(sample)
}
