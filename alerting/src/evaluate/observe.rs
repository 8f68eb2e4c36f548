//! What the series of a batch of rules measure at an instant ([`observe`]):
//!
//! - *threshold*: the meter's aggregation over the rule's window, ending with the current
//!   minute, per subject or per value of a group; a series without events in the window does
//!   not breach. One query per window length and aggregation answers for every threshold rule
//!   of the batch ([`Analytics::window_totals`]), and each rule merges its meter's rows
//!   ([`measure_threshold`]).
//! - *absence*: each subject's newest event of the type, looked for over the rule's `after`
//!   and an hour more, one query per rule; a subject silent for `after` breaches, and so does
//!   one already alerting that is no longer seen at all.
//! - *quota*: the tenant's events this month (UTC) against its monthly quota, one series per
//!   percent; a tenant without a monthly quota has no series. Every tenant's usage is read
//!   once per batch.
//! - *spend*: a billing customer's usage charges in its current periods so far, priced as
//!   its upcoming invoices price them ([`Run::usage_so_far`]), against the rule's budget, one
//!   series per percent; a customer that no longer exists has no series.
//! - *slo*: the SLO's alert tiers ([`tally_slo::status`]), one series per tier and group
//!   value, breaching while the tier fires; the batch's SLOs are read with one query and
//!   measured together. A series carries the tier's `severity` and its `factor`, by which a
//!   firing tier inhibits the slower tiers of its series ([`crate::notify::routing`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use sqlx::PgConnection;
use tally_billing::catalog::customers;
use tally_billing::run::Run;
use tally_meter::analytics::Analytics;
use tally_meter::analytics::windows::{WindowTotal, group_index};
use tally_meter::audit::Actor;
use tally_meter::catalog::quotas;
use tally_meter::ids::{MeterId, TenantId};
use tally_meter::meter::{Aggregation, Meter};
use tally_meter::quota::period_of;
use tally_meter::usage::floor_minute;
use tally_meter::{Error, Result};
use tally_slo::catalog::{self as slos, Slo};
use tally_slo::status::{SloStatus, status};

use super::{Evaluator, Observation, PerRule};
use crate::catalog::rules;
use crate::rule::{By, Comparison, Condition, Rule};

/// A rule's series as measured, or why they could not be.
pub(super) type Measured = PerRule<Vec<Observation>>;

/// Measures the series of `rules` at `at`, in their order; `connection` is the batch's
/// transaction, which reads the meters the threshold rules watch. A query that fails fails
/// the rules it serves, not the others.
pub(super) async fn observe(
    evaluator: &Evaluator,
    connection: &mut PgConnection,
    rules: &[Rule],
    at: DateTime<Utc>,
) -> Vec<Measured> {
    let mut measured: Vec<Option<Measured>> = vec![None; rules.len()];
    let thresholds: Vec<usize> = (0..rules.len())
        .filter(|index| matches!(rules[*index].spec.condition, Condition::Threshold { .. }))
        .collect();
    if !thresholds.is_empty() {
        let ids: Vec<_> = thresholds.iter().map(|index| rules[*index].id).collect();
        match rules::watched_meters(connection, &ids).await {
            Ok(meters) => {
                let observed = thresholds_at(evaluator, rules, &thresholds, &meters, at).await;
                for (index, observed) in observed {
                    measured[index] = Some(observed);
                }
            }
            Err(error) => {
                for index in &thresholds {
                    measured[*index] = Some(Err(error.to_string()));
                }
            }
        }
    }
    let slo_rules: Vec<usize> = (0..rules.len())
        .filter(|index| matches!(rules[*index].spec.condition, Condition::Slo { .. }))
        .collect();
    if !slo_rules.is_empty() {
        for (index, observed) in slos_at(evaluator, rules, &slo_rules, at).await {
            measured[index] = Some(observed);
        }
    }
    // Every tenant's events this month, read for the first quota rule.
    let mut usage: Option<PerRule<HashMap<TenantId, u64>>> = None;
    for (index, rule) in rules.iter().enumerate() {
        let observed = match &rule.spec.condition {
            Condition::Threshold { .. } | Condition::Slo { .. } => continue,
            Condition::Absence { event_type, after } => {
                absence(&evaluator.analytics, rule, event_type, *after, at)
                    .await
                    .map_err(|error| error.to_string())
            }
            Condition::Quota { percents } => {
                let usage = match &usage {
                    Some(usage) => usage,
                    None => usage.insert(
                        quotas::usage(&evaluator.catalog, period_of(at))
                            .await
                            .map_err(|error| error.to_string()),
                    ),
                };
                match usage {
                    Ok(usage) => {
                        let used = usage.get(&rule.tenant_id).copied().unwrap_or(0);
                        quota(evaluator, rule, percents, used)
                            .await
                            .map_err(|error| error.to_string())
                    }
                    Err(error) => Err(error.clone()),
                }
            }
            Condition::Spend {
                customer,
                budget,
                percents,
            } => spend(evaluator, rule, (customer, *budget), percents, at)
                .await
                .map_err(|error| error.to_string()),
        };
        measured[index] = Some(observed);
    }
    measured
        .into_iter()
        .map(|observed| observed.unwrap_or_else(|| Err("not measured".to_owned())))
        .collect()
}

