//! Evaluation: every due rule's series measured at an instant ([`observe`]), stepped through
//! the state machine ([`step_rule`]), and written with their transitions, in batches of rules
//! ([`Evaluator::due`]).
//!
//! A pass takes the due rules [`BATCH_RULES`] at a time inside a transaction that locks their
//! rows and skips rows another process holds ([`rules::claim_due`]); it measures the batch
//! (one ClickHouse query per window length and aggregation for its threshold rules), reads
//! the batch's stored series, and writes the states of the series worth keeping, forgets the
//! others, records the transitions and marks the rules evaluated, with one statement each,
//! before it commits. So two processes side by side never evaluate a rule at once, a rule
//! another process evaluated since the pass's `before` is not taken, and a crash loses a
//! batch's states and transitions together, to be evaluated again. A rule that cannot be
//! measured, or whose writes fail, is left due and reported, and the rest of its batch is
//! written. `tally_alerting_rule_evaluation_seconds` records each rule's share of its batch's
//! time.

mod observe;
mod step;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{Acquire, PgConnection, Postgres, Transaction};
use tally_meter::Result;
use tally_meter::analytics::Analytics;
use tally_meter::catalog::Catalog;
use tally_meter::quota::Limits;
use uuid::Uuid;

pub use self::observe::{Part, measure_threshold};
pub use self::step::{Change, Outcome, step_rule};
use crate::catalog::series::{self, RuleSeries};
use crate::catalog::{rules, transitions};
use crate::rule::Rule;

/// Most rules one transaction takes and evaluates.
const BATCH_RULES: i64 = 1000;

/// A rule's result, or why it failed.
type PerRule<T> = std::result::Result<T, String>;

/// One series as measured now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The labels that tell the rule's series apart, such as `subject`.
    pub own: Vec<(String, String)>,
    /// The value compared, if any.
    pub value: Option<Decimal>,
    /// Whether it breaches.
    pub breaching: bool,
}

/// What one pass over the due rules did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Rules this process evaluated.
    pub evaluated: u64,
    /// Rules another process held or had just evaluated.
    pub skipped: u64,
    /// Transitions recorded.
    pub transitions: u64,
    /// Rules that failed, with the reason.
    pub failed: Vec<String>,
}

/// Evaluates rules against the stores.
#[derive(Clone)]
pub struct Evaluator {
    /// Rules, series and transitions; quotas.
    pub catalog: Catalog,
    /// Rollups and raw events.
    pub analytics: Analytics,
    /// The limits of tenants without their own.
    pub default_limits: Limits,
    /// How many days raw events are kept (`meter.raw_retention_days`), which prices the
    /// platform tenant's stored GB-hours for its spend rules.
    pub raw_retention_days: u32,
}

impl Evaluator {
    /// Evaluates at `at` every rule no process evaluated since `before` (at the latest
    /// `at`), batch by batch, until no due rule is left that another process does not hold.
    pub async fn due(&self, at: DateTime<Utc>, before: DateTime<Utc>) -> Result<Report> {
        let before = before.min(at);
        let due = rules::count_due(&self.catalog, before).await?;
        let mut report = Report::default();
        // Rules that failed in this pass: still due, and not taken again until the next.
        let mut passed_over: Vec<Uuid> = Vec::new();
        loop {
            let started = std::time::Instant::now();
            let mut transaction = self.catalog.begin().await?;
            let batch =
                rules::claim_due(&mut transaction, before, &passed_over, BATCH_RULES).await?;
            if batch.is_empty() {
                break;
            }
            let results = match self.batch(&mut transaction, &batch, at).await {
                Ok(results) => match transaction.commit().await {
                    Ok(()) => results,
                    Err(error) => vec![Err(error.to_string()); batch.len()],
                },
                Err(error) => vec![Err(error.to_string()); batch.len()],
            };
            let evaluated = results.iter().filter(|result| result.is_ok()).count();
            let per_rule = started.elapsed().as_secs_f64() / evaluated.max(1) as f64;
            for (rule, result) in batch.iter().zip(results) {
                match result {
                    Ok(transitions) => {
                        report.evaluated += 1;
                        report.transitions += transitions;
                        metrics::histogram!("tally_alerting_rule_evaluation_seconds")
                            .record(per_rule);
                    }
                    Err(error) => {
                        metrics::counter!("tally_alerting_rule_failures_total").increment(1);
                        tracing::warn!(rule = %rule.spec.name, tenant_id = %rule.tenant_id,
                            %error, "alert rule not evaluated");
                        report.failed.push(format!("{}: {error}", rule.spec.name));
                        passed_over.push(rule.id);
                    }
                }
            }
        }
        report.skipped = due.saturating_sub(report.evaluated + report.failed.len() as u64);
        Ok(report)
    }

