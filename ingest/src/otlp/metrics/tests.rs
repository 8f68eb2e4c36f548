//! Tests of the metrics mapping, with requests built in code and captured from exporters.

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use prost::Message as _;

use super::*;
use crate::otlp::testing::{
    LIMITS, NOW_MS, attribute, candidates, data, events, resource, scope, summaries, text,
    to_otlp_json,
};
use crate::otlp::{Encoding, Signal};

const T0: u64 = 1_795_000_000_000_000_000;
const T1: u64 = 1_795_000_000_250_000_000;

fn number_point(value: Option<NumberValue>, time: u64, route: &str) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![text("route", route)],
        start_time_unix_nano: T0,
        time_unix_nano: time,
        value,
        ..Default::default()
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.to_owned(),
        description: format!("{name} description"),
        unit: "1".to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("billing"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("meter.lib"),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn every_kind() -> ExportMetricsServiceRequest {
    let sum = Sum {
        data_points: vec![
            number_point(Some(NumberValue::AsInt(3)), T1, "/a"),
            number_point(Some(NumberValue::AsInt(4)), T1, "/b"),
        ],
        aggregation_temporality: AggregationTemporality::Delta as i32,
        is_monotonic: true,
    };
    let gauge = Gauge {
        data_points: vec![number_point(Some(NumberValue::AsDouble(0.5)), 0, "/a")],
    };
    let histogram = Histogram {
        data_points: vec![HistogramDataPoint {
            time_unix_nano: T1,
            count: 3,
            sum: Some(30.0),
            bucket_counts: vec![1, 2],
            explicit_bounds: vec![10.0],
            min: Some(5.0),
            max: Some(15.0),
            ..Default::default()
        }],
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
    };
    let exponential = ExponentialHistogram {
        data_points: vec![ExponentialHistogramDataPoint {
            time_unix_nano: T1,
            count: 2,
            scale: 1,
            zero_count: 1,
            positive: Some(Buckets {
                offset: 2,
                bucket_counts: vec![1],
            }),
            ..Default::default()
        }],
        aggregation_temporality: AggregationTemporality::Delta as i32,
    };
    let summary = Summary {
        data_points: vec![SummaryDataPoint {
            time_unix_nano: T1,
            count: 4,
            sum: 8.0,
            quantile_values: vec![ValueAtQuantile {
                quantile: 0.5,
                value: 2.0,
            }],
            ..Default::default()
        }],
    };
    request(vec![
        metric("requests", Data::Sum(sum)),
        metric("load", Data::Gauge(gauge)),
        metric("latency", Data::Histogram(histogram)),
        metric("latency.exp", Data::ExponentialHistogram(exponential)),
        metric("rpc", Data::Summary(summary)),
        Metric {
            name: "empty".to_owned(),
            ..Default::default()
        },
    ])
}

#[test]
fn protobuf_maps_every_point_of_every_kind() {
    let body = every_kind().encode_to_vec();
    let events = events(Signal::Metrics, Encoding::Protobuf, &body);
    let subjects: Vec<_> = events
        .iter()
        .map(|event| event.subject.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        subjects,
        [
            "requests",
            "requests",
            "load",
            "latency",
            "latency.exp",
            "rpc"
        ]
    );
    for event in &events {
        assert_eq!(
            (event.event_type.as_str(), event.source.as_str()),
            ("otlp.metric", "billing")
        );
        assert_eq!(event.id.len(), 32);
        assert!(event.id.bytes().all(|byte| byte.is_ascii_hexdigit()));
    }
    assert_ne!(events[0].id, events[1].id, "points differ by attributes");
    assert_eq!(events[0].time_ms, 1_795_000_000_250);
    assert_eq!(
        events[2].time_ms, NOW_MS,
        "a point without time gets the ingest time"
    );

    let sum = data(&events[0]);
    assert_eq!(
        sum["resource"],
        serde_json::json!({"service.name": "billing", "host.name": "web-1"})
    );
    assert_eq!(
        sum["scope"],
        serde_json::json!({"name": "meter.lib", "version": "1.2.3"})
    );
    assert_eq!(sum["attributes"], serde_json::json!({"route": "/a"}));
    assert_eq!(
        sum["metric"],
        serde_json::json!({
            "name": "requests", "description": "requests description", "unit": "1", "kind": "sum",
            "start_time_unix_nano": T0, "time_unix_nano": T1, "value": 3,
            "is_monotonic": true, "temporality": "delta",
        })
    );
    assert_eq!(data(&events[2])["metric"]["value"], 0.5);
    let histogram = &data(&events[3])["metric"];
    assert_eq!(histogram["kind"], "histogram");
    assert_eq!(histogram["temporality"], "cumulative");
    assert_eq!(
        (
            &histogram["count"],
            &histogram["sum"],
            &histogram["min"],
            &histogram["max"]
        ),
        (&3.into(), &30.0.into(), &5.0.into(), &15.0.into())
    );
    assert_eq!(histogram["bucket_counts"], serde_json::json!([1, 2]));
    assert_eq!(histogram["explicit_bounds"], serde_json::json!([10.0]));
    let exponential = &data(&events[4])["metric"];
    assert_eq!(exponential["kind"], "exponential_histogram");
    assert_eq!(
        exponential["positive"],
        serde_json::json!({"offset": 2, "bucket_counts": [1]})
    );
    assert_eq!(exponential["negative"], Value::Null);
    let summary = &data(&events[5])["metric"];
    assert_eq!(
        summary["quantiles"],
        serde_json::json!([{"quantile": 0.5, "value": 2.0}])
    );
}

#[test]
fn ids_are_stable_across_retries_unless_the_point_has_no_time() {
    let body = every_kind().encode_to_vec();
    let first = events(Signal::Metrics, Encoding::Protobuf, &body);
    let retry = super::super::decode(
        Signal::Metrics,
        Encoding::Protobuf,
        &body,
        LIMITS,
        NOW_MS + 5_000,
    )
    .expect("parses");
    let retry_ids: Vec<_> = retry
        .iter()
        .map(|candidate| candidate.decoded.as_ref().map(|event| &event.id))
        .collect();
    assert_eq!(retry_ids[0], Ok(&first[0].id));
    assert_eq!(retry_ids[3], Ok(&first[3].id));
    assert_ne!(
        retry_ids[2],
        Ok(&first[2].id),
        "the timeless gauge point hashed the ingest time"
    );
}

#[test]
fn an_unmappable_point_is_refused_alone() {
    let sum = Sum {
        data_points: vec![number_point(None, T1, "/a")],
        ..Default::default()
    };
    let gauge = Gauge {
        data_points: vec![number_point(Some(NumberValue::AsInt(1)), T1, "/a")],
    };
    let body = request(vec![
        metric("broken", Data::Sum(sum)),
        metric("fine", Data::Gauge(gauge)),
    ])
    .encode_to_vec();
    let candidates = candidates(Signal::Metrics, Encoding::Protobuf, &body);
    assert_eq!(candidates.len(), 2);
    let reason = candidates[0].decoded.as_ref().expect_err("no value");
    assert_eq!(reason, "number data point has no value (asInt or asDouble)");
    let raw: Value =
        serde_json::from_slice(&candidates[0].raw).expect("raw is the point's OTLP/JSON");
    assert_eq!(raw["timeUnixNano"], T1.to_string());
    assert!(candidates[1].decoded.is_ok());
}

#[test]
fn json_from_the_python_exporter() {
    let body = include_bytes!("../testdata/python-metrics.json");
    let events = events(Signal::Metrics, Encoding::Json, body);
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|event| event.source == "tally-e2e"));
    assert_eq!(events[0].time_ms, 1_795_299_435_971);
    let counter = data(&events[0]);
    assert_eq!(
        counter["metric"]["value"], 1,
        "asInt arrives as the string \"1\""
    );
    assert_eq!(counter["metric"]["temporality"], "cumulative");
    assert_eq!(counter["attributes"], serde_json::json!({"route": "/a"}));
    assert_eq!(
        counter["scope"],
        serde_json::json!({"name": "tally.e2e", "version": "1.0.0"})
    );
    assert_eq!(counter["resource"]["telemetry.sdk.language"], "python");
    assert_eq!(data(&events[1])["metric"]["value"], 2);
    let histogram = data(&events[2]);
    assert_eq!(histogram["metric"]["count"], 1);
    assert_eq!(
        histogram["metric"]["bucket_counts"][3], 1,
        "bucketCounts arrive as strings"
    );
    assert_eq!(histogram["metric"]["explicit_bounds"][1], 5.0);
}

