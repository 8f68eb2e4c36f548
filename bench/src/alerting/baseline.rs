//! The baseline of `tally bench alerting`: rules evaluated one by one, as alerting did before
//! it batched them. Per rule: its meter found by key, one ClickHouse query
//! ([`Analytics::totals_by_subject`]), and a transaction of its own that takes an advisory
//! lock on the rule, checks that no process evaluated it since `before`, reads its series,
//! writes each changed series and transition with a statement of its own, and records the
//! rule's evaluation. The SQL is that of the catalog functions the batches replaced; the
//! merging of rows and the state machine are the batches' own ([`measure_threshold`],
//! [`step_rule`]), so only the queries differ.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sqlx::types::Json;
use tally_alerting::catalog::series::StoredSeries;
use tally_alerting::evaluate::{Part, measure_threshold, step_rule};
use tally_alerting::rule::{By, Condition, Labels, Rule};
use tally_alerting::state;
use tally_meter::analytics::Analytics;
use tally_meter::catalog::{Catalog, meters};
use tally_meter::ids::TenantId;
use tally_meter::usage::floor_minute;
use uuid::Uuid;

/// What the rules evaluated one by one did.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct OneByOne {
    /// Rules evaluated.
    pub(super) evaluated: u64,
    /// Transitions recorded.
    pub(super) transitions: u64,
}

/// Evaluates `rules` (threshold rules) one by one at `at`, each unless another process
/// holds it or evaluated it since `before`.
pub(super) async fn evaluate_one_by_one(
    catalog: &Catalog,
    analytics: &Analytics,
    rules: &[Rule],
    at: DateTime<Utc>,
    before: DateTime<Utc>,
) -> anyhow::Result<OneByOne> {
    let mut done = OneByOne::default();
    for rule in rules {
        if let Some(transitions) = evaluate(catalog, analytics, rule, at, before)
            .await
            .with_context(|| format!("rule {} one by one", rule.spec.name))?
        {
            done.evaluated += 1;
            done.transitions += transitions;
        }
    }
    Ok(done)
}

/// Evaluates one rule; returns its number of transitions, or `None` if it was left alone.
async fn evaluate(
    catalog: &Catalog,
    analytics: &Analytics,
    rule: &Rule,
    at: DateTime<Utc>,
    before: DateTime<Utc>,
) -> anyhow::Result<Option<u64>> {
    let Condition::Threshold {
        meter,
        window,
        op,
        value,
        by,
    } = &rule.spec.condition
    else {
        anyhow::bail!("the baseline evaluates threshold rules only");
    };
    let meter = meters::find(catalog, rule.tenant_id, meter).await?;
    let end = floor_minute(at) + Duration::minutes(1);
    let start = end - Duration::from_std(*window)?;
    let split = match by {
        By::Subject => None,
        By::Group(group) => Some(group.as_str()),
    };
    let totals = analytics
        .totals_by_subject(&meter, (start, end), split)
        .await?;
    let parts = totals.into_iter().map(|total| Part {
        own: match by {
            By::Subject => ("subject".to_owned(), total.subject),
            By::Group(group) => (group.clone(), total.group_value),
        },
        events: total.events,
        partial: total.partial,
    });
    let observed = measure_threshold(meter.spec.aggregation, *op, *value, parts)?;

    let mut transaction = catalog.begin().await?;
    let locked: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtext('tally.alert_rule'), hashtext($1::uuid::text))",
    )
    .bind(rule.id)
    .fetch_one(&mut *transaction)
    .await?;
    if !locked {
        return Ok(None);
    }
    let evaluated_at: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT evaluated_at FROM alert_rules WHERE id = $1")
            .bind(rule.id)
            .fetch_optional(&mut *transaction)
            .await?;
    if !matches!(evaluated_at, Some(last) if last.is_none_or(|last| last < before)) {
        return Ok(None);
    }
    let stored = stored_series(&mut transaction, rule.id).await?;
    let outcome = step_rule(rule, observed, &stored, at);
    for change in &outcome.transitions {
        sqlx::query(
            "INSERT INTO alert_transitions (tenant_id, rule_id, rule_name, series, labels,
                                            from_state, to_state, at, value)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(rule.tenant_id)
        .bind(rule.id)
        .bind(&rule.spec.name)
        .bind(&change.series)
        .bind(Json(&change.labels.0))
        .bind(change.from.as_str())
        .bind(change.to.as_str())
        .bind(at)
        .bind(change.value)
        .execute(&mut *transaction)
        .await?;
    }
    for key in &outcome.forgotten {
        sqlx::query("DELETE FROM alert_series WHERE rule_id = $1 AND series = $2")
            .bind(rule.id)
            .bind(key)
            .execute(&mut *transaction)
            .await?;
    }
    for series in &outcome.saved {
        save(&mut transaction, rule.tenant_id, rule.id, series).await?;
    }
    sqlx::query("UPDATE alert_rules SET evaluated_at = $2 WHERE id = $1")
        .bind(rule.id)
        .bind(at)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(Some(outcome.transitions.len() as u64))
}

/// A row of `alert_series`.
type SeriesRow = (
    String,
    Json<BTreeMap<String, String>>,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<Decimal>,
    DateTime<Utc>,
);

/// Every stored series of a rule, by key.
async fn stored_series(
    connection: &mut sqlx::PgConnection,
    rule: Uuid,
) -> anyhow::Result<BTreeMap<String, StoredSeries>> {
    let rows: Vec<SeriesRow> = sqlx::query_as(
        "SELECT series, labels, state, since, last_breach, value, evaluated_at
         FROM alert_series WHERE rule_id = $1",
    )
    .bind(rule)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(
            |(series, labels, state, since, last_breach, value, evaluated_at)| {
                let stored = StoredSeries {
                    series: series.clone(),
                    labels: Labels(labels.0),
                    state: state::Series {
                        state: state.parse()?,
                        since,
                        last_breach,
                    },
                    value,
                    evaluated_at,
                };
                Ok((series, stored))
            },
        )
        .collect()
}

/// Writes one series' state.
async fn save(
    connection: &mut sqlx::PgConnection,
    tenant: TenantId,
    rule: Uuid,
    series: &StoredSeries,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO alert_series (tenant_id, rule_id, series, labels, state, since, last_breach,
                                   value, evaluated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (rule_id, series) DO UPDATE SET
             labels = excluded.labels, state = excluded.state, since = excluded.since,
             last_breach = excluded.last_breach, value = excluded.value,
             evaluated_at = excluded.evaluated_at",
    )
    .bind(tenant)
    .bind(rule)
    .bind(&series.series)
    .bind(Json(&series.labels.0))
    .bind(series.state.state.as_str())
    .bind(series.state.since)
    .bind(series.state.last_breach)
    .bind(series.value)
    .bind(series.evaluated_at)
    .execute(connection)
    .await?;
    Ok(())
}
