//! `tally bench slo`: how long measuring many SLOs takes, every burn-rate window and window
//! so far of each, against the evaluation interval (issue 15).
//!
//! It migrates, creates `--tenants` bench tenants, each with `--slos-per-tenant` SLOs applied
//! with their alert rules as `tally slo apply` applies them: availability and latency
//! indicators, a third split by endpoint, windows of 28 days, the calendar month and 7 days
//! ([`load::Plan::spec`]). It writes their indicators' counts straight into the rollup tables,
//! minute, hour and day rows as the aggregator keeps them, over the last
//! weeks ([`load::History`]). Then, at one instant:
//!
//! - **`--passes` passes of [`status`]** over every SLO at once, as alert evaluation and the
//!   API measure them, whose median is the figure;
//! - **the baseline**: `--baseline-slos` SLOs measured one at a time, `status` of one SLO
//!   each, its time extrapolated to every SLO;
//! - **the exactness check**: every count the first pass read (each series' window so far and
//!   burn-rate windows) against the sum of the counts written over its range;
//! - **alert evaluation**: a first pass of [`Evaluator::due`] over the SLOs' rules, when
//!   every series is new, then `--passes` steady ones, one interval apart on the evaluation's
//!   clock.
//!
//! It prints the figures, with each time against the evaluation interval (`--interval`, or
//! `alerting.eval_interval_secs`), and fails, after printing, if a count differs from those
//! written or an alert pass did not evaluate every rule. The targets are `status` of every
//! SLO, and a steady alert pass, within one interval. The bench tenants are suspended at the
//! end.

mod figures;
mod load;

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tally_alerting::evaluate::Evaluator;
use tally_meter::analytics::Analytics;
use tally_meter::catalog::Catalog;
use tally_slo::catalog::Slo;
use tally_slo::status::{SloStatus, status};

use self::figures::{AlertPass, Baseline, Exactness, Figures};
use self::load::{Fleet, History, Plan, Series, series_of, write_counts};
use crate::cli::BenchSloArgs;
use crate::format::grouped;
use crate::{Setup, migrate_and_connect, print_figures, progress};

/// Runs the bench and prints its figures; fails, after printing them, if a count differs or
/// an alert pass left rules out.
pub async fn run(setup: &Setup, args: &BenchSloArgs) -> anyhow::Result<()> {
    let catalog = migrate_and_connect(setup).await?;
    let analytics = Analytics::new(&setup.clickhouse);
    let setup_started = Instant::now();
    let plan = Plan {
        tenants: args.tenants,
        slos_per_tenant: args.slos_per_tenant,
    };
    let mut fleet = Fleet::default();
    let measured = async {
        fleet.create(&catalog, plan).await?;
        measure(
            setup,
            args,
            plan,
            (&catalog, &analytics),
            &fleet,
            setup_started,
        )
        .await
    }
    .await;
    fleet.suspend(&catalog).await;
    let figures = measured?;
    print_figures(&figures.table(), &figures.problems())
}

