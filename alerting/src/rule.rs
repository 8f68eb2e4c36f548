//! Alert rules as tenants write them: what breaches, for how long, and the labels that name
//! each alert.
//!
//! A rule's file (`tally alert rule create --file`, GraphQL `createAlertRule(spec)`) is JSON:
//!
//! ```json
//! {"name": "too-hot", "kind": "threshold", "meter": "temp", "window": "1m", "op": ">",
//!  "value": "80", "by": "subject", "for": "5m", "severity": "critical"}
//! {"name": "offline", "kind": "absence", "event_type": "reading", "after": "10m"}
//! {"name": "quota", "kind": "quota", "percents": [80, 100]}
//! {"name": "budget", "kind": "spend", "customer": "acme", "budget": "500.00", "percents": [80, 100]}
//! {"name": "checkout", "kind": "slo", "slo": "checkout"}
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_meter::ids::{MeterKey, TenantId, check_name};
pub use tally_meter::sli::Comparison;
use tally_meter::{Error, Result};
pub use tally_slo::tier::Severity;
use uuid::Uuid;

use crate::not_json_of;
use crate::state::Timing;

/// The longest window, `for` or `keep_firing_for` a rule may have.
const MAX_DURATION: StdDuration = StdDuration::from_secs(31 * 24 * 3600);

/// Most labels a rule may add.
const MAX_LABELS: usize = 20;

/// What one alert series of a threshold rule covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// One series per subject.
    Subject,
    /// One series per value of one of the meter's groups (over all subjects).
    Group(String),
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// A meter's aggregation over the last `window` (to the end of the current minute),
    /// compared with `value`, per subject or per value of a group.
    Threshold {
        /// The meter.
        meter: MeterKey,
        /// How far back the aggregation looks, whole minutes.
        #[serde(with = "crate::duration_text")]
        window: StdDuration,
        /// The comparison.
        op: Comparison,
        /// The threshold.
        value: Decimal,
        /// One series per subject (the default) or per group value.
        #[serde(default = "by_subject")]
        by: By,
    },
    /// No event of `event_type` from a subject for `after`: one series per subject that sent
    /// one within the lookback (or is already alerting).
    Absence {
        /// The event type.
        event_type: String,
        /// How long a subject may stay silent.
        #[serde(with = "crate::duration_text")]
        after: StdDuration,
    },
    /// The tenant's events this month against its monthly quota: one series per percent.
    Quota {
        /// The percents that alert, such as 80 and 100.
        #[serde(default = "default_percents")]
        percents: Vec<u32>,
    },
    /// A billing customer's usage charges in its current billing periods so far, before
    /// tax, against `budget` in its currency: one series per percent.
    Spend {
        /// The customer's external id.
        customer: String,
        /// The amount the percents are of, in the customer's currency.
        budget: Decimal,
        /// The percents that alert, such as 80 and 100.
        #[serde(default = "default_percents")]
        percents: Vec<u32>,
    },
    /// An SLO's multiwindow, multi-burn-rate alert tiers: one series per tier (and group
    /// value), firing while the tier does. `tally slo apply` makes one for each SLO.
    Slo {
        /// The SLO's name.
        slo: String,
    },
}

impl Condition {
    /// The kind's name, as rules write it: `threshold`, `absence`, `quota` or `spend`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Threshold { .. } => "threshold",
            Self::Absence { .. } => "absence",
            Self::Quota { .. } => "quota",
            Self::Spend { .. } => "spend",
            Self::Slo { .. } => "slo",
        }
    }
}

fn by_subject() -> By {
    By::Subject
}

fn default_percents() -> Vec<u32> {
    vec![80, 100]
}

/// A rule as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Unique per tenant: a-z, 0-9, '-' and '_', at most 64 characters.
    pub name: String,
    /// What it watches.
    #[serde(flatten)]
    pub condition: Condition,
    /// How long a breach lasts before the alert fires.
    #[serde(rename = "for", default, with = "crate::duration_text")]
    pub pending_for: StdDuration,
    /// How long a firing alert waits without a breach before it resolves.
    #[serde(default, with = "crate::duration_text")]
    pub keep_firing_for: StdDuration,
    /// The alerts' severity.
    #[serde(default)]
    pub severity: Severity,
    /// Labels added to every alert of the rule.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Label names a rule may not set: the ones every alert gets.
pub const RESERVED_LABELS: [&str; 5] = ["tenant", "alertname", "severity", "subject", "group"];

