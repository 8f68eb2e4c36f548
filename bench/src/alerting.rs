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
//! It prints each pass's rules, transitions and time, rules/s, the pass time against
//! `alerting.eval_interval_secs`, the baseline's rules/s, the time a pass of every rule would
//! take at that rate, and the ratio. It fails, after printing, if a rule failed, a pass left
//! a rule out, or the cold pass's transitions are not the breaching series. The target is a
//! steady pass within one interval. The bench tenants are suspended at the end.

mod baseline;
mod figures;
mod load;

use std::time::Instant;

use anyhow::{Context, bail};
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
use crate::{Setup, migrate_and_connect, progress};

/// Runs the bench and prints its figures; fails, after printing them, if the passes did not
/// evaluate every rule as expected.
pub async fn run(setup: &Setup, args: &BenchAlertingArgs) -> anyhow::Result<()> {
    let catalog = migrate_and_connect(setup).await?;
    let analytics = Analytics::new(&setup.clickhouse);
    let plan = Plan::new(args);
    let setup_started = Instant::now();
    let mut fleet = Fleet::default();
    let measured = match fleet.create(&catalog, plan).await {
        Ok(()) => measure(setup, args, (&catalog, &analytics), &fleet, setup_started).await,
        Err(error) => Err(error),
    };
    fleet.suspend(&catalog).await;
    let figures = measured?;
    println!("{}", figures.table());
    let problems = figures.problems();
    if !problems.is_empty() {
        for problem in &problems {
            println!("!! {problem}");
        }
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// Creates the rules and rollups of the tenants of `fleet`, set up since `setup_started`, and
/// runs the passes and the baseline.
async fn measure(
    setup: &Setup,
    args: &BenchAlertingArgs,
    (catalog, analytics): (&Catalog, &Analytics),
    fleet: &Fleet,
    setup_started: Instant,
) -> anyhow::Result<Figures> {
    let plan = Plan::new(args);
    let interval = Duration::from_std(setup.alerting.eval_interval())?;
    let half = interval / 2;
    // The evaluation's clock: the cold pass now, then one pass an interval, then the baseline.
    let start = Utc::now();
    let instants: Vec<DateTime<Utc>> = (0..=args.passes + 1)
        .map(|pass| start + interval * i32::try_from(pass).unwrap_or(i32::MAX))
        .collect();
    let last = *instants.last().context("an instant")?;

    progress(&format!(
        "creating {} rules and writing the rollups",
        grouped(plan.rules())
    ));
    create_rules(catalog, &fleet.meters, plan).await?;
    write_rollups(analytics, &fleet.meters, plan, (start, last)).await?;
    let setup_secs = setup_started.elapsed().as_secs_f64();

    let evaluator = Evaluator {
        catalog: catalog.clone(),
        analytics: analytics.clone(),
        default_limits: setup.default_limits,
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
    Ok(Figures {
        plan,
        interval_secs: setup.alerting.eval_interval().as_secs_f64(),
        setup_secs,
        series: plan.series()?,
        passes,
        baseline,
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
