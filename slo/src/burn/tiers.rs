//! The alert tiers of one SLO series evaluated at once: which fire, which are held back by
//! too few events, and which a faster-burning tier inhibits.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;

use super::{Counts, burn_rate, burns_at_least};
use crate::tier::{Severity, Tier};

/// Where one tier stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierState {
    /// The tier's name.
    pub tier: String,
    /// Its severity.
    pub severity: Severity,
    /// The burn rate over its long window; `None` without events.
    pub long_rate: Option<Decimal>,
    /// The burn rate over its short window; `None` without events.
    pub short_rate: Option<Decimal>,
    /// Both windows burn at least the tier's factor and hold enough events. An inhibited tier
    /// still fires; it is not notified.
    pub firing: bool,
    /// A window holds fewer than the tier's `min_events` events, so the tier cannot fire.
    pub guarded: bool,
    /// The firing tier with the largest factor above this one's, when this one fires too.
    pub inhibited_by: Option<String>,
}

impl TierState {
    /// Whether the tier fires and no faster tier inhibits it: whether to notify.
    pub fn notifies(&self) -> bool {
        self.firing && self.inhibited_by.is_none()
    }
}

/// Evaluates `tiers` with the counts of the range of each length up to now (`counts_of`,
/// asked once per distinct length): a tier fires when the burn rates over its long and short
/// windows are both at least its factor and both windows hold at least `min_events` events;
/// a firing tier is inhibited by the firing tier with the largest factor above its own. The
/// states come in the tiers' order.
pub fn evaluate_tiers(
    tiers: &[Tier],
    error_budget: Decimal,
    counts_of: impl Fn(Duration) -> Counts,
) -> Vec<TierState> {
    let mut known: Vec<(Duration, Counts)> = Vec::new();
    let mut counts = |length: Duration| {
        if let Some((_, counts)) = known.iter().find(|(known, _)| *known == length) {
            return *counts;
        }
        let counts = counts_of(length);
        known.push((length, counts));
        counts
    };
    let mut states: Vec<TierState> = tiers
        .iter()
        .map(|tier| state_of(tier, error_budget, counts(tier.long), counts(tier.short)))
        .collect();
    let inhibitors: Vec<Option<String>> = tiers
        .iter()
        .map(|tier| inhibitor(tiers, &states, tier.factor))
        .collect();
    for (state, inhibitor) in states.iter_mut().zip(inhibitors) {
        if state.firing {
            state.inhibited_by = inhibitor;
        }
    }
    states
}

/// Where `tier` stands with `long` and `short` as the counts of its windows.
fn state_of(tier: &Tier, error_budget: Decimal, long: Counts, short: Counts) -> TierState {
    let guarded = long.total < tier.min_events || short.total < tier.min_events;
    let burning = burns_at_least(long, error_budget, tier.factor)
        && burns_at_least(short, error_budget, tier.factor);
    TierState {
        tier: tier.name.clone(),
        severity: tier.severity,
        long_rate: burn_rate(long, error_budget),
        short_rate: burn_rate(short, error_budget),
        firing: burning && !guarded,
        guarded,
        inhibited_by: None,
    }
}

/// The name of the firing tier with the largest factor above `factor` (the first of equals).
fn inhibitor(tiers: &[Tier], states: &[TierState], factor: Decimal) -> Option<String> {
    tiers
        .iter()
        .zip(states)
        .filter(|(other, state)| state.firing && other.factor > factor)
        .fold(None, |best: Option<&Tier>, (other, _)| match best {
            Some(best) if best.factor >= other.factor => Some(best),
            _ => Some(other),
        })
        .map(|tier| tier.name.clone())
}
