//! What the SLO pages show: the tenant's SLOs with where each stands now, and one SLO's budget,
//! burn-down, burn rates and alert tiers per series, as the API's SLO GraphQL answers them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An SLO's indicator as its spec writes it: which events count and which are good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorText {
    /// `ratio` or `latency`.
    pub kind: String,
    /// The events counted.
    pub event_type: String,
    /// A ratio's condition of a good event, such as `$.status < 500`.
    #[serde(default)]
    pub good: Option<String>,
    /// A latency's value path, such as `$.latency_ms`.
    #[serde(default)]
    pub value: Option<String>,
    /// A latency's highest good value.
    #[serde(default)]
    pub threshold: Option<Decimal>,
}

impl IndicatorText {
    /// What makes an event good, as a condition: `$.status < 500`, `$.latency_ms <= 300`.
    pub fn good_condition(&self) -> String {
        match (&self.good, &self.value, &self.threshold) {
            (Some(good), _, _) => good.clone(),
            (None, Some(value), Some(threshold)) => format!("{value} <= {}", threshold.normalize()),
            _ => self.kind.clone(),
        }
    }
}

/// An alert tier as its SLO's spec writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierText {
    /// Its name.
    pub name: String,
    /// The burn rate it fires at.
    pub factor: Decimal,
    /// Its long window, such as `1h`.
    pub long: String,
    /// Its short window, such as `5m`.
    pub short: String,
    /// The fewest events each window needs for it to fire.
    #[serde(default)]
    pub min_events: Option<u64>,
}

/// The parts of an SLO's spec the pages show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloSpecText {
    /// What it promises, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Which events count and which are good.
    pub indicator: IndicatorText,
    /// Its group, `{"route": "$.route"}`, if it splits by one.
    #[serde(default)]
    pub group_by: BTreeMap<String, String>,
    /// Its alert tiers.
    #[serde(default)]
    pub tiers: Vec<TierText>,
}

impl SloSpecText {
    /// The group's name, if it splits by one.
    pub fn group_name(&self) -> Option<&str> {
        self.group_by.keys().next().map(String::as_str)
    }
}

/// A burn rate over a range up to now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BurnRateRow {
    /// The range, such as `5m` or `3days`.
    pub window: String,
    /// Its good events.
    pub good: u64,
    /// All its events.
    pub total: u64,
    /// How fast the budget burns; none without events.
    pub rate: Option<Decimal>,
}

/// An alert tier's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierRow {
    /// Its name.
    pub tier: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// The burn rate over its long window.
    pub long_rate: Option<Decimal>,
    /// The burn rate over its short window.
    pub short_rate: Option<Decimal>,
    /// Whether it fires.
    pub firing: bool,
    /// Whether a window holds too few events for it to fire.
    pub guarded: bool,
    /// The faster tier whose firing mutes its notifications.
    pub inhibited_by: Option<String>,
}

/// One series of an SLO now: its budget, burn rates and tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    /// The events a budget needs before it is a ratio.
    pub too_few_events_below: Option<u64>,
    /// Burn rates over the last 5m to 3d.
    pub burn_rates: Vec<BurnRateRow>,
    /// The alert tiers' states.
    pub tiers: Vec<TierRow>,
}

/// Where an SLO of the list stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Standing {
    /// Per series (none before its first event).
    Series(Vec<SloSeries>),
    /// Why it could not be read.
    Unknown(String),
}

/// An SLO as it is defined: what both SLO pages show of it before its figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloDefinition {
    /// Its name.
    pub name: String,
    /// The percent of good events promised.
    pub objective: Decimal,
    /// `28d` or `month`.
    pub window: String,
    /// Its spec.
    pub spec: SloSpecText,
}

/// An SLO of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloRow {
    /// The SLO.
    #[serde(flatten)]
    pub slo: SloDefinition,
    /// Where it stands now.
    pub standing: Standing,
}

/// The budget of the events from the window's start to an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetPoint {
    /// The instant (exclusive).
    pub at: DateTime<Utc>,
    /// Events so far.
    pub total: u64,
    /// The bad ones.
    pub bad: u64,
    /// The share of the error budget left; none while there are too few events to tell.
    pub budget_remaining: Option<Decimal>,
}

/// One series' burn-down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BurnDownSeries {
    /// The group's value, for an SLO with a group.
    pub group: Option<String>,
    /// The budget at each step of the window so far, the last one now.
    pub points: Vec<BudgetPoint>,
}

/// An SLO's burn-down over its whole window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnDown {
    /// The start of its window.
    pub window_start: DateTime<Utc>,
    /// The end of its window (after now).
    pub window_end: DateTime<Utc>,
    /// The step between points: `1day` or `1h`.
    pub step: String,
    /// Per series.
    pub series: Vec<BurnDownSeries>,
}

/// The SLO page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SloDetail {
    /// The SLO.
    #[serde(flatten)]
    pub slo: SloDefinition,
    /// When its indicator started counting.
    pub created_at: DateTime<Utc>,
    /// Where it stands now, per series.
    pub series: Vec<SloSeries>,
    /// How its budget went down over its window so far.
    pub burn_down: BurnDown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_slo_row_reads_and_writes_its_definition_flat() {
        let answer = r#"{"name": "checkout", "objective": "99.9", "window": "28d",
            "spec": {"indicator": {"kind": "ratio", "event_type": "http.request",
            "good": "$.status < 500"}}, "standing": {"Series": []}}"#;
        let row: SloRow = serde_json::from_str(answer).expect("an SLO row");
        assert_eq!(row.slo.name, "checkout");
        assert_eq!(row.standing, Standing::Series(Vec::new()));
        let written = serde_json::to_string(&row).expect("written");
        assert!(
            written.starts_with(r#"{"name":"checkout","objective":"99.9","window":"28d","spec":"#),
            "{written}"
        );
        assert_eq!(
            serde_json::from_str::<SloRow>(&written).expect("read again"),
            row
        );
    }
}
