//! Metrics: one event per data point of every gauge, sum, histogram, exponential histogram
//! and summary.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, NumberDataPoint};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::common::{Mapped, ResourceContext, double_json, scope_json, time_ms};
use crate::Candidate;

const EVENT_TYPE: &str = "otlp.metric";

/// Maps every data point of a request, in request order.
pub(super) fn map(
    request: &ExportMetricsServiceRequest,
    ingest_time_ms: i64,
) -> Vec<Candidate<'static>> {
    let mut candidates = Vec::new();
    for resource_metrics in &request.resource_metrics {
        let resource = ResourceContext::new(resource_metrics.resource.as_ref());
        for scope_metrics in &resource_metrics.scope_metrics {
            let scope = scope_json(scope_metrics.scope.as_ref());
            for metric in &scope_metrics.metrics {
                let mapper = PointMapper {
                    resource: &resource,
                    scope: &scope,
                    metric,
                    ingest_time_ms,
                };
                mapper.map_metric(&mut candidates);
            }
        }
    }
    candidates
}

/// Maps the points of one metric, which share its name, description and unit.
struct PointMapper<'a> {
    resource: &'a ResourceContext,
    scope: &'a Value,
    metric: &'a Metric,
    ingest_time_ms: i64,
}

impl PointMapper<'_> {
    fn map_metric(&self, candidates: &mut Vec<Candidate<'static>>) {
        let Some(data) = &self.metric.data else {
            return;
        };
        match data {
            Data::Gauge(gauge) => {
                for point in &gauge.data_points {
                    let fields = number_fields(point);
                    candidates.push(self.candidate(
                        "gauge",
                        point,
                        &point.attributes,
                        times(point),
                        fields,
                    ));
                }
            }
            Data::Sum(sum) => {
                for point in &sum.data_points {
                    let fields = number_fields(point).map(|mut fields| {
                        fields.insert("is_monotonic".into(), sum.is_monotonic.into());
                        fields.insert(
                            "temporality".into(),
                            temporality(sum.aggregation_temporality),
                        );
                        fields
                    });
                    candidates.push(self.candidate(
                        "sum",
                        point,
                        &point.attributes,
                        times(point),
                        fields,
                    ));
                }
            }
            Data::Histogram(histogram) => {
                for point in &histogram.data_points {
                    let fields = object(json!({
                        "temporality": temporality(histogram.aggregation_temporality),
                        "count": point.count,
                        "sum": point.sum.map(double_json),
                        "min": point.min.map(double_json),
                        "max": point.max.map(double_json),
                        "bucket_counts": point.bucket_counts,
                        "explicit_bounds": point.explicit_bounds.iter().copied().map(double_json).collect::<Vec<_>>(),
                    }));
                    let point_times = (point.start_time_unix_nano, point.time_unix_nano);
                    candidates.push(self.candidate(
                        "histogram",
                        point,
                        &point.attributes,
                        point_times,
                        Ok(fields),
                    ));
                }
            }
            Data::ExponentialHistogram(histogram) => {
                for point in &histogram.data_points {
                    let fields = object(json!({
                        "temporality": temporality(histogram.aggregation_temporality),
                        "count": point.count,
                        "sum": point.sum.map(double_json),
                        "min": point.min.map(double_json),
                        "max": point.max.map(double_json),
                        "scale": point.scale,
                        "zero_count": point.zero_count,
                        "positive": point.positive.as_ref().map(buckets_json),
                        "negative": point.negative.as_ref().map(buckets_json),
                    }));
                    let point_times = (point.start_time_unix_nano, point.time_unix_nano);
                    candidates.push(self.candidate(
                        "exponential_histogram",
                        point,
                        &point.attributes,
                        point_times,
                        Ok(fields),
                    ));
                }
            }
            Data::Summary(summary) => {
                for point in &summary.data_points {
                    let quantiles: Vec<Value> = point
                        .quantile_values
                        .iter()
                        .map(|quantile| {
                            json!({"quantile": double_json(quantile.quantile), "value": double_json(quantile.value)})
                        })
                        .collect();
                    let fields = object(json!({
                        "count": point.count,
                        "sum": double_json(point.sum),
                        "quantiles": quantiles,
                    }));
                    let point_times = (point.start_time_unix_nano, point.time_unix_nano);
                    candidates.push(self.candidate(
                        "summary",
                        point,
                        &point.attributes,
                        point_times,
                        Ok(fields),
                    ));
                }
            }
        }
    }

    /// Assembles one point's candidate from the fields of its kind.
    fn candidate<Point: Serialize>(
        &self,
        kind: &str,
        point: &Point,
        attributes: &[KeyValue],
        (start_time_unix_nano, time_unix_nano): (u64, u64),
        kind_fields: Result<Map<String, Value>, String>,
    ) -> Candidate<'static> {
        let name = &self.metric.name;
        let mapped = kind_fields.and_then(|kind_fields| {
            if name.is_empty() {
                return Err("metric has no name".to_owned());
            }
            let mut metric = object(json!({
                "name": name,
                "description": self.metric.description,
                "unit": self.metric.unit,
                "kind": kind,
                "start_time_unix_nano": start_time_unix_nano,
                "time_unix_nano": time_unix_nano,
            }));
            metric.extend(kind_fields);
            Ok(Mapped {
                subject: Some(name.clone()),
                time_ms: time_ms(time_unix_nano, self.ingest_time_ms),
                id: None,
                data: self
                    .resource
                    .data(self.scope, attributes, "metric", Value::Object(metric)),
            })
        });
        self.resource.candidate(EVENT_TYPE, point, mapped)
    }
}

fn times(point: &NumberDataPoint) -> (u64, u64) {
    (point.start_time_unix_nano, point.time_unix_nano)
}

/// The `value` of a gauge or sum point, which must have one.
fn number_fields(point: &NumberDataPoint) -> Result<Map<String, Value>, String> {
    let value = match point.value {
        Some(NumberValue::AsInt(number)) => Value::from(number),
        Some(NumberValue::AsDouble(number)) => double_json(number),
        None => return Err("number data point has no value (asInt or asDouble)".to_owned()),
    };
    Ok(Map::from_iter([("value".to_owned(), value)]))
}

fn buckets_json(buckets: &Buckets) -> Value {
    json!({ "offset": buckets.offset, "bucket_counts": buckets.bucket_counts })
}

fn temporality(value: i32) -> Value {
    let name = match AggregationTemporality::try_from(value) {
        Ok(AggregationTemporality::Delta) => "delta",
        Ok(AggregationTemporality::Cumulative) => "cumulative",
        Ok(AggregationTemporality::Unspecified) | Err(_) => "unspecified",
    };
    Value::from(name)
}

/// Unwraps a `json!` object literal into its map.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests;