impl RuleSpec {
    /// Reads and checks a rule's JSON; a field the rule's kind does not have is refused,
    /// never ignored.
    pub fn parse(json: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(not_json_of("an alert rule"))?;
        if let Some(fields) = value.as_object() {
            let kind_fields: &[&str] = match fields.get("kind").and_then(|kind| kind.as_str()) {
                Some("threshold") => &["meter", "window", "op", "value", "by"],
                Some("absence") => &["event_type", "after"],
                Some("quota") => &["percents"],
                Some("spend") => &["customer", "budget", "percents"],
                Some("slo") => &["slo"],
                _ => &[],
            };
            let common = [
                "name",
                "kind",
                "for",
                "keep_firing_for",
                "severity",
                "labels",
            ];
            if let Some(unknown) = fields.keys().find(|field| {
                !common.contains(&field.as_str()) && !kind_fields.contains(&field.as_str())
            }) {
                return Err(Error::Invalid(format!(
                    "not an alert rule: unknown field `{unknown}`"
                )));
            }
        }
        let spec: Self = serde_json::from_value(value).map_err(not_json_of("an alert rule"))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks names, durations and labels.
    pub fn validate(&self) -> Result<()> {
        check_name("rule", &self.name)?;
        let check = |what: &str, duration: StdDuration| {
            if duration > MAX_DURATION {
                return Err(Error::Invalid(format!("{what} is at most 31 days")));
            }
            Ok(())
        };
        check("for", self.pending_for)?;
        check("keep_firing_for", self.keep_firing_for)?;
        match &self.condition {
            Condition::Threshold { window, .. } => {
                check("window", *window)?;
                if window.as_secs() == 0 || window.as_secs() % 60 != 0 || window.subsec_nanos() != 0
                {
                    return Err(Error::Invalid(
                        "window: usage is kept per minute, so a window is whole minutes, at \
                         least one"
                            .to_owned(),
                    ));
                }
            }
            Condition::Absence { event_type, after } => {
                check("after", *after)?;
                if event_type.is_empty() {
                    return Err(Error::Invalid("event_type is empty".to_owned()));
                }
                if after.as_secs() == 0 {
                    return Err(Error::Invalid("after is at least a second".to_owned()));
                }
            }
            Condition::Quota { percents } => check_percents(percents)?,
            Condition::Spend {
                customer,
                budget,
                percents,
            } => {
                check_percents(percents)?;
                if customer.is_empty() {
                    return Err(Error::Invalid(
                        "customer: the customer's external id".to_owned(),
                    ));
                }
                if *budget <= Decimal::ZERO {
                    return Err(Error::Invalid("budget is above zero".to_owned()));
                }
            }
            Condition::Slo { slo } => check_name("SLO", slo)?,
        }
        if self.labels.len() > MAX_LABELS {
            return Err(Error::Invalid(format!("at most {MAX_LABELS} labels")));
        }
        for (name, value) in &self.labels {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
                && !name.starts_with(|first: char| first.is_ascii_digit());
            if !valid || RESERVED_LABELS.contains(&name.as_str()) || value.len() > 256 {
                return Err(Error::Invalid(format!(
                    "label {name:?}: names are [a-zA-Z_][a-zA-Z0-9_]* (not {}), values at most \
                     256 bytes",
                    RESERVED_LABELS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The durations the state machine holds.
    pub fn timing(&self) -> Timing {
        let duration = |value: StdDuration| Duration::from_std(value).unwrap_or(Duration::MAX);
        Timing {
            pending_for: duration(self.pending_for),
            keep_firing_for: duration(self.keep_firing_for),
        }
    }
}

/// Checks the percents of a quota or spend rule.
fn check_percents(percents: &[u32]) -> Result<()> {
    if percents.is_empty()
        || percents
            .iter()
            .any(|percent| *percent == 0 || *percent > 1000)
    {
        return Err(Error::Invalid(
            "percents: one or more of 1 to 1000".to_owned(),
        ));
    }
    Ok(())
}

/// A rule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// What it says.
    pub spec: RuleSpec,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// The labels of one alert series, which name it: the tenant, the rule, the severity, the
/// rule's labels and what the series covers (`subject`, `group` or `threshold`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Labels(pub BTreeMap<String, String>);

impl Labels {
    /// The labels of `rule`'s series that `own` names (`{"subject": "s1"}`, say).
    pub fn of(rule: &Rule, own: &[(&str, &str)]) -> Self {
        let mut labels = rule.spec.labels.clone();
        labels.insert("tenant".to_owned(), rule.tenant_id.to_string());
        labels.insert("alertname".to_owned(), rule.spec.name.clone());
        labels.insert(
            "severity".to_owned(),
            rule.spec.severity.as_str().to_owned(),
        );
        for (name, value) in own {
            labels.insert((*name).to_owned(), (*value).to_owned());
        }
        Self(labels)
    }

    /// The series' key within its rule: its own labels, `name=value` joined by `,` in name
    /// order, without the ones all of the rule's series share.
    pub fn series_key(&self, rule: &Rule) -> String {
        self.0
            .iter()
            .filter(|(name, _)| {
                !rule.spec.labels.contains_key(*name)
                    && !matches!(name.as_str(), "tenant" | "alertname" | "severity")
            })
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect();
        write!(formatter, "{{{}}}", pairs.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_rule_reads_with_its_defaults() {
        let spec = RuleSpec::parse(
            r#"{"name": "too-hot", "kind": "threshold", "meter": "temp", "window": "1m",
                "op": ">", "value": "80", "for": "5m"}"#,
        )
        .expect("a rule");
        assert_eq!(spec.pending_for, StdDuration::from_secs(300));
        assert_eq!(spec.keep_firing_for, StdDuration::ZERO);
        assert_eq!(spec.severity, Severity::Warning);
        assert!(matches!(
            spec.condition,
            Condition::Threshold {
                by: By::Subject,
                op: Comparison::Above,
                ..
            }
        ));
        let by_group = RuleSpec::parse(
            r#"{"name": "g", "kind": "threshold", "meter": "temp", "window": "2m",
                "op": "<=", "value": "1.5", "by": {"group": "region"}}"#,
        )
        .expect("a rule");
        assert!(matches!(
            by_group.condition,
            Condition::Threshold { by: By::Group(ref group), .. } if group == "region"
        ));
    }

    #[test]
    fn spend_rules_name_a_customer_and_a_budget() {
        let spend = RuleSpec::parse(
            r#"{"name": "budget", "kind": "spend", "customer": "acme", "budget": "500.00"}"#,
        )
        .expect("a rule");
        assert_eq!(spend.condition.kind(), "spend");
        assert_eq!(
            spend.condition,
            Condition::Spend {
                customer: "acme".to_owned(),
                budget: Decimal::new(50000, 2),
                percents: vec![80, 100],
            }
        );
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        for (json, reason) in [
            (r#"{"name": "A", "kind": "quota"}"#, "rule name"),
            (
                r#"{"name": "w", "kind": "threshold", "meter": "m", "window": "90s", "op": ">", "value": "1"}"#,
                "whole minutes",
            ),
            (
                r#"{"name": "q", "kind": "quota", "percents": []}"#,
                "percents",
            ),
            (
                r#"{"name": "a", "kind": "absence", "event_type": "x", "after": "10ms"}"#,
                "at least a second",
            ),
            (
                r#"{"name": "l", "kind": "quota", "labels": {"tenant": "x"}}"#,
                "label",
            ),
            (
                r#"{"name": "u", "kind": "quota", "colour": "red"}"#,
                "not an alert rule",
            ),
            (
                r#"{"name": "s", "kind": "spend", "customer": "c", "budget": "0"}"#,
                "budget is above zero",
            ),
            (
                r#"{"name": "s", "kind": "spend", "customer": "", "budget": "5"}"#,
                "customer",
            ),
            (
                r#"{"name": "s", "kind": "spend", "customer": "c", "budget": "5", "meter": "m"}"#,
                "unknown field `meter`",
            ),
        ] {
            let error = RuleSpec::parse(json).expect_err(json).to_string();
            assert!(error.contains(reason), "{json}: {error}");
        }
    }

    #[test]
    fn comparisons_breach_as_written() {
        let d = |text: &str| text.parse::<Decimal>().expect("a decimal");
        assert!(Comparison::Above.breaches(d("80.1"), d("80")));
        assert!(!Comparison::Above.breaches(d("80"), d("80")));
        assert!(Comparison::AtLeast.breaches(d("80"), d("80")));
        assert!(Comparison::Below.breaches(d("-1"), d("0")));
        assert!(Comparison::AtMost.breaches(d("0"), d("0")));
    }

    #[test]
    fn a_series_key_holds_only_what_tells_the_rule_series_apart() {
        let rule = Rule {
            id: Uuid::nil(),
            tenant_id: TenantId::generate(),
            spec: RuleSpec::parse(r#"{"name": "q", "kind": "quota", "labels": {"team": "ops"}}"#)
                .expect("a rule"),
            created_at: Utc::now(),
        };
        let labels = Labels::of(&rule, &[("threshold", "80")]);
        assert_eq!(labels.series_key(&rule), "threshold=80");
        assert_eq!(labels.0["team"], "ops");
        assert_eq!(labels.0["alertname"], "q");
        assert_eq!(labels.0["severity"], "warning");
    }
}
