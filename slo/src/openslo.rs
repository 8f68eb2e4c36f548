//! SLOs as OpenSLO v1 YAML: [`to_openslo`] writes one, [`from_openslo`] reads a file of one or
//! more (documents separated by `---`). What Tally writes reads back to the same [`SloSpec`].
//!
//! The mapping:
//!
//! | Tally | OpenSLO v1 (`apiVersion: openslo/v1`, `kind: SLO`) |
//! | --- | --- |
//! | `name` | `metadata.name` (and the inline indicator's `metadata.name`) |
//! | `description` | `spec.description` |
//! | – | `spec.service: tally` (any service is read) |
//! | `indicator` | `spec.indicator.spec.ratioMetric` with `counter: true`; the `good` and `total` `metricSource`s are `type: tally` |
//! | `indicator.event_type` | `eventType` in both metric sources' `spec` |
//! | ratio `indicator.good` | `good` in the good source's `spec`: `$.status < 500` |
//! | latency `indicator.value`, `threshold` | `value` and `threshold` in the good source's `spec` |
//! | `group_by` | `groupBy` in the good source's `spec`: `{route: $.route}` |
//! | `objective` (percent) | `spec.objectives[0].target` (a fraction: 99.9 → 0.999); `targetPercent` is read too |
//! | `window` `"28d"` | `spec.timeWindow: [{duration: 28d, isRolling: true}]` (`4w` is read as 28d) |
//! | `window` `"month"` | `spec.timeWindow: [{duration: 1M, isRolling: false, calendar: {startTime: "2020-01-01 00:00:00", timeZone: UTC}}]` |
//! | – | `spec.budgetingMethod: Occurrences` |
//! | `tiers` | `metadata.annotations["tally/tiers"]`: the tiers' JSON; Tally's default tiers when absent |
//!
//! A document Tally cannot honour is refused with the field that says so: another
//! `apiVersion` or `kind`, a `budgetingMethod` other than `Occurrences`, several objectives or
//! time windows, a threshold metric, `bad` or raw ratio metrics, metric sources of another
//! type, an `indicatorRef` (the indicator must be inline) or `alertPolicies` (Tally alerts by
//! its tiers). `metadata.displayName`, labels and other annotations are read and dropped.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_norway::Value;
use tally_meter::{Error, Result};

use self::document::{
    Calendar, Document, GoodSource, Header, Indicator, IndicatorSpec as OpenSloIndicatorSpec,
    Metadata, MetricSource, Objective, RatioMetric, Source, Spec, TimeWindow, TotalSource,
};
use self::read::spec_of;
use crate::spec::{IndicatorSpec, SloSpec};
use crate::window::Window;

mod document;
mod read;

/// The annotation that holds an SLO's tiers, as JSON.
pub const TIERS_ANNOTATION: &str = "tally/tiers";

/// The `apiVersion` read and written.
const API_VERSION: &str = "openslo/v1";

/// The metric source type of Tally's events.
const SOURCE_TYPE: &str = "tally";

/// Writes `spec` as one OpenSLO v1 `SLO` document.
pub fn to_openslo(spec: &SloSpec) -> String {
    serde_norway::to_string(&document_of(spec))
        .unwrap_or_else(|error| unreachable!("an OpenSLO document is plain YAML: {error}"))
}

/// Writes `specs` as one file of OpenSLO documents, separated by `---`.
pub fn to_openslo_documents(specs: &[SloSpec]) -> String {
    specs
        .iter()
        .map(to_openslo)
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Reads the SLOs of an OpenSLO v1 file: one per document (empty documents skipped), each
/// checked as [`SloSpec::validate`] does.
pub fn from_openslo(yaml: &str) -> Result<Vec<SloSpec>> {
    let headers = serde_norway::Deserializer::from_str(yaml)
        .map(Option::<Header>::deserialize)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| Error::Invalid(format!("not OpenSLO YAML: {error}")))?;
    let documents = serde_norway::Deserializer::from_str(yaml).map(Option::<Document>::deserialize);
    let mut specs = Vec::new();
    for (index, (header, document)) in headers.into_iter().zip(documents).enumerate() {
        let Some(header) = header else { continue };
        let in_document =
            |message: String| Error::Invalid(format!("OpenSLO document {}: {message}", index + 1));
        check_header(&header).map_err(in_document)?;
        let document = document
            .map_err(|error| in_document(error.to_string()))?
            .ok_or_else(|| in_document("empty".to_owned()))?;
        let spec = spec_of(document).map_err(in_document)?;
        spec.validate()
            .map_err(|error| in_document(error.to_string()))?;
        specs.push(spec);
    }
    Ok(specs)
}

