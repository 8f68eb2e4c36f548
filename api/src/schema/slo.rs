//! SLOs: the tenant's SLOs, where each stands now (budget, burn rates, alert tiers, per group
//! value), and the mutations that apply (JSON or OpenSLO YAML) and delete them.

use async_graphql::{Context, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_alerting::catalog::rules;
use tally_slo::burn::Consumption;
use tally_slo::catalog::{self as slos, Slo as StoredSlo};
use tally_slo::history::{BurnDown, burn_down_at};
use tally_slo::openslo::from_openslo;
use tally_slo::spec::SloSpec;
use tally_slo::status::{SeriesStatus, status};

use super::context::{admin_access, read_access, services};
use crate::cost::{CLICKHOUSE_QUERY, POSTGRES_QUERY};
use crate::error::{ApiError, ApiResult};

/// What measuring where SLOs stand costs, in ClickHouse queries: one per distinct part of the
/// seven burn-rate windows (which hold the default tiers' windows) and the windows so far, each
/// read for every SLO measured together. The parts are short reads of a few rows per SLO, so
/// they are weighed as eight full queries.
const STATUS_QUERIES: usize = 8;

/// An SLO and where it stands now.
#[derive(Debug, Clone)]
pub struct Slo(StoredSlo);

#[Object]
impl Slo {
    /// Its name, unique within the tenant.
    async fn name(&self) -> &str {
        &self.0.spec.name
    }

    /// The whole SLO, as written (see the README's SLOs section).
    async fn spec(&self) -> Json<&SloSpec> {
        Json(&self.0.spec)
    }

    /// The percent of good events promised.
    async fn objective(&self) -> Decimal {
        self.0.spec.objective.normalize()
    }

    /// Its window: `28d` or `month`.
    async fn window(&self) -> String {
        self.0.spec.window.to_string()
    }

    /// When its indicator started counting.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Where it stands now, per series (one, or one per value of its group; none before its
    /// first event): the budget of its window so far, its burn rates and its alert tiers.
    #[graphql(complexity = "STATUS_QUERIES * CLICKHOUSE_QUERY + child_complexity")]
    async fn series(&self, context: &Context<'_>) -> ApiResult<Vec<SloSeries>> {
        let analytics = &services(context).analytics;
        let measured = status(analytics, std::slice::from_ref(&self.0), Utc::now()).await?;
        Ok(measured
            .into_iter()
            .flat_map(|slo| slo.series)
            .map(SloSeries::from)
            .collect())
    }

    /// How its error budget went down over its window so far, per series: the budget at
    /// each UTC midnight (each hour for a one-day window) and now.
    #[graphql(complexity = "CLICKHOUSE_QUERY + child_complexity")]
    async fn burn_down(&self, context: &Context<'_>) -> ApiResult<SloBurnDown> {
        let read = burn_down_at(&services(context).analytics, &self.0, Utc::now()).await?;
        Ok(SloBurnDown::from(read))
    }
}

/// An SLO's burn-down chart.
#[derive(SimpleObject, Debug, Clone)]
pub struct SloBurnDown {
    /// The start of its window.
    pub window_start: DateTime<Utc>,
    /// The end of its window (after now for a calendar month).
    pub window_end: DateTime<Utc>,
    /// The step between points: `1day`, or `1h` for a one-day window.
    pub step: String,
    /// Per series: one, or one per value of its group (none before its first event).
    pub series: Vec<SloBurnDownSeries>,
}

/// One series' burn-down.
#[derive(SimpleObject, Debug, Clone)]
pub struct SloBurnDownSeries {
    /// The group's value, for an SLO with a group.
    pub group: Option<String>,
    /// The budget from the window's start to each point.
    pub points: Vec<SloBudgetPoint>,
}

/// The budget of the events from the window's start to an instant.
#[derive(SimpleObject, Debug, Clone)]
pub struct SloBudgetPoint {
    /// The instant (exclusive).
    pub at: DateTime<Utc>,
    /// Events so far.
    pub total: u64,
    /// The bad ones.
    pub bad: u64,
    /// The share of the error budget left (below 0 when overspent); none while there are too
    /// few events to tell.
    pub budget_remaining: Option<Decimal>,
}

impl From<BurnDown> for SloBurnDown {
    fn from(read: BurnDown) -> Self {
        Self {
            window_start: read.window.0,
            window_end: read.window.1,
            step: humantime::format_duration(read.step).to_string(),
            series: read
                .series
                .into_iter()
                .map(|series| SloBurnDownSeries {
                    group: series.group,
                    points: series
                        .points
                        .into_iter()
                        .map(|point| SloBudgetPoint {
                            at: point.at,
                            total: point.budget.total,
                            bad: point.budget.bad,
                            budget_remaining: remaining(point.budget.consumption),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The share of a budget left, where there are enough events to tell.
fn remaining(consumption: Consumption) -> Option<Decimal> {
    match consumption {
        Consumption::Measured { remaining, .. } => Some(remaining),
        Consumption::TooFewEvents { .. } => None,
    }
}

/// Where one SLO stands now.
#[derive(SimpleObject, Debug, Clone)]
pub struct SloStanding {
    /// The SLO's name.
    pub name: String,
    /// Its series, as `slo(name) { series }` gives them.
    pub series: Vec<SloSeries>,
}

/// One series of an SLO now.
#[derive(SimpleObject, Debug, Clone)]
pub struct SloSeries {
    /// The group's value, for an SLO with a group.
    pub group: Option<String>,
    /// Events in the window so far.
    pub total: u64,
    /// The bad ones.
    pub bad: u64,
    /// How many bad events the objective allows among them.
    pub allowed_bad: Decimal,
    /// The share of the error budget left (below 0 when overspent); none while there are too
    /// few events to tell.
    pub budget_remaining: Option<Decimal>,
    /// The events a budget needs before it is a ratio: ⌈1 / (1 − objective)⌉.
    pub too_few_events_below: Option<u64>,
    /// Burn rates over the last 5m, 30m, 1h, 2h, 6h, 1d and 3d.
    pub burn_rates: Vec<SloBurnRate>,
    /// The alert tiers' states, in the SLO's order.
    pub tiers: Vec<SloTier>,
}

/// A burn rate over a range up to now.
#[derive(SimpleObject, Debug, Clone)]
pub struct SloBurnRate {
    /// The range, such as `5m` or `3days`.
    pub window: String,
    /// Its good events.
    pub good: u64,
    /// All its events.
    pub total: u64,
    /// `(bad / total) / (1 − objective)`; none without events.
    pub rate: Option<Decimal>,
}

/// An alert tier's state.
#[derive(SimpleObject, Debug, Clone)]
pub struct SloTier {
    /// Its name.
    pub tier: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// The burn rate over its long window.
    pub long_rate: Option<Decimal>,
    /// The burn rate over its short window.
    pub short_rate: Option<Decimal>,
    /// Both windows burn at least its factor with enough events.
    pub firing: bool,
    /// A window holds too few events for it to fire.
    pub guarded: bool,
    /// The faster tier whose firing mutes its notifications.
    pub inhibited_by: Option<String>,
}

impl From<SeriesStatus> for SloSeries {
    fn from(series: SeriesStatus) -> Self {
        let too_few_events_below = match series.budget.consumption {
            Consumption::Measured { .. } => None,
            Consumption::TooFewEvents { min_events } => Some(min_events),
        };
        Self {
            group: series.group,
            total: series.budget.total,
            bad: series.budget.bad,
            allowed_bad: series.budget.allowed_bad,
            budget_remaining: remaining(series.budget.consumption),
            too_few_events_below,
            burn_rates: series
                .burn_rates
                .into_iter()
                .map(|burn| SloBurnRate {
                    window: humantime::format_duration(burn.window).to_string(),
                    good: burn.counts.good,
                    total: burn.counts.total,
                    rate: burn.rate,
                })
                .collect(),
            tiers: series
                .tiers
                .into_iter()
                .map(|tier| SloTier {
                    tier: tier.tier,
                    severity: tier.severity.as_str().to_owned(),
                    long_rate: tier.long_rate,
                    short_rate: tier.short_rate,
                    firing: tier.firing,
                    guarded: tier.guarded,
                    inhibited_by: tier.inhibited_by,
                })
                .collect(),
        }
    }
}

/// Queries of SLOs.
#[derive(Default)]
pub struct SloQuery;

#[Object]
impl SloQuery {
    /// The tenant's SLOs, by name.
    #[graphql(complexity = "POSTGRES_QUERY + 10 * child_complexity")]
    async fn slos(&self, context: &Context<'_>) -> ApiResult<Vec<Slo>> {
        let (tenant, catalog) = read_access(context)?;
        let listed = slos::list(catalog, tenant).await?;
        Ok(listed.into_iter().map(Slo).collect())
    }

    /// Where each of the tenant's SLOs stands now, by name: its series as `slo(name) { series }`
    /// gives them, all measured together, for the cost of one SLO's.
    #[graphql(complexity = "POSTGRES_QUERY + STATUS_QUERIES * CLICKHOUSE_QUERY + child_complexity")]
    async fn slo_standings(&self, context: &Context<'_>) -> ApiResult<Vec<SloStanding>> {
        let (tenant, catalog) = read_access(context)?;
        let listed = slos::list(catalog, tenant).await?;
        let measured = status(&services(context).analytics, &listed, Utc::now()).await?;
        Ok(measured
            .into_iter()
            .map(|slo| SloStanding {
                name: slo.slo.spec.name,
                series: slo.series.into_iter().map(SloSeries::from).collect(),
            })
            .collect())
    }

    /// One of the tenant's SLOs, by name.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn slo(&self, context: &Context<'_>, name: String) -> ApiResult<Slo> {
        let (tenant, catalog) = read_access(context)?;
        let found = slos::find(catalog, tenant, &name).await?;
        Ok(Slo(found))
    }
}

/// Mutations of SLOs.
#[derive(Default)]
pub struct SloMutation;

#[Object]
impl SloMutation {
    /// Creates or changes SLOs from OpenSLO v1 YAML (`openslo`) or one SLO's JSON (`spec`),
    /// with their alert rules; returns what became of each, as `created NAME`, `updated NAME`,
    /// `replaced NAME` or `unchanged NAME`, followed by ` (no alerts: alert rule NAME watches
    /// something else)` when a rule of its name exists already.
    #[graphql(complexity = "10 * POSTGRES_QUERY + child_complexity")]
    async fn apply_slo(
        &self,
        context: &Context<'_>,
        spec: Option<Json<serde_json::Value>>,
        openslo: Option<String>,
    ) -> ApiResult<Vec<String>> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let specs = match (spec, openslo) {
            (Some(spec), None) => vec![SloSpec::parse(&spec.0.to_string())?],
            (None, Some(yaml)) => from_openslo(&yaml)?,
            _ => {
                return Err(ApiError::from(tally_meter::Error::Invalid(
                    "give either spec (JSON) or openslo (YAML)".to_owned(),
                )));
            }
        };
        let mut applied = Vec::new();
        for spec in specs {
            let done = rules::apply_slo(catalog, tenant, &spec, actor).await?;
            let name = &done.slo.spec.name;
            applied.push(if done.rule_taken {
                format!(
                    "{} {name} (no alerts: alert rule {name} watches something else)",
                    done.applied
                )
            } else {
                format!("{} {name}", done.applied)
            });
        }
        Ok(applied)
    }

    /// Deletes an SLO and its alert rule; its counts stay, unread.
    #[graphql(complexity = "4 * POSTGRES_QUERY + child_complexity")]
    async fn delete_slo(&self, context: &Context<'_>, name: String) -> ApiResult<bool> {
        let (tenant, catalog, actor) = admin_access(context)?;
        rules::delete_slo(catalog, tenant, &name, actor).await?;
        Ok(true)
    }
}
