//! SLOs as tenants write them: which events count, which of them are good, the objective over
//! a window, and the alert tiers on its error budget.
//!
//! An SLO's file (JSON) reads:
//!
//! ```json
//! {"name": "checkout-availability", "description": "Checkout answers",
//!  "indicator": {"kind": "ratio", "event_type": "http.request", "good": "$.status < 500"},
//!  "objective": "99.9", "window": "28d", "group_by": {"route": "$.route"},
//!  "tiers": [{"name": "fast", "severity": "critical", "factor": "14.4", "long": "1h",
//!             "short": "5m", "min_events": 100}]}
//! ```
//!
//! or, for latency, `"indicator": {"kind": "latency", "event_type": "http.request", "value":
//! "$.latency_ms", "threshold": "300"}` (good when the value is at most the threshold).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tally_meter::ids::{MeterId, TenantId, check_name};
use tally_meter::meter::JsonPath;
use tally_meter::sli::{Comparison, Indicator, Operand, Predicate};
use tally_meter::{Error, Result};

use crate::tier::{Tier, default_tiers};
use crate::window::Window;

/// The longest description, as OpenSLO allows.
pub const MAX_DESCRIPTION: usize = 1050;

/// The most decimals an objective may have (99.999999 at most).
pub const MAX_OBJECTIVE_DECIMALS: u32 = 6;

/// What an SLO measures: of the events of one type, which are good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IndicatorSpec {
    /// Good events are those whose data satisfy a condition, such as `$.status < 500`.
    Ratio {
        /// The events counted.
        event_type: String,
        /// What makes one good.
        good: Predicate,
    },
    /// Good events are those whose value at `value` is at most `threshold`.
    Latency {
        /// The events counted.
        event_type: String,
        /// Where the latency is, such as `$.latency_ms`.
        #[serde(with = "json_path_text")]
        value: JsonPath,
        /// The highest good value, in the value's unit.
        threshold: Decimal,
    },
}

impl IndicatorSpec {
    /// The condition a good event satisfies (for latency, `value <= threshold`).
    pub fn good(&self) -> Predicate {
        match self {
            Self::Ratio { good, .. } => good.clone(),
            Self::Latency {
                value, threshold, ..
            } => Predicate {
                path: value.clone(),
                op: Comparison::AtMost,
                operand: Operand::Number(*threshold),
            },
        }
    }

    /// The type of the events counted.
    pub fn event_type(&self) -> &str {
        match self {
            Self::Ratio { event_type, .. } | Self::Latency { event_type, .. } => event_type,
        }
    }
}

/// The group an SLO splits by: one series per value at `path`, named `name`. Written as a
/// map of one entry, `{"route": "$.route"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBy {
    /// The group's name: 1 to 64 of letters, digits, '_' and '-'.
    pub name: String,
    /// Where its values are.
    pub path: JsonPath,
}

/// An SLO as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Unique per tenant: 1 to 64 of a-z, 0-9, '-' and '_'.
    pub name: String,
    /// What it promises, for people; at most [`MAX_DESCRIPTION`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which events count and which of them are good.
    pub indicator: IndicatorSpec,
    /// The percent of good events promised, strictly between 0 and 100, such as 99.9.
    pub objective: Decimal,
    /// The window the objective holds over.
    pub window: Window,
    /// The group it splits by, if any: one SLO series per value.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "group_by_map"
    )]
    pub group_by: Option<GroupBy>,
    /// The alert tiers on its error budget: [`default_tiers`] unless written; none when written
    /// as `[]`.
    #[serde(default = "default_tiers")]
    pub tiers: Vec<Tier>,
}

