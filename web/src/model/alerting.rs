//! What the Alerts page shows: alerts firing and pending now, silences, and each rule's
//! recent transitions, as the API's alerting GraphQL answers them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An alert now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRow {
    /// The rule's name.
    pub rule: String,
    /// What tells it apart, such as `subject=s1`.
    pub series: String,
    /// PENDING, FIRING or RESOLVED.
    pub state: String,
    /// Since when.
    pub since: DateTime<Utc>,
    /// The value last evaluated, as a decimal.
    pub value: Option<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The silences muting it.
    pub silenced_by: Vec<String>,
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceRow {
    /// Its id.
    pub id: String,
    /// The labels it mutes.
    pub matchers: BTreeMap<String, String>,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends.
    pub ends_at: DateTime<Utc>,
    /// Who made it.
    pub author: String,
    /// Why.
    pub comment: String,
}

/// A transition of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRow {
    /// The rule's name.
    pub rule: String,
    /// The series.
    pub series: String,
    /// The state left.
    pub from: String,
    /// The state entered.
    pub to: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The value then.
    pub value: Option<String>,
}

/// An alert rule, for the list admins delete from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRuleRow {
    /// Its name.
    pub name: String,
    /// threshold, absence or quota.
    pub kind: String,
    /// Its JSON.
    pub spec: serde_json::Value,
}

/// The Alerts page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertsView {
    /// Alerts firing, pending, or resolved within the last day.
    pub alerts: Vec<AlertRow>,
    /// Silences that have not ended.
    pub silences: Vec<SilenceRow>,
    /// The newest transitions, newest first.
    pub alert_history: Vec<TransitionRow>,
}