/// A threshold rule of the batch, ready to measure.
struct Watch<'a> {
    /// The rule's position in the batch.
    index: usize,
    /// The meter it watches.
    meter: &'a Meter,
    /// The label that tells its series apart, and where its value is in a row's
    /// `group_values` (none for subjects).
    by: (&'a str, Option<usize>),
    /// The comparison and the threshold.
    op: Comparison,
    threshold: Decimal,
}

/// Measures the threshold rules at `thresholds` (positions in `rules`), with one query per
/// window length and aggregation; returns each rule's position and series.
async fn thresholds_at(
    evaluator: &Evaluator,
    rules: &[Rule],
    thresholds: &[usize],
    meters: &HashMap<uuid::Uuid, Meter>,
    at: DateTime<Utc>,
) -> Vec<(usize, Measured)> {
    let mut measured = Vec::new();
    let mut by_window: BTreeMap<StdDuration, Vec<Watch<'_>>> = BTreeMap::new();
    for index in thresholds.iter().copied() {
        let rule = &rules[index];
        let Condition::Threshold {
            meter: key,
            window,
            op,
            value,
            by,
        } = &rule.spec.condition
        else {
            continue;
        };
        let Some(meter) = meters.get(&rule.id) else {
            measured.push((
                index,
                Err(format!(
                    "the rule watches meter {key}, which the tenant no longer has"
                )),
            ));
            continue;
        };
        let aggregation = meter.spec.aggregation;
        if !aggregation.merges_over_subjects() {
            measured.push((
                index,
                Err(format!("{aggregation} totals do not add up over subjects")),
            ));
            continue;
        }
        let by = match by {
            By::Subject => ("subject", None),
            By::Group(group) => match group_index(meter, group) {
                Ok(position) => (group.as_str(), Some(position)),
                Err(error) => {
                    measured.push((index, Err(error.to_string())));
                    continue;
                }
            },
        };
        by_window.entry(*window).or_default().push(Watch {
            index,
            meter,
            by,
            op: *op,
            threshold: *value,
        });
    }
    let end = floor_minute(at) + Duration::minutes(1);
    for (window, watches) in by_window {
        let start = end - Duration::from_std(window).unwrap_or(Duration::MAX);
        let mut watched: Vec<&Meter> = watches.iter().map(|watch| watch.meter).collect();
        watched.sort_by_key(|meter| meter.id);
        watched.dedup_by_key(|meter| meter.id);
        let totals = match evaluator
            .analytics
            .window_totals(&watched, (start, end))
            .await
        {
            Ok(totals) => totals,
            Err(error) => {
                let error = error.to_string();
                measured.extend(
                    watches
                        .iter()
                        .map(|watch| (watch.index, Err(error.clone()))),
                );
                continue;
            }
        };
        let mut by_meter: HashMap<MeterId, Vec<&WindowTotal>> = HashMap::new();
        for total in &totals {
            by_meter.entry(total.meter_id).or_default().push(total);
        }
        for watch in watches {
            let (label, position) = watch.by;
            let parts = by_meter
                .get(&watch.meter.id)
                .into_iter()
                .flatten()
                .map(|total| Part {
                    own: (
                        label.to_owned(),
                        match position {
                            None => total.subject.clone(),
                            Some(position) => total
                                .group_values
                                .get(position)
                                .cloned()
                                .unwrap_or_default(),
                        },
                    ),
                    events: total.events,
                    partial: total.partial,
                });
            let observed = measure_threshold(
                watch.meter.spec.aggregation,
                watch.op,
                watch.threshold,
                parts,
            );
            measured.push((watch.index, observed.map_err(|error| error.to_string())));
        }
    }
    measured
}

/// A share of one threshold series over the window: one subject's (and combination of group
/// values') events and partial aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The label that names the series and its value, such as `("subject", "s1")`.
    pub own: (String, String),
    /// Events counted.
    pub events: u64,
    /// The sum of values for SUM and AVG, the extreme for MIN and MAX, none for COUNT.
    pub partial: Option<Decimal>,
}

