//! Service level indicators as the aggregator counts them: of a tenant's events of one type,
//! each is one more in the total, and one more good event when the indicator's [`Predicate`]
//! holds for its data (`$.status < 500`, `$.latency_ms <= 300`, `$.outcome == "ok"`).
//!
//! An indicator is counted as a SUM meter of its own ([`Indicator::meter`]) whose reading is 1
//! for a good event and 0 for another, so that a rollup row's `events` is the total and its
//! sum the good events, kept exactly once per minute like every meter's sums.
//!
//! The platform tenant's indicators over the [`OBSERVED_TYPES`] count Tally's own work instead:
//! the [`Observation`](crate::event::Observation)s that ingest and API nodes and the freshness
//! canary send on the metering topic, each as `count` events with its data.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{MeterId, MeterKey, TenantId};
use crate::meter::{Aggregation, JsonPath, Meter, MeterSpec};
use crate::{Error, Result};

/// The event types of the platform's own observations: ingest's answers, the API's answers and
/// the freshness canary's delays. Only the platform tenant's indicators count them, and only
/// from observations, never from events a tenant sends.
pub const OBSERVED_TYPES: [&str; 3] = [INGEST_ANSWER, API_ANSWER, FRESHNESS];

/// Ingest's answers: `{"route": "/v1/events", "status": 503}`.
pub const INGEST_ANSWER: &str = "tally.ingest.request";

/// The API's answers: `{"route": "/graphql", "status": 200, "latency_ms": 50}`.
pub const API_ANSWER: &str = "tally.api.request";

/// The freshness canary's delays: `{"delay_ms": 900}`, or `{"lost": true}`.
pub const FRESHNESS: &str = "tally.freshness";

/// How long after its time an event still counts for an indicator: an hour, as for meters by
/// default.
pub const ALLOWED_LATENESS_SECS: u64 = 3_600;

/// A comparison of a value with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Comparison {
    /// Greater than.
    #[serde(rename = ">")]
    Above,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    AtLeast,
    /// Less than.
    #[serde(rename = "<")]
    Below,
    /// Less than or equal.
    #[serde(rename = "<=")]
    AtMost,
    /// Equal.
    #[serde(rename = "==")]
    Equal,
    /// Not equal.
    #[serde(rename = "!=")]
    NotEqual,
}

impl Comparison {
    /// Every comparison, longest symbols first (as a parser tries them).
    const ALL: [Self; 6] = [
        Self::AtLeast,
        Self::AtMost,
        Self::Equal,
        Self::NotEqual,
        Self::Above,
        Self::Below,
    ];

    /// Whether `value` compares with `threshold` this way.
    pub fn breaches(self, value: Decimal, threshold: Decimal) -> bool {
        self.holds(value.cmp(&threshold))
    }

    /// Whether an ordering of a value against another satisfies this comparison.
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Self::Above => ordering == Ordering::Greater,
            Self::AtLeast => ordering != Ordering::Less,
            Self::Below => ordering == Ordering::Less,
            Self::AtMost => ordering != Ordering::Greater,
            Self::Equal => ordering == Ordering::Equal,
            Self::NotEqual => ordering != Ordering::Equal,
        }
    }

    /// The operator as written: `>`, `>=`, `<`, `<=`, `==` or `!=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Above => ">",
            Self::AtLeast => ">=",
            Self::Below => "<",
            Self::AtMost => "<=",
            Self::Equal => "==",
            Self::NotEqual => "!=",
        }
    }
}

/// What a predicate compares a value with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A number: the value compares as a number (a string holding one counts).
    Number(Decimal),
    /// A string, in double quotes: the value compares as text, for `==` and `!=` only.
    Text(String),
}

/// A condition on an event's data: `PATH OP VALUE`, such as `$.status < 500` or
/// `$.outcome == "ok"`. An event without a comparable value at the path does not satisfy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicate {
    /// Where the value is.
    pub path: JsonPath,
    /// How it compares.
    pub op: Comparison,
    /// With what.
    pub operand: Operand,
}

impl Predicate {
    /// Parses `PATH OP VALUE`, with spaces around the operator optional.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |why: &str| {
            Error::Invalid(format!(
                "a condition looks like `$.status < 500` or `$.outcome == \"ok\"` ({why}), got \
                 {text:?}"
            ))
        };
        let (at, op) = Comparison::ALL
            .iter()
            .filter_map(|op| text.find(op.symbol()).map(|at| (at, *op)))
            .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.symbol().len())))
            .ok_or_else(|| invalid("no operator among >, >=, <, <=, ==, !="))?;
        let path = JsonPath::parse(text[..at].trim()).map_err(|_| invalid("a bad path"))?;
        let value = text[at + op.symbol().len()..].trim();
        let operand = if let Some(quoted) = value
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
        {
            if !matches!(op, Comparison::Equal | Comparison::NotEqual) {
                return Err(invalid("text compares with == and != only"));
            }
            Operand::Text(quoted.to_owned())
        } else {
            Operand::Number(
                Decimal::from_str(value).map_err(|_| invalid("a value that is not a number"))?,
            )
        };
        Ok(Self { path, op, operand })
    }

    /// Whether `data` satisfies the condition.
    pub fn holds(&self, data: &Value) -> bool {
        let Some(value) = self.path.lookup(data) else {
            return false;
        };
        match &self.operand {
            Operand::Number(threshold) => {
                let number = match value {
                    Value::Number(number) => Decimal::from_str(&number.to_string())
                        .or_else(|_| Decimal::from_scientific(&number.to_string()))
                        .ok(),
                    Value::String(text) => Decimal::from_str(text.trim()).ok(),
                    _ => None,
                };
                number.is_some_and(|number| self.op.breaches(number, *threshold))
            }
            Operand::Text(expected) => {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                self.op.holds(text.as_str().cmp(expected.as_str()))
            }
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {} ", self.path.as_str(), self.op.symbol())?;
        match &self.operand {
            Operand::Number(number) => write!(formatter, "{number}"),
            Operand::Text(text) => write!(formatter, "\"{text}\""),
        }
    }
}

