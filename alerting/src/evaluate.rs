//! Evaluation: what each rule's series measure at an instant ([`observe`]), and the step of
//! every series of a rule through the state machine, written with its transitions in one
//! transaction that holds the rule ([`Evaluator::rule`]).
//!
//! - *threshold*: the meter's aggregation over the rule's window, ending with the current
//!   minute, per subject or per value of a group; a series without events in the window does
//!   not breach.
//! - *absence*: each subject's newest event of the type, looked for over the rule's `after`
//!   and an hour more; a subject silent for `after` breaches, and so does one already alerting
//!   that is no longer seen at all.
//! - *quota*: the tenant's events this month (UTC) against its monthly quota, one series per
//!   percent; a tenant without a monthly quota has no series.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use tally_meter::analytics::Analytics;
use tally_meter::catalog::{Catalog, meters, quotas};
use tally_meter::meter::Aggregation;
use tally_meter::quota::{Limits, period_of};
use tally_meter::usage::floor_minute;
use tally_meter::{Error, Result};

use crate::catalog::series::{self, StoredSeries};
use crate::catalog::{rules, transitions};
use crate::rule::{By, Condition, Labels, Rule};
use crate::state::{self, State};

/// How long a resolved series is kept (and listed) before it is forgotten.
const RESOLVED_KEPT: Duration = Duration::days(1);

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
}