impl SloSpec {
    /// Reads and checks an SLO's JSON; a field it does not have is refused by name, never
    /// ignored.
    pub fn parse(json: &str) -> Result<Self> {
        let spec: Self = serde_json::from_str(json)
            .map_err(|error| Error::Invalid(format!("not an SLO: {error}")))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the name, indicator, objective, group and tiers.
    pub fn validate(&self) -> Result<()> {
        check_name("SLO", &self.name)?;
        if let Some(description) = &self.description
            && description.chars().count() > MAX_DESCRIPTION
        {
            return Err(Error::Invalid(format!(
                "description: at most {MAX_DESCRIPTION} characters"
            )));
        }
        tally_meter::event_type::check(self.indicator.event_type())
            .map_err(|error| Error::Invalid(format!("indicator.event_type: {error}")))?;
        check_objective(self.objective)?;
        if let Some(group_by) = &self.group_by {
            check_group_name(&group_by.name)?;
        }
        self.check_tiers()
    }

    /// Checks each tier, and that their names differ.
    fn check_tiers(&self) -> Result<()> {
        for (index, tier) in self.tiers.iter().enumerate() {
            tier.validate()?;
            if self.tiers[..index]
                .iter()
                .any(|other| other.name == tier.name)
            {
                return Err(Error::Invalid(format!(
                    "tiers: two tiers are named {:?}",
                    tier.name
                )));
            }
        }
        Ok(())
    }

    /// The error budget: the fraction of events that may be bad, 1 − objective / 100 (0.001
    /// for 99.9), exactly.
    pub fn error_budget(&self) -> Decimal {
        Decimal::ONE - self.objective / Decimal::ONE_HUNDRED
    }

    /// The indicator as the aggregator counts it, split by the SLO's group if it has one.
    pub fn indicator(
        &self,
        id: MeterId,
        tenant_id: TenantId,
        created_at: DateTime<Utc>,
    ) -> Indicator {
        Indicator {
            id,
            tenant_id,
            event_type: self.indicator.event_type().to_owned(),
            good: self.indicator.good(),
            group_by: self
                .group_by
                .as_ref()
                .map(|group_by| (group_by.name.clone(), group_by.path.clone())),
            created_at,
            // Only the aggregator's read of the catalog needs to know.
            platform: false,
        }
    }
}

/// Checks an objective: a percent strictly between 0 and 100 with at most
/// [`MAX_OBJECTIVE_DECIMALS`] decimals.
fn check_objective(objective: Decimal) -> Result<()> {
    if objective <= Decimal::ZERO
        || objective >= Decimal::ONE_HUNDRED
        || objective.normalize().scale() > MAX_OBJECTIVE_DECIMALS
    {
        return Err(Error::Invalid(format!(
            "objective: a percent strictly between 0 and 100 with at most \
             {MAX_OBJECTIVE_DECIMALS} decimals, such as \"99.9\", got {objective}"
        )));
    }
    Ok(())
}

/// Checks a group's name as meters do: 1 to 64 of letters, digits, '_' and '-'.
fn check_group_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_-".contains(&byte));
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "group_by: a group name is 1 to 64 of letters, digits, '_' and '-', got {name:?}"
        )))
    }
}

/// JSON paths as their text (serde `with`).
pub(crate) mod json_path_text {
    use super::*;

    /// Writes the path as written.
    pub(crate) fn serialize<S: Serializer>(
        path: &JsonPath,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(path.as_str())
    }

    /// Reads `$.name` paths.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<JsonPath, D::Error> {
        let text = String::deserialize(deserializer)?;
        JsonPath::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An optional [`GroupBy`] as a map of at most one entry (serde `with`).
pub(crate) mod group_by_map {
    use super::*;

    /// Writes `{"name": "$.path"}`.
    pub(crate) fn serialize<S: Serializer>(
        group_by: &Option<GroupBy>,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, &str> = group_by
            .iter()
            .map(|group_by| (group_by.name.as_str(), group_by.path.as_str()))
            .collect();
        map.serialize(serializer)
    }

    /// Reads a map of at most one entry; an empty one is no group.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Option<GroupBy>, D::Error> {
        let map = Option::<BTreeMap<String, String>>::deserialize(deserializer)?;
        let mut entries = map.unwrap_or_default().into_iter();
        let Some((name, path)) = entries.next() else {
            return Ok(None);
        };
        if entries.next().is_some() {
            return Err(serde::de::Error::custom(
                "group_by: an SLO splits by at most one group",
            ));
        }
        let path = JsonPath::parse(&path)
            .map_err(|error| serde::de::Error::custom(format!("group_by {name:?}: {error}")))?;
        Ok(Some(GroupBy { name, path }))
    }
}

#[cfg(test)]
mod tests;
