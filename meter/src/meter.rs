//! Meter definitions: per tenant, which events a meter counts (by type), the value it reads
//! from their data, how it aggregates, what it groups by, and how late an event may arrive.
//! Stored in the catalog ([`crate::catalog::meters`]); the aggregator and the usage queries read
//! them.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use strum::{EnumString, IntoStaticStr};

use crate::caps::Caps;
use crate::event_type::MAX_EVENT_TYPE_LENGTH;
use crate::ids::{MeterId, MeterKey, TenantId};
use crate::{Error, Result};

/// How a meter combines the values of its events in a window. Names parse in any case, with
/// `-` for `_`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, EnumString, IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(
    serialize_all = "SCREAMING_SNAKE_CASE",
    ascii_case_insensitive,
    parse_err_ty = Error,
    parse_err_fn = invalid_aggregation
)]
pub enum Aggregation {
    /// Sum of the values.
    Sum,
    /// Number of events (reads no value).
    Count,
    /// Mean of the values.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Number of distinct values.
    #[strum(to_string = "UNIQUE_COUNT", serialize = "UNIQUE-COUNT")]
    UniqueCount,
    /// The value of the event with the latest time.
    Latest,
}

impl Aggregation {
    /// Returns the stored name, such as `UNIQUE_COUNT`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether totals over several subjects follow from each subject's: counts and sums add,
    /// extremes take the extreme, an average divides the summed sums by the summed events.
    /// Distinct values and latest values need the rows themselves.
    pub fn merges_over_subjects(self) -> bool {
        !matches!(self, Self::UniqueCount | Self::Latest)
    }
}

fn invalid_aggregation(text: &str) -> Error {
    Error::Invalid(format!(
        "aggregation must be one of sum, count, avg, min, max, unique_count, latest; got {text:?}"
    ))
}

/// A path into an event's JSON data: `$` then `.name` steps, such as `$.usage.tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct JsonPath {
    text: String,
    steps: Vec<String>,
}

impl JsonPath {
    /// Parses a path of the form `$.a.b`; step names are non-empty and hold no `.`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || {
            Error::Invalid(format!(
                "a JSON path looks like $.name or $.name.inner (names without dots), got {text:?}"
            ))
        };
        let rest = text.strip_prefix("$.").ok_or_else(invalid)?;
        let steps: Vec<String> = rest.split('.').map(str::to_owned).collect();
        if steps.iter().any(String::is_empty) || text.len() > 256 {
            return Err(invalid());
        }
        Ok(Self {
            text: text.to_owned(),
            steps,
        })
    }

    /// Returns the value at the path in `data`, if there is one.
    pub fn lookup<'a>(&self, data: &'a Value) -> Option<&'a Value> {
        self.steps
            .iter()
            .try_fold(data, |value, step| value.as_object()?.get(step))
    }

    /// Returns the path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for JsonPath {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl From<JsonPath> for String {
    fn from(path: JsonPath) -> Self {
        path.text
    }
}

/// What a meter is asked to be, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeterSpec {
    /// Unique per tenant: a-z, 0-9, '-', '_'.
    pub key: MeterKey,
    /// Events of this type are metered.
    pub event_type: String,
    /// Where the value is; `None` exactly for [`Aggregation::Count`].
    pub value_path: Option<JsonPath>,
    /// How values combine.
    pub aggregation: Aggregation,
    /// Group names and the paths their values come from.
    pub group_by: BTreeMap<String, JsonPath>,
    /// How long after its time an event is still counted, in seconds.
    pub allowed_lateness_secs: u64,
}

impl MeterSpec {
    /// Checks the combination of fields.
    pub fn validate(&self) -> Result<()> {
        if self.event_type.is_empty() || self.event_type.len() > MAX_EVENT_TYPE_LENGTH {
            return Err(Error::Invalid(format!(
                "a meter's event type must be 1 to {MAX_EVENT_TYPE_LENGTH} bytes"
            )));
        }
        match (self.aggregation, &self.value_path) {
            (Aggregation::Count, Some(_)) => Err(Error::Invalid(
                "a COUNT meter counts events and reads no value: leave out the value path"
                    .to_owned(),
            )),
            (aggregation, None) if aggregation != Aggregation::Count => Err(Error::Invalid(
                format!("{aggregation} meters need a value path such as $.tokens"),
            )),
            _ => Ok(()),
        }?;
        let valid_name = |name: &str| {
            !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if let Some(name) = self.group_by.keys().find(|name| !valid_name(name)) {
            return Err(Error::Invalid(format!(
                "group names are 1-64 characters of letters, digits, '_' and '-', got {name:?}"
            )));
        }
        if i64::try_from(self.allowed_lateness_secs).is_err() {
            return Err(Error::Invalid("allowed lateness is too large".to_owned()));
        }
        Ok(())
    }

    /// Refuses a spec with more than `caps.group_by_per_meter` groups.
    pub fn check_group_count(&self, caps: &Caps) -> Result<()> {
        if self.group_by.len() > caps.group_by_per_meter as usize {
            return Err(Error::LimitReached(format!(
                "a meter may have at most {} groups (caps.group_by_per_meter), got {}",
                caps.group_by_per_meter,
                self.group_by.len()
            )));
        }
        Ok(())
    }
}

/// A stored meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Meter {
    /// Stable identifier.
    pub id: MeterId,
    /// Owner.
    pub tenant_id: TenantId,
    /// What it meters.
    #[serde(flatten)]
    pub spec: MeterSpec,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(aggregation: Aggregation, value_path: Option<&str>) -> MeterSpec {
        MeterSpec {
            key: MeterKey::parse("tokens").expect("valid"),
            event_type: "llm.completion".to_owned(),
            value_path: value_path.map(|path| JsonPath::parse(path).expect("valid")),
            aggregation,
            group_by: BTreeMap::new(),
            allowed_lateness_secs: 3600,
        }
    }

    #[test]
    fn paths_read_nested_values_and_refuse_other_forms() {
        let path = JsonPath::parse("$.usage.tokens").expect("valid");
        let data = json!({ "usage": { "tokens": 42 } });
        assert_eq!(path.lookup(&data), Some(&json!(42)));
        assert_eq!(path.lookup(&json!({ "usage": 3 })), None);
        for bad in ["usage", "$", "$.", "$.a..b", "$[0]"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn count_meters_read_no_value_and_the_others_need_one() {
        assert!(spec(Aggregation::Count, None).validate().is_ok());
        assert!(
            spec(Aggregation::Count, Some("$.tokens"))
                .validate()
                .is_err()
        );
        assert!(spec(Aggregation::Sum, None).validate().is_err());
        assert!(
            spec(Aggregation::UniqueCount, Some("$.user"))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn aggregations_parse_in_any_case() {
        assert_eq!(
            "unique_count".parse::<Aggregation>().ok(),
            Some(Aggregation::UniqueCount)
        );
        assert_eq!("SUM".parse::<Aggregation>().ok(), Some(Aggregation::Sum));
        assert_eq!(
            "Unique-Count".parse::<Aggregation>().ok(),
            Some(Aggregation::UniqueCount)
        );
        assert_eq!(Aggregation::UniqueCount.to_string(), "UNIQUE_COUNT");
        assert_eq!(format!("{:<6}|", Aggregation::Sum), "SUM   |");
        let refused = "median"
            .parse::<Aggregation>()
            .expect_err("not an aggregation");
        assert_eq!(
            refused.to_string(),
            r#"aggregation must be one of sum, count, avg, min, max, unique_count, latest; got "median""#
        );
    }
}