impl Evaluator {
    /// Evaluates at `at` every rule no process evaluated since `before`.
    pub async fn due(&self, at: DateTime<Utc>, before: DateTime<Utc>) -> Result<Report> {
        let mut report = Report::default();
        for rule in rules::due(&self.catalog, before).await? {
            let started = std::time::Instant::now();
            match self.rule(&rule, at, before).await {
                Ok(Some(transitions)) => {
                    report.evaluated += 1;
                    report.transitions += transitions;
                }
                Ok(None) => report.skipped += 1,
                Err(error) => {
                    metrics::counter!("tally_alerting_rule_failures_total").increment(1);
                    tracing::warn!(rule = %rule.spec.name, tenant_id = %rule.tenant_id, %error,
                        "alert rule not evaluated");
                    report.failed.push(format!("{}: {error}", rule.spec.name));
                }
            }
            metrics::histogram!("tally_alerting_rule_evaluation_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        Ok(report)
    }

    /// Evaluates one rule at `at` unless another process holds it or evaluated it since
    /// `before`; returns the number of transitions, or `None` when it was left alone.
    pub async fn rule(
        &self,
        rule: &Rule,
        at: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Result<Option<u64>> {
        let observed = observe(self, rule, at).await?;
        let mut transaction = self.catalog.begin().await?;
        if !rules::claim(&mut transaction, rule.id, before).await? {
            return Ok(None);
        }
        let stored = series::of_rule(&mut transaction, rule.id).await?;
        let timing = rule.spec.timing();
        let mut seen: HashMap<String, (Labels, Option<Decimal>, bool)> = HashMap::new();
        for observation in observed {
            let own: Vec<(&str, &str)> = observation
                .own
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            let labels = Labels::of(rule, &own);
            seen.insert(
                labels.series_key(rule),
                (labels, observation.value, observation.breaching),
            );
        }
        // A series alerting before and not measured now: still silent for an absence rule,
        // not breaching for the others.
        let silent_breaches = matches!(rule.spec.condition, Condition::Absence { .. });
        for (key, series) in &stored {
            seen.entry(key.clone())
                .or_insert_with(|| (series.labels.clone(), None, silent_breaches));
        }
        let mut transitions_made = 0;
        for (key, (labels, value, breaching)) in seen {
            let before_step = stored
                .get(&key)
                .map_or_else(|| state::Series::new(at), |series| series.state);
            let (after_step, transition) = state::step(before_step, breaching, at, timing);
            if let Some(transition) = transition {
                transitions::record(
                    &mut transaction,
                    &transitions::New {
                        tenant_id: rule.tenant_id,
                        rule_id: rule.id,
                        rule_name: &rule.spec.name,
                        series: &key,
                        labels: &labels.0,
                        from: transition.from,
                        to: transition.to,
                        at,
                        value,
                    },
                )
                .await?;
                transitions_made += 1;
            }
            let forgotten = after_step.state == State::Inactive
                || (after_step.state == State::Resolved && at - after_step.since > RESOLVED_KEPT);
            if forgotten {
                if stored.contains_key(&key) {
                    series::forget(&mut transaction, rule.id, &key).await?;
                }
            } else {
                series::save(
                    &mut transaction,
                    rule.tenant_id,
                    rule.id,
                    &StoredSeries {
                        series: key,
                        labels,
                        state: after_step,
                        value,
                        evaluated_at: at,
                    },
                )
                .await?;
            }
        }
        rules::evaluated(&mut transaction, rule.id, at).await?;
        transaction.commit().await?;
        Ok(Some(transitions_made))
    }
}

/// Measures a rule's series at `at`.
pub async fn observe(
    evaluator: &Evaluator,
    rule: &Rule,
    at: DateTime<Utc>,
) -> Result<Vec<Observation>> {
    match &rule.spec.condition {
        Condition::Threshold {
            meter,
            window,
            op,
            value,
            by,
        } => {
            let meter = meters::find(&evaluator.catalog, rule.tenant_id, meter)
                .await
                .map_err(|error| match error {
                    Error::NotFound(_) => Error::Invalid(format!(
                        "the rule watches meter {meter}, which the tenant no longer has"
                    )),
                    error => error,
                })?;
            let aggregation = meter.spec.aggregation;
            let end = floor_minute(at) + Duration::minutes(1);
            let start = end - Duration::from_std(*window).unwrap_or(Duration::MAX);
            let split = match by {
                By::Subject => None,
                By::Group(group) => Some(group.as_str()),
            };
            let totals = evaluator
                .analytics
                .totals_by_subject(&meter, (start, end), split)
                .await?;
            // Per series: events and the merged partial (a sum, or an extreme).
            let mut merged: BTreeMap<(String, String), (u64, Option<Decimal>)> = BTreeMap::new();
            for total in totals {
                let key = match by {
                    By::Subject => ("subject".to_owned(), total.subject),
                    By::Group(group) => (group.clone(), total.group_value),
                };
                let entry = merged.entry(key).or_default();
                entry.0 += total.events;
                entry.1 = match (entry.1, total.partial) {
                    (None, partial) | (partial, None) => partial,
                    (Some(old), Some(new)) => Some(match aggregation {
                        Aggregation::Min => old.min(new),
                        Aggregation::Max => old.max(new),
                        _ => old.checked_add(new).ok_or_else(|| {
                            Error::Invalid("the window's sum overflows".to_owned())
                        })?,
                    }),
                };
            }
            Ok(merged
                .into_iter()
                .filter_map(|(own, (events, partial))| {
                    let measured = match aggregation {
                        Aggregation::Count => Some(Decimal::from(events)),
                        Aggregation::Avg => {
                            partial.and_then(|sum| sum.checked_div(Decimal::from(events)))
                        }
                        _ => partial,
                    }?;
                    Some(Observation {
                        own: vec![own],
                        value: Some(measured),
                        breaching: op.breaches(measured, *value),
                    })
                })
                .collect())
        }
        Condition::Absence { event_type, after } => {
            let after = Duration::from_std(*after).unwrap_or(Duration::MAX);
            let since = at - after - Duration::hours(1);
            Ok(last_seen(&evaluator.analytics, rule, event_type, since)
                .await?
                .into_iter()
                .map(|(subject, last)| {
                    let silent = at - last;
                    Observation {
                        own: vec![("subject".to_owned(), subject)],
                        value: Some(Decimal::from(silent.num_seconds())),
                        breaching: silent >= after,
                    }
                })
                .collect())
        }
        Condition::Quota { percents } => {
            let limits = quotas::get(&evaluator.catalog, rule.tenant_id)
                .await?
                .unwrap_or(evaluator.default_limits);
            let Some(monthly) = limits.monthly_events.filter(|monthly| *monthly > 0) else {
                return Ok(Vec::new());
            };
            let used = quotas::usage(&evaluator.catalog, period_of(at))
                .await?
                .get(&rule.tenant_id)
                .copied()
                .unwrap_or(0);
            let percent_used =
                (Decimal::from(used) * Decimal::ONE_HUNDRED / Decimal::from(monthly)).round_dp(2);
            Ok(percents
                .iter()
                .map(|percent| Observation {
                    own: vec![("threshold".to_owned(), format!("{percent}%"))],
                    value: Some(percent_used),
                    breaching: u128::from(used) * 100 >= u128::from(*percent) * u128::from(monthly),
                })
                .collect())
        }
    }
}

/// Each subject's newest event of `event_type` ingested since `since`.
async fn last_seen(
    analytics: &Analytics,
    rule: &Rule,
    event_type: &str,
    since: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>> {
    #[derive(clickhouse::Row, Deserialize)]
    struct SeenRow {
        subject: String,
        last_ms: i64,
    }
    let rows: Vec<SeenRow> = analytics
        .client()
        .query(
            "SELECT subject, max(ingest_time_ms) AS last_ms FROM events_raw
             WHERE tenant_id = ? AND ingest_date >= toDate(?) AND ingest_time_ms >= ?
               AND type = ?
             GROUP BY subject",
        )
        .bind(rule.tenant_id.to_string())
        .bind(since.format("%Y-%m-%d").to_string())
        .bind(since.timestamp_millis())
        .bind(event_type)
        .fetch_all()
        .await
        .map_err(Error::from)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                row.subject,
                DateTime::from_timestamp_millis(row.last_ms).unwrap_or(since),
            )
        })
        .collect())
}
