//! The parts of an OpenSLO v1 `SLO` document that Tally reads and writes, as serde types. Each
//! refuses fields it does not know, except `metadata` (labels and the like change nothing).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_norway::Value;
use tally_meter::meter::JsonPath;
use tally_meter::sli::Predicate;

use crate::spec::GroupBy;

/// Just enough of a document to tell what it is, read before the rest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Header {
    /// `openslo/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `SLO`.
    #[serde(default)]
    pub kind: String,
}

/// An OpenSLO v1 `SLO` document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Document {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

/// `metadata`: the name, and annotations where Tally keeps its tiers.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec` of the SLO.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Spec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<Indicator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator_ref: Option<String>,
    #[serde(default)]
    pub time_window: Vec<TimeWindow>,
    #[serde(default)]
    pub budgeting_method: String,
    #[serde(default)]
    pub objectives: Vec<Objective>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_policies: Option<Value>,
}

/// An inline SLI.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Indicator {
    pub metadata: Metadata,
    pub spec: IndicatorSpec,
}

/// The SLI's `spec`: a ratio metric for Tally.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct IndicatorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_metric: Option<RatioMetric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_metric: Option<Value>,
}

/// `ratioMetric`: good events among the total.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RatioMetric {
    #[serde(default)]
    pub counter: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_type: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Value>,
}

/// `good` or `total`: where the events come from.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Source {
    pub metric_source: MetricSource,
}

/// `metricSource`: `type: tally` and Tally's own `spec`, read once the type is known.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct MetricSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_source_ref: Option<String>,
    #[serde(rename = "type", default)]
    pub source_type: String,
    #[serde(default)]
    pub spec: Value,
}

/// The good events' `metricSource.spec` of type `tally`: the event type and either the
/// condition (`good`) or the latency (`value`, `threshold`), and the group if any.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct GoodSource {
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<Predicate>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_json_path"
    )]
    pub value: Option<JsonPath>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_decimal"
    )]
    pub threshold: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::spec::group_by_map"
    )]
    pub group_by: Option<GroupBy>,
}

/// The total events' `metricSource.spec` of type `tally`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TotalSource {
    pub event_type: String,
}

/// One `timeWindow`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TimeWindow {
    pub duration: String,
    #[serde(default)]
    pub is_rolling: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<Calendar>,
}

/// `calendar` of a calendar-aligned window.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Calendar {
    pub start_time: String,
    pub time_zone: String,
}

/// One objective: a target as a fraction (`target: 0.999`) or a percent
/// (`targetPercent: 99.9`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Objective {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "decimal_as_number",
        deserialize_with = "optional_decimal"
    )]
    pub target: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "decimal_as_number",
        deserialize_with = "optional_decimal"
    )]
    pub target_percent: Option<Decimal>,
}

/// Writes a decimal as a YAML number, `0.999` (exact for up to 15 significant digits, which
/// targets keep to).
fn decimal_as_number<S: Serializer>(
    decimal: &Option<Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match decimal.and_then(|decimal| decimal.to_string().parse::<f64>().ok()) {
        Some(number) => serializer.serialize_f64(number),
        None => serializer.serialize_none(),
    }
}

/// Reads a decimal written as a number (`0.999`) or as text (`"0.999"`, `1e-3`).
fn optional_decimal<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    let text = match Value::deserialize(deserializer)? {
        Value::Null => return Ok(None),
        Value::Number(number) => number.to_string(),
        Value::String(text) => text,
        other => {
            return Err(serde::de::Error::custom(format!(
                "a number such as 0.999, got {other:?}"
            )));
        }
    };
    text.trim()
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(text.trim()))
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("a number such as 0.999, got {text:?}")))
}

/// An optional JSON path as its text (serde `with`).
mod optional_json_path {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        path: &Option<JsonPath>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match path {
            Some(path) => serializer.serialize_str(path.as_str()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<JsonPath>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| JsonPath::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}
