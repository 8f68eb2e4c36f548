//! Where SLOs stand at an instant, from their indicators' counts in ClickHouse: per SLO series
//! (one, or one per value of its group), the error budget of its window so far, the burn rates
//! over [`BURN_RATE_WINDOWS`], and the state of each alert tier.
//!
//! Every figure comes from exact sums of good and total counts over a range ending with the
//! current minute (never from averaging ratios): one ClickHouse query per distinct range
//! answers for every SLO asked about at once ([`Analytics::window_totals`]), so that measuring
//! a thousand SLOs costs a handful of queries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use tally_meter::Result;
use tally_meter::analytics::Analytics;
use tally_meter::ids::MeterId;
use tally_meter::meter::Meter;
use tally_meter::usage::floor_minute;

use crate::burn::{BURN_RATE_WINDOWS, Budget, Counts, TierState, burn_rate, evaluate_tiers};
use crate::catalog::Slo;

/// The burn rate over one range up to now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BurnRate {
    /// The range's length.
    #[serde(with = "crate::duration_text")]
    pub window: Duration,
    /// Its good and total events.
    pub counts: Counts,
    /// `(bad / total) / error budget`; none without events.
    pub rate: Option<Decimal>,
}

/// One series of an SLO: the whole SLO, or one value of its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesStatus {
    /// The group's value, for an SLO with a group.
    pub group: Option<String>,
    /// The budget of the SLO's window so far.
    pub budget: Budget,
    /// The burn rates over [`BURN_RATE_WINDOWS`].
    pub burn_rates: Vec<BurnRate>,
    /// The alert tiers, in the SLO's order.
    pub tiers: Vec<TierState>,
}

/// An SLO at an instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    /// The SLO.
    pub slo: Slo,
    /// Its window so far: from the window's start to the end of the current minute.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    /// Its series, by group value; one without a group (none before its first event).
    pub series: Vec<SeriesStatus>,
}

/// The fewest events whose budget is a meaningful ratio: those among which one bad event is
/// within budget, `⌈1 / error budget⌉` (1,000 for 99.9 %).
pub fn min_budget_events(error_budget: Decimal) -> u64 {
    if error_budget <= Decimal::ZERO {
        return u64::MAX;
    }
    (Decimal::ONE / error_budget)
        .ceil()
        .to_u64()
        .unwrap_or(u64::MAX)
}

/// Counts per SLO and group value over one range.
type RangeCounts = HashMap<(MeterId, Option<String>), Counts>;

/// Measures `slos` at `at`.
pub async fn status(
    analytics: &Analytics,
    slos: &[Slo],
    at: DateTime<Utc>,
) -> Result<Vec<SloStatus>> {
    let end = floor_minute(at) + chrono::Duration::minutes(1);
    let meters: Vec<Meter> = slos.iter().map(|slo| slo.indicator().meter()).collect();
    let all: Vec<&Meter> = meters.iter().collect();
    // The trailing ranges every SLO needs: the reported ones and its tiers' windows.
    let mut lengths: BTreeSet<Duration> = BURN_RATE_WINDOWS.into_iter().collect();
    for slo in slos {
        for tier in &slo.spec.tiers {
            lengths.extend([tier.long, tier.short]);
        }
    }
    let mut trailing: BTreeMap<Duration, RangeCounts> = BTreeMap::new();
    for length in lengths {
        let from = end - chrono::Duration::from_std(length).unwrap_or(chrono::TimeDelta::MAX);
        trailing.insert(length, counts_over(analytics, &all, (from, end)).await?);
    }
    // The windows so far, one query per distinct start.
    let starts: BTreeSet<DateTime<Utc>> = slos
        .iter()
        .map(|slo| slo.spec.window.bounds(at).0)
        .collect();
    let mut windows: BTreeMap<DateTime<Utc>, RangeCounts> = BTreeMap::new();
    for start in starts {
        windows.insert(start, counts_over(analytics, &all, (start, end)).await?);
    }
    Ok(slos
        .iter()
        .map(|slo| {
            let start = slo.spec.window.bounds(at).0;
            let window = &windows[&start];
            let id = slo.indicator().id;
            let groups: BTreeSet<Option<String>> = window
                .keys()
                .chain(trailing.values().flat_map(HashMap::keys))
                .filter(|(meter, _)| *meter == id)
                .map(|(_, group)| group.clone())
                .collect();
            let error_budget = slo.spec.error_budget();
            let series = groups
                .into_iter()
                .map(|group| {
                    let key = (id, group.clone());
                    let over = |length: Duration| {
                        trailing
                            .get(&length)
                            .and_then(|counts| counts.get(&key))
                            .copied()
                            .unwrap_or_default()
                    };
                    SeriesStatus {
                        budget: Budget::of(
                            window.get(&key).copied().unwrap_or_default(),
                            error_budget,
                            min_budget_events(error_budget),
                        ),
                        burn_rates: BURN_RATE_WINDOWS
                            .into_iter()
                            .map(|length| BurnRate {
                                window: length,
                                counts: over(length),
                                rate: burn_rate(over(length), error_budget),
                            })
                            .collect(),
                        tiers: evaluate_tiers(&slo.spec.tiers, error_budget, over),
                        group,
                    }
                })
                .collect();
            SloStatus {
                slo: slo.clone(),
                window: (start, end),
                series,
            }
        })
        .collect())
}

/// The good and total counts of every indicator of `meters` over `[from, to)`, per group value.
async fn counts_over(
    analytics: &Analytics,
    meters: &[&Meter],
    range: (DateTime<Utc>, DateTime<Utc>),
) -> Result<RangeCounts> {
    let mut counts: RangeCounts = HashMap::new();
    if meters.is_empty() {
        return Ok(counts);
    }
    for total in analytics.window_totals(meters, range).await? {
        let good = total
            .partial
            .and_then(|good| good.to_u64())
            .unwrap_or_default();
        *counts
            .entry((total.meter_id, total.group_values.into_iter().next()))
            .or_default() += Counts {
            good,
            total: total.events,
        };
    }
    Ok(counts)
}