    /// Evaluates a batch of rules taken in `transaction` and writes what changed, without
    /// committing; returns each rule's number of transitions, or why it failed.
    async fn batch(
        &self,
        transaction: &mut Transaction<'static, Postgres>,
        batch: &[Rule],
        at: DateTime<Utc>,
    ) -> Result<Vec<PerRule<u64>>> {
        let observed = observe::observe(self, transaction, batch, at).await;
        let measured: Vec<Uuid> = batch
            .iter()
            .zip(&observed)
            .filter(|(_, observed)| observed.is_ok())
            .map(|(rule, _)| rule.id)
            .collect();
        let mut stored = series::of_rules(transaction, &measured).await?;
        let outcomes: Vec<PerRule<Outcome>> = batch
            .iter()
            .zip(observed)
            .map(|(rule, observed)| {
                let stored = stored.remove(&rule.id).unwrap_or_default();
                observed.map(|observed| step_rule(rule, observed, &stored, at))
            })
            .collect();
        write(transaction, batch, outcomes, at).await
    }
}

/// Writes the outcomes of a batch, each failed rule left out: all in one go, or, should that
/// fail, rule by rule (each in a savepoint), so that a rule whose writes fail leaves the
/// rest written. Returns each rule's number of transitions, or why it failed.
async fn write(
    transaction: &mut Transaction<'static, Postgres>,
    batch: &[Rule],
    outcomes: Vec<PerRule<Outcome>>,
    at: DateTime<Utc>,
) -> Result<Vec<PerRule<u64>>> {
    let measured: Vec<(&Rule, &Outcome)> = batch
        .iter()
        .zip(&outcomes)
        .filter_map(|(rule, outcome)| Some((rule, outcome.as_ref().ok()?)))
        .collect();
    let mut savepoint = transaction.begin().await?;
    let mut failed: HashMap<Uuid, String> = HashMap::new();
    match write_outcomes(&mut savepoint, &measured, at).await {
        Ok(()) => savepoint.commit().await?,
        Err(error) => {
            savepoint.rollback().await?;
            tracing::warn!(%error, rules = measured.len(),
                "the writes of a batch of alert rules failed; writing its rules one by one");
            for (rule, outcome) in &measured {
                let mut savepoint = transaction.begin().await?;
                match write_outcomes(&mut savepoint, &[(rule, outcome)], at).await {
                    Ok(()) => savepoint.commit().await?,
                    Err(error) => {
                        savepoint.rollback().await?;
                        failed.insert(rule.id, error.to_string());
                    }
                }
            }
        }
    }
    Ok(batch
        .iter()
        .zip(outcomes)
        .map(|(rule, outcome)| {
            let outcome = outcome?;
            match failed.remove(&rule.id) {
                Some(error) => Err(error),
                None => Ok(outcome.transitions.len() as u64),
            }
        })
        .collect())
}

/// Writes the saved and forgotten series, the transitions, and the rules' evaluation time of
/// `measured`, with one statement each.
async fn write_outcomes(
    connection: &mut PgConnection,
    measured: &[(&Rule, &Outcome)],
    at: DateTime<Utc>,
) -> Result<()> {
    let mut saved = Vec::new();
    let mut forgotten = Vec::new();
    let mut changes = Vec::new();
    for (rule, outcome) in measured {
        saved.extend(outcome.saved.iter().map(|series| RuleSeries {
            tenant_id: rule.tenant_id,
            rule_id: rule.id,
            series,
        }));
        forgotten.extend(outcome.forgotten.iter().map(|key| (rule.id, key.clone())));
        changes.extend(outcome.transitions.iter().map(|change| transitions::New {
            tenant_id: rule.tenant_id,
            rule_id: rule.id,
            rule_name: &rule.spec.name,
            series: &change.series,
            labels: &change.labels.0,
            from: change.from,
            to: change.to,
            at,
            value: change.value,
        }));
    }
    let ids: Vec<Uuid> = measured.iter().map(|(rule, _)| rule.id).collect();
    series::save(connection, &saved).await?;
    series::forget(connection, &forgotten).await?;
    transitions::record(connection, &changes).await?;
    rules::evaluated(connection, &ids, at).await?;
    Ok(())
}
