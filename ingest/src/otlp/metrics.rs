//! Metrics: one event per data point of every gauge, sum, histogram, exponential histogram
//! and summary.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, SummaryDataPoint,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::common::{Mapped, ResourceContext, double_json, scope_json, time_ms};
use super::size::{Inherited, json_len};
use crate::Candidate;

const EVENT_TYPE: &str = "otlp.metric";

/// Maps every data point of a request, in request order.
pub(super) fn map(
    request: &ExportMetricsServiceRequest,
    max_event_bytes: usize,
    ingest_time_ms: i64,
) -> Vec<Candidate<'static>> {
    let mut candidates = Vec::new();
    for resource_metrics in &request.resource_metrics {
        let resource = ResourceContext::new(resource_metrics.resource.as_ref(), max_event_bytes);
        for scope_metrics in &resource_metrics.scope_metrics {
            let scope = scope_json(scope_metrics.scope.as_ref());
            for metric in &scope_metrics.metrics {
                // Every point carries its metric's name, description and unit.
                let header = [&metric.name, &metric.description, &metric.unit];
                let inherited = Inherited {
                    bytes: scope.bytes + header.into_iter().map(json_len).sum::<usize>(),
                    from: "resource, scope and metric",
                };
                let mapper = PointMapper {
                    resource: &resource,
                    scope: &scope.value,
                    metric,
                    inherited,
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
    inherited: Inherited,
    ingest_time_ms: i64,
}

impl PointMapper<'_> {
    fn map_metric(&self, candidates: &mut Vec<Candidate<'static>>) {
        let Some(data) = &self.metric.data else {
            return;
        };
        match data {
            Data::Gauge(gauge) => {
                self.map_points(candidates, "gauge", &gauge.data_points, number_fields)
            }
            Data::Sum(sum) => self.map_points(candidates, "sum", &sum.data_points, |point| {
                let mut fields = number_fields(point)?;
                fields.insert("is_monotonic".into(), sum.is_monotonic.into());
                fields.insert(
                    "temporality".into(),
                    temporality(sum.aggregation_temporality),
                );
                Ok(fields)
            }),
            Data::Histogram(histogram) => {
                self.map_points(candidates, "histogram", &histogram.data_points, |point| {
                    let buckets = json!({
                        "bucket_counts": point.bucket_counts,
                        "explicit_bounds": doubles_json(&point.explicit_bounds),
                    });
                    let summary = (point.count, point.sum, point.min, point.max);
                    Ok(histogram_fields(
                        histogram.aggregation_temporality,
                        summary,
                        buckets,
                    ))
                });
            }
            Data::ExponentialHistogram(histogram) => {
                let kind = "exponential_histogram";
                self.map_points(candidates, kind, &histogram.data_points, |point| {
                    let buckets = json!({
                        "scale": point.scale,
                        "zero_count": point.zero_count,
                        "positive": point.positive.as_ref().map(buckets_json),
                        "negative": point.negative.as_ref().map(buckets_json),
                    });
                    let summary = (point.count, point.sum, point.min, point.max);
                    Ok(histogram_fields(
                        histogram.aggregation_temporality,
                        summary,
                        buckets,
                    ))
                });
            }
            Data::Summary(summary) => {
                self.map_points(candidates, "summary", &summary.data_points, |point| {
                    let quantiles: Vec<Value> = point
                        .quantile_values
                        .iter()
                        .map(|quantile| {
                            json!({
                                "quantile": double_json(quantile.quantile),
                                "value": double_json(quantile.value),
                            })
                        })
                        .collect();
                    Ok(object(json!({
                        "count": point.count,
                        "sum": double_json(point.sum),
                        "quantiles": quantiles,
                    })))
                });
            }
        }
    }

    /// Maps each point of one kind; `kind_fields` gives the fields only that kind has, or why
    /// the point cannot be mapped.
    fn map_points<Point: DataPoint>(
        &self,
        candidates: &mut Vec<Candidate<'static>>,
        kind: &str,
        points: &[Point],
        kind_fields: impl Fn(&Point) -> Result<Map<String, Value>, String>,
    ) {
        for point in points {
            let map = || kind_fields(point).and_then(|fields| self.map_point(kind, point, fields));
            let candidate = self
                .resource
                .candidate(EVENT_TYPE, point, self.inherited, map);
            candidates.push(candidate);
        }
    }

    fn map_point<Point: DataPoint>(
        &self,
        kind: &str,
        point: &Point,
        kind_fields: Map<String, Value>,
    ) -> Result<Mapped, String> {
        let name = &self.metric.name;
        if name.is_empty() {
            return Err("metric has no name".to_owned());
        }
        let (start_time_unix_nano, time_unix_nano) = point.times();
        let mut metric = object(json!({
            "name": name,
            "description": self.metric.description,
            "unit": self.metric.unit,
            "kind": kind,
            "start_time_unix_nano": start_time_unix_nano,
            "time_unix_nano": time_unix_nano,
        }));
        metric.extend(kind_fields);
        let data = self.resource.data(
            self.scope,
            point.attributes(),
            "metric",
            Value::Object(metric),
        );
        Ok(Mapped {
            subject: Some(name.clone()),
            time_ms: time_ms(time_unix_nano, self.ingest_time_ms),
            id: None,
            data,
        })
    }
}

/// What the data points of every kind have in common.
trait DataPoint: Serialize {
    fn attributes(&self) -> &[KeyValue];
    /// `(start_time_unix_nano, time_unix_nano)`.
    fn times(&self) -> (u64, u64);
}

/// Every OTLP data point type carries its attributes and times in fields of the same names.
macro_rules! data_point {
    ($($point:ty),+) => {$(
        impl DataPoint for $point {
            fn attributes(&self) -> &[KeyValue] {
                &self.attributes
            }
            fn times(&self) -> (u64, u64) {
                (self.start_time_unix_nano, self.time_unix_nano)
            }
        }
    )+};
}

data_point!(
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    SummaryDataPoint
);

/// The `value` of a gauge or sum point, which must have one.
fn number_fields(point: &NumberDataPoint) -> Result<Map<String, Value>, String> {
    let value = match point.value {
        Some(NumberValue::AsInt(number)) => Value::from(number),
        Some(NumberValue::AsDouble(number)) => double_json(number),
        None => return Err("number data point has no value (asInt or asDouble)".to_owned()),
    };
    Ok(Map::from_iter([("value".to_owned(), value)]))
}

/// The fields of a histogram point, explicit or exponential: its temporality, its count, sum,
/// min and max, then the fields of its kind of `buckets`.
fn histogram_fields(
    aggregation_temporality: i32,
    (count, sum, min, max): (u64, Option<f64>, Option<f64>, Option<f64>),
    buckets: Value,
) -> Map<String, Value> {
    let mut fields = object(json!({
        "temporality": temporality(aggregation_temporality),
        "count": count,
        "sum": sum.map(double_json),
        "min": min.map(double_json),
        "max": max.map(double_json),
    }));
    fields.extend(object(buckets));
    fields
}

fn doubles_json(numbers: &[f64]) -> Value {
    Value::Array(numbers.iter().copied().map(double_json).collect())
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