/// Merges the parts of each series of a threshold rule on a meter of `aggregation`, and
/// compares the series' values with `threshold`; a series without events has no value and
/// no observation.
pub fn measure_threshold(
    aggregation: Aggregation,
    op: Comparison,
    threshold: Decimal,
    parts: impl IntoIterator<Item = Part>,
) -> Result<Vec<Observation>> {
    // Per series: events and the merged partial (a sum, or an extreme).
    let mut merged: BTreeMap<(String, String), (u64, Option<Decimal>)> = BTreeMap::new();
    for part in parts {
        let entry = merged.entry(part.own).or_default();
        entry.0 += part.events;
        entry.1 = match (entry.1, part.partial) {
            (None, partial) | (partial, None) => partial,
            (Some(old), Some(new)) => Some(match aggregation {
                Aggregation::Min => old.min(new),
                Aggregation::Max => old.max(new),
                _ => old
                    .checked_add(new)
                    .ok_or_else(|| Error::Invalid("the window's sum overflows".to_owned()))?,
            }),
        };
    }
    Ok(merged
        .into_iter()
        .filter_map(|(own, (events, partial))| {
            let measured = match aggregation {
                Aggregation::Count => Some(Decimal::from(events)),
                Aggregation::Avg => partial.and_then(|sum| sum.checked_div(Decimal::from(events))),
                _ => partial,
            }?;
            Some(Observation {
                own: vec![own],
                value: Some(measured),
                breaching: op.breaches(measured, threshold),
            })
        })
        .collect())
}