#[test]
fn json_from_the_node_exporter() {
    let body = include_bytes!("../testdata/js-metrics.json");
    let events = events(Signal::Metrics, Encoding::Json, body);
    assert_eq!(events.len(), 2);
    let counter = data(&events[0]);
    assert_eq!(
        counter["resource"]["host.cores"], 2,
        "intValue arrives as a number"
    );
    assert_eq!(
        counter["metric"]["value"], 5.0,
        "asDouble arrives as the integer 5"
    );
    assert_eq!(data(&events[1])["metric"]["kind"], "gauge");
}

#[test]
fn protobuf_from_the_python_exporter_maps_like_its_json_rendering() {
    let body = include_bytes!("../testdata/python-metrics.pb");
    let protobuf = events(Signal::Metrics, Encoding::Protobuf, body);
    assert_eq!(protobuf.len(), 3);
    assert_eq!(protobuf[2].subject.as_deref(), Some("tally_e2e.latency"));
    let request = ExportMetricsServiceRequest::decode(body.as_slice()).expect("decodes");
    let json = events(Signal::Metrics, Encoding::Json, &to_otlp_json(&request));
    assert_eq!(summaries(&protobuf), summaries(&json));
}

#[test]
fn special_doubles_and_int_attributes_survive() {
    let gauge = Gauge {
        data_points: vec![NumberDataPoint {
            attributes: vec![attribute("shard", AnyValueKind::IntValue(7))],
            time_unix_nano: T1,
            value: Some(NumberValue::AsDouble(f64::INFINITY)),
            ..Default::default()
        }],
    };
    let body = request(vec![metric("load", Data::Gauge(gauge))]).encode_to_vec();
    let event = &events(Signal::Metrics, Encoding::Protobuf, &body)[0];
    assert_eq!(data(event)["metric"]["value"], "Infinity");
    assert_eq!(data(event)["attributes"]["shard"], 7);
}

#[test]
fn points_inherit_their_metrics_description_in_their_size() {
    let gauge = Gauge {
        data_points: vec![number_point(Some(NumberValue::AsInt(1)), T1, "/a"); 2],
    };
    let mut huge = metric("load", Data::Gauge(gauge));
    huge.description = "d".repeat(70_000);
    let body = request(vec![huge]).encode_to_vec();
    for candidate in candidates(Signal::Metrics, Encoding::Protobuf, &body) {
        let reason = candidate.decoded.expect_err("too large");
        assert!(
            reason.contains("inherited from its resource, scope and metric"),
            "{reason}"
        );
        assert!(candidate.size > 70_000);
    }
}