impl Serialize for Predicate {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Predicate {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An indicator as the aggregator counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// Its id, which its rollup rows carry as their meter id (the SLO's id).
    pub id: MeterId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The events it counts.
    pub event_type: String,
    /// What makes an event good.
    pub good: Predicate,
    /// The group it splits by, if any: its name and the path of its values.
    pub group_by: Option<(String, JsonPath)>,
    /// When it was created: it counts what ingest accepted from then on.
    pub created_at: DateTime<Utc>,
    /// Whether its tenant is the platform tenant, whose indicators over the
    /// [`OBSERVED_TYPES`] count the platform's observations.
    pub platform: bool,
}

impl Indicator {
    /// Whether it counts the platform's observations rather than events.
    pub fn observes(&self) -> bool {
        self.platform && OBSERVED_TYPES.contains(&self.event_type.as_str())
    }

    /// The SUM meter it is counted as: its events are the total, its sum the good events.
    pub fn meter(&self) -> Meter {
        Meter {
            id: self.id,
            tenant_id: self.tenant_id,
            spec: MeterSpec {
                key: MeterKey::parse("sli").unwrap_or_else(|_| unreachable!("a valid key")),
                event_type: self.event_type.clone(),
                value_path: None,
                aggregation: Aggregation::Sum,
                group_by: self.group_by.iter().cloned().collect::<BTreeMap<_, _>>(),
                allowed_lateness_secs: ALLOWED_LATENESS_SECS,
            },
            created_at: self.created_at,
        }
    }

    /// An indicator for tests: good below status 500, grouped by route.
    #[cfg(test)]
    pub(crate) fn example(tenant: TenantId, event_type: &str) -> Self {
        Self {
            id: MeterId::generate(),
            tenant_id: tenant,
            event_type: event_type.to_owned(),
            good: Predicate::parse("$.status < 500").expect("valid"),
            group_by: Some((
                "route".to_owned(),
                JsonPath::parse("$.route").expect("valid"),
            )),
            created_at: Utc::now(),
            platform: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn holds(condition: &str, data: Value) -> bool {
        Predicate::parse(condition).expect(condition).holds(&data)
    }

    #[test]
    fn conditions_compare_numbers_and_text() {
        assert!(holds("$.status < 500", json!({"status": 200})));
        assert!(!holds("$.status<500", json!({"status": 503})));
        assert!(holds("$.status <= 500", json!({"status": "500"})));
        assert!(holds(
            "$.http.latency_ms >= 0.5",
            json!({"http": {"latency_ms": 5e-1}})
        ));
        assert!(holds("$.outcome == \"ok\"", json!({"outcome": "ok"})));
        assert!(holds("$.outcome != \"ok\"", json!({"outcome": "error"})));
        assert!(holds("$.code == 0", json!({"code": 0.0})));
        assert!(holds("$.code != 0", json!({"code": 1})));
        // Nothing comparable at the path: not good.
        assert!(!holds("$.status < 500", json!({})));
        assert!(!holds("$.status < 500", json!({"status": "n/a"})));
        assert!(!holds("$.status < 500", json!({"status": [200]})));
    }

    #[test]
    fn conditions_read_back_as_written() {
        for text in [
            "$.status < 500",
            "$.latency_ms <= 300.5",
            "$.outcome != \"ok\"",
        ] {
            let parsed = Predicate::parse(text).expect(text);
            assert_eq!(parsed.to_string(), text);
            let json = serde_json::to_string(&parsed).expect("serializes");
            assert_eq!(
                serde_json::from_str::<Predicate>(&json).expect("reads"),
                parsed
            );
        }
    }

    #[test]
    fn bad_conditions_say_what_a_condition_looks_like() {
        for text in [
            "status < 500",
            "$.status",
            "$.status < x",
            "$.outcome < \"ok\"",
        ] {
            let error = Predicate::parse(text).expect_err(text).to_string();
            assert!(error.contains("a condition looks like"), "{text}: {error}");
        }
    }

    #[test]
    fn an_indicator_is_a_sum_meter_of_its_events() {
        let indicator = Indicator::example(TenantId::generate(), "http.request");
        let meter = indicator.meter();
        assert_eq!(meter.spec.aggregation, Aggregation::Sum);
        assert_eq!(meter.id, indicator.id);
        assert_eq!(meter.spec.group_by.len(), 1);
    }
}