/// Measures an absence rule: each subject seen since `after` and an hour more.
async fn absence(
    analytics: &Analytics,
    rule: &Rule,
    event_type: &str,
    after: StdDuration,
    at: DateTime<Utc>,
) -> Result<Vec<Observation>> {
    let after = Duration::from_std(after).unwrap_or(Duration::MAX);
    let since = at - after - Duration::hours(1);
    Ok(last_seen(analytics, rule, event_type, since)
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

/// Measures a quota rule, given the tenant's events this month.
async fn quota(
    evaluator: &Evaluator,
    rule: &Rule,
    percents: &[u32],
    used: u64,
) -> Result<Vec<Observation>> {
    let limits = quotas::get(&evaluator.catalog, rule.tenant_id)
        .await?
        .unwrap_or(evaluator.default_limits);
    let Some(monthly) = limits.monthly_events.filter(|monthly| *monthly > 0) else {
        return Ok(Vec::new());
    };
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

/// The series of the SLO rules of `rules` at `indices`, measured together: their SLOs read
/// with one query ([`slos::find_many`]) and measured at once; a rule whose SLO no longer
/// exists has none.
async fn slos_at(
    evaluator: &Evaluator,
    rules: &[Rule],
    indices: &[usize],
    at: DateTime<Utc>,
) -> Vec<(usize, Measured)> {
    let watched: Vec<(usize, (TenantId, String))> = indices
        .iter()
        .filter_map(|index| match &rules[*index].spec.condition {
            Condition::Slo { slo } => Some((*index, (rules[*index].tenant_id, slo.clone()))),
            _ => None,
        })
        .collect();
    let wanted: Vec<(TenantId, String)> = watched.iter().map(|(_, key)| key.clone()).collect();
    let by_name: HashMap<(TenantId, String), Slo> =
        match slos::find_many(&evaluator.catalog, &wanted).await {
            Ok(found) => found
                .into_iter()
                .map(|slo| ((slo.tenant_id, slo.spec.name.clone()), slo))
                .collect(),
            Err(error) => {
                let error = error.to_string();
                return watched
                    .into_iter()
                    .map(|(index, _)| (index, Err(error.clone())))
                    .collect();
            }
        };
    let mut found: Vec<(usize, &Slo)> = Vec::new();
    let mut results = Vec::new();
    for (index, key) in &watched {
        match by_name.get(key) {
            Some(slo) => found.push((*index, slo)),
            None => results.push((*index, Ok(Vec::new()))),
        }
    }
    let all: Vec<Slo> = found.iter().map(|(_, slo)| (*slo).clone()).collect();
    match status(&evaluator.analytics, &all, at).await {
        Ok(statuses) => results.extend(
            found
                .iter()
                .zip(statuses)
                .map(|((index, _), measured)| (*index, Ok(tier_observations(&measured)))),
        ),
        Err(error) => {
            results.extend(
                found
                    .iter()
                    .map(|(index, _)| (*index, Err(error.to_string()))),
            );
        }
    }
    results
}

/// One series per tier of each of an SLO's series: labelled with the SLO, the group's value,
/// the tier, its severity and factor; valued at the long window's burn rate.
fn tier_observations(measured: &SloStatus) -> Vec<Observation> {
    let spec = &measured.slo.spec;
    measured
        .series
        .iter()
        .flat_map(|series| {
            let group = series
                .group
                .clone()
                .zip(spec.group_by.as_ref())
                .map(|(value, group_by)| (group_by.name.clone(), value));
            spec.tiers
                .iter()
                .zip(&series.tiers)
                .map(move |(tier, state)| {
                    let mut own = vec![("slo".to_owned(), spec.name.clone())];
                    own.extend(group.clone());
                    own.extend([
                        ("tier".to_owned(), tier.name.clone()),
                        ("severity".to_owned(), tier.severity.as_str().to_owned()),
                        ("factor".to_owned(), tier.factor.normalize().to_string()),
                    ]);
                    Observation {
                        own,
                        value: state.long_rate,
                        breaching: state.firing,
                    }
                })
        })
        .collect()
}

/// The series of a spend rule on `customer` with `budget`: the customer's usage charges so
/// far as their value, one series per percent.
async fn spend(
    evaluator: &Evaluator,
    rule: &Rule,
    (customer, budget): (&str, Decimal),
    percents: &[u32],
    at: DateTime<Utc>,
) -> Result<Vec<Observation>> {
    let found = match customers::find_external(&evaluator.catalog, rule.tenant_id, customer).await {
        Ok(found) => found,
        Err(Error::NotFound(_)) => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let run = Run {
        catalog: &evaluator.catalog,
        analytics: &evaluator.analytics,
        at,
        grace: Duration::zero(),
        actor: Actor::Operator,
        raw_retention_days: evaluator.raw_retention_days,
    };
    let spent = run.usage_so_far(rule.tenant_id, &found).await?;
    Ok(percents
        .iter()
        .map(|percent| Observation {
            own: vec![
                ("customer".to_owned(), customer.to_owned()),
                ("threshold".to_owned(), format!("{percent}%")),
            ],
            value: Some(spent),
            breaching: spent * Decimal::ONE_HUNDRED >= Decimal::from(*percent) * budget,
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn part(subject: &str, events: u64, partial: Option<&str>) -> Part {
        Part {
            own: ("subject".to_owned(), subject.to_owned()),
            events,
            partial: partial.map(|text| text.parse().expect("a decimal")),
        }
    }

    fn values(observed: &[Observation]) -> Vec<(String, String, bool)> {
        observed
            .iter()
            .map(|observation| {
                (
                    observation.own[0].1.clone(),
                    observation.value.expect("a value").to_string(),
                    observation.breaching,
                )
            })
            .collect()
    }

    #[test]
    fn the_parts_of_a_series_merge_as_its_meter_aggregates() {
        use Aggregation::{Avg, Max, Min, Sum};
        use Comparison::{Above, AtMost, Below};
        let parts = || {
            vec![
                part("a", 2, Some("10")),
                part("a", 3, Some("40")),
                part("b", 1, Some("5")),
            ]
        };
        let ten = Decimal::TEN;
        let owned = |rows: &[(&str, &str, bool)]| -> Vec<(String, String, bool)> {
            rows.iter()
                .map(|(own, value, breaching)| ((*own).to_owned(), (*value).to_owned(), *breaching))
                .collect()
        };
        for (aggregation, op, expected) in [
            (Max, Above, [("a", "40", true), ("b", "5", false)]),
            (Min, AtMost, [("a", "10", true), ("b", "5", true)]),
            (Sum, Above, [("a", "50", true), ("b", "5", false)]),
            (Avg, Below, [("a", "10", false), ("b", "5", true)]),
        ] {
            let measured = measure_threshold(aggregation, op, ten, parts()).expect("measures");
            assert_eq!(values(&measured), owned(&expected), "{aggregation}");
        }
        let counted = measure_threshold(
            Aggregation::Count,
            Comparison::AtLeast,
            ten,
            vec![part("a", 4, None), part("a", 6, None)],
        )
        .expect("measures");
        assert_eq!(values(&counted), owned(&[("a", "10", true)]));
    }

    #[test]
    fn a_series_without_a_value_is_not_observed() {
        let observed = measure_threshold(
            Aggregation::Max,
            Comparison::Below,
            Decimal::ONE,
            vec![part("a", 0, None)],
        )
        .expect("measures");
        assert!(observed.is_empty());
    }
}