/// Refuses a document of another version or kind.
fn check_header(header: &Header) -> std::result::Result<(), String> {
    if header.api_version != API_VERSION {
        return Err(format!(
            "apiVersion: Tally reads {API_VERSION}, got {:?}",
            header.api_version
        ));
    }
    if header.kind != "SLO" {
        return Err(format!(
            "kind: Tally reads SLO documents, got {:?}",
            header.kind
        ));
    }
    Ok(())
}

/// The OpenSLO document of `spec`.
fn document_of(spec: &SloSpec) -> Document {
    let tiers = serde_json::to_string(&spec.tiers)
        .unwrap_or_else(|error| unreachable!("tiers are plain JSON: {error}"));
    Document {
        api_version: API_VERSION.to_owned(),
        kind: "SLO".to_owned(),
        metadata: Metadata {
            name: spec.name.clone(),
            display_name: None,
            annotations: [(TIERS_ANNOTATION.to_owned(), tiers)].into(),
        },
        spec: Spec {
            description: spec.description.clone(),
            service: SOURCE_TYPE.to_owned(),
            indicator: Some(indicator_of(spec)),
            indicator_ref: None,
            time_window: vec![time_window_of(spec.window)],
            budgeting_method: "Occurrences".to_owned(),
            objectives: vec![Objective {
                display_name: Some(format!("{}% good over {}", spec.objective, spec.window)),
                target: Some((spec.objective / Decimal::ONE_HUNDRED).normalize()),
                target_percent: None,
            }],
            alert_policies: None,
        },
    }
}

/// The inline ratio indicator of `spec`.
fn indicator_of(spec: &SloSpec) -> Indicator {
    let (good, value, threshold) = match &spec.indicator {
        IndicatorSpec::Ratio { good, .. } => (Some(good.clone()), None, None),
        IndicatorSpec::Latency {
            value, threshold, ..
        } => (None, Some(value.clone()), Some(*threshold)),
    };
    let event_type = spec.indicator.event_type().to_owned();
    let good_source = GoodSource {
        event_type: event_type.clone(),
        good,
        value,
        threshold,
        group_by: spec.group_by.clone(),
    };
    Indicator {
        metadata: Metadata {
            name: spec.name.clone(),
            ..Metadata::default()
        },
        spec: OpenSloIndicatorSpec {
            ratio_metric: Some(RatioMetric {
                counter: true,
                good: Some(source(to_value(&good_source))),
                bad: None,
                total: Some(source(to_value(&TotalSource { event_type }))),
                raw_type: None,
                raw: None,
            }),
            threshold_metric: None,
        },
    }
}

/// A `tally` metric source with `spec`.
fn source(spec: Value) -> Source {
    Source {
        metric_source: MetricSource {
            metric_source_ref: None,
            source_type: SOURCE_TYPE.to_owned(),
            spec,
        },
    }
}

/// A metric source's spec as YAML.
fn to_value<T: serde::Serialize>(spec: &T) -> Value {
    serde_norway::to_value(spec)
        .unwrap_or_else(|error| unreachable!("a metric source spec is plain YAML: {error}"))
}

/// The `timeWindow` entry of `window`.
fn time_window_of(window: Window) -> TimeWindow {
    match window {
        Window::Rolling { days } => TimeWindow {
            duration: format!("{days}d"),
            is_rolling: true,
            calendar: None,
        },
        Window::CalendarMonth => TimeWindow {
            duration: "1M".to_owned(),
            is_rolling: false,
            calendar: Some(Calendar {
                start_time: "2020-01-01 00:00:00".to_owned(),
                time_zone: "UTC".to_owned(),
            }),
        },
    }
}

#[cfg(test)]
mod tests;