/// Writes the counts of the SLOs of `fleet`, set up since `setup_started`, then times the
/// passes, the baseline and the alert passes, and checks the counts read.
async fn measure(
    setup: &Setup,
    args: &BenchSloArgs,
    plan: Plan,
    (catalog, analytics): (&Catalog, &Analytics),
    fleet: &Fleet,
    setup_started: Instant,
) -> anyhow::Result<Figures> {
    let interval = args
        .interval
        .unwrap_or_else(|| setup.alerting.eval_interval());
    let at = Utc::now();
    let history = History::new(at)?;
    progress(&format!(
        "writing the counts of {} SLOs",
        grouped(fleet.slos.len() as u64)
    ));
    let rows = write_counts(analytics, &fleet.slos, &history).await?;
    let setup_secs = setup_started.elapsed().as_secs_f64();

    let mut status_secs = Vec::new();
    let mut first = None;
    for pass in 1..=args.passes {
        progress(&format!("status of every SLO at once, pass {pass}"));
        let started = Instant::now();
        let statuses = status(analytics, &fleet.slos, at).await?;
        status_secs.push(started.elapsed().as_secs_f64());
        first.get_or_insert(statuses);
    }
    let series = series_of(&fleet.slos);
    let exactness = check(&history, &series, first.as_deref().unwrap_or_default());

    let sample = sample(&fleet.slos, args.baseline_slos);
    progress(&format!("status of {} SLOs one at a time", sample.len()));
    let started = Instant::now();
    for slo in &sample {
        status(analytics, std::slice::from_ref(*slo), at).await?;
    }
    let baseline = Baseline {
        slos: sample.len() as u64,
        secs: started.elapsed().as_secs_f64(),
    };

    let evaluator = Evaluator {
        catalog: catalog.clone(),
        analytics: analytics.clone(),
        default_limits: setup.default_limits,
        raw_retention_days: setup.meter.raw_retention_days,
    };
    let interval = Duration::from_std(interval)?;
    let mut alert_passes = Vec::new();
    for pass in (0..=args.passes).rev() {
        let pass_at: DateTime<Utc> = at - interval * i32::try_from(pass)?;
        progress(&format!("alert evaluation pass {}", alert_passes.len() + 1));
        let started = Instant::now();
        let report = evaluator.due(pass_at, pass_at - interval / 2).await?;
        alert_passes.push(AlertPass {
            secs: started.elapsed().as_secs_f64(),
            report,
        });
    }
    Ok(Figures {
        plan,
        series: series.iter().map(|one| one.len() as u64).sum(),
        interval_secs: interval.as_seconds_f64(),
        rows,
        setup_secs,
        status_secs,
        baseline,
        alert_passes,
        exactness,
    })
}

/// `count` SLOs (or every SLO, if fewer), spread evenly over `slos`.
fn sample(slos: &[Slo], count: u32) -> Vec<&Slo> {
    let stride = (slos.len() / count.max(1) as usize).max(1);
    slos.iter().step_by(stride).take(count as usize).collect()
}

/// Compares each count of `statuses` (one per SLO, with its `series`) with the sum over its
/// range of the counts `history` wrote: every series' window so far and burn-rate windows.
fn check(history: &History, series: &[Vec<Series>], statuses: &[SloStatus]) -> Exactness {
    let mut exactness = Exactness::default();
    for (measured, written) in statuses.iter().zip(series) {
        exactness.slos += 1;
        let name = &measured.slo.spec.name;
        let mut groups: Vec<Option<&str>> = measured
            .series
            .iter()
            .map(|one| one.group.as_deref())
            .collect();
        let mut expected_groups: Vec<Option<&str>> = written.iter().map(|one| one.group).collect();
        groups.sort_unstable();
        expected_groups.sort_unstable();
        if groups != expected_groups {
            exactness.differences.push(format!(
                "{name} of tenant {}: series {groups:?}, not {expected_groups:?}",
                measured.slo.tenant_id
            ));
            continue;
        }
        let end = measured.window.1;
        for one in &measured.series {
            let Some(expected) = written
                .iter()
                .find(|written| written.group == one.group.as_deref())
            else {
                continue;
            };
            let window = history.expected(expected.ordinal, measured.window);
            let mut compared = vec![(
                "window so far".to_owned(),
                (one.budget.total, one.budget.bad),
                (window.total, window.bad()),
            )];
            for rate in &one.burn_rates {
                let range = (
                    end - Duration::from_std(rate.window).unwrap_or(Duration::MAX),
                    end,
                );
                let counts = history.expected(expected.ordinal, range);
                compared.push((
                    format!("last {}", humantime::format_duration(rate.window)),
                    (rate.counts.total, rate.counts.bad()),
                    (counts.total, counts.bad()),
                ));
            }
            for (range, read, wrote) in compared {
                exactness.counts += 1;
                if read != wrote {
                    exactness.differences.push(format!(
                        "{name} ({:?}) over the {range}: (total, bad) read {read:?}, written \
                         {wrote:?}",
                        one.group
                    ));
                }
            }
        }
    }
    exactness
}
