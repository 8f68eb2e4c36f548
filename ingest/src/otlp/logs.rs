//! Logs: one event per log record.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::{Value, json};

use super::common::{
    Mapped, ResourceContext, any_value_json, optional_id_json, scope_json, time_ms,
};
use super::size::Inherited;
use crate::Candidate;

const EVENT_TYPE: &str = "otlp.log";

/// Maps every log record of a request, in request order.
pub(super) fn map(
    request: &ExportLogsServiceRequest,
    max_event_bytes: usize,
    ingest_time_ms: i64,
) -> Vec<Candidate<'static>> {
    let mut candidates = Vec::new();
    for resource_logs in &request.resource_logs {
        let resource = ResourceContext::new(resource_logs.resource.as_ref(), max_event_bytes);
        for scope_logs in &resource_logs.scope_logs {
            let scope = scope_json(scope_logs.scope.as_ref());
            let inherited = Inherited {
                bytes: scope.bytes,
                from: "resource and scope",
            };
            let subject = scope_logs
                .scope
                .as_ref()
                .map(|scope| scope.name.as_str())
                .filter(|name| !name.is_empty());
            for record in &scope_logs.log_records {
                let map = || {
                    let subject = subject.map(str::to_owned);
                    map_record(&resource, &scope.value, subject, record, ingest_time_ms)
                };
                candidates.push(resource.candidate(EVENT_TYPE, record, inherited, map));
            }
        }
    }
    candidates
}

fn map_record(
    resource: &ResourceContext,
    scope: &Value,
    subject: Option<String>,
    record: &LogRecord,
    ingest_time_ms: i64,
) -> Result<Mapped, String> {
    let trace_id = optional_id_json(&record.trace_id, 16, "log record trace id")?;
    let span_id = optional_id_json(&record.span_id, 8, "log record span id")?;
    let time_unix_nano = match record.time_unix_nano {
        0 => record.observed_time_unix_nano,
        time => time,
    };
    let mut log = json!({
        "time_unix_nano": record.time_unix_nano,
        "observed_time_unix_nano": record.observed_time_unix_nano,
        "severity_number": record.severity_number,
        "severity_text": record.severity_text,
        "body": any_value_json(record.body.as_ref()),
        "trace_id": trace_id,
        "span_id": span_id,
    });
    if !record.event_name.is_empty() {
        log["event_name"] = Value::from(record.event_name.as_str());
    }
    Ok(Mapped {
        subject,
        time_ms: time_ms(time_unix_nano, ingest_time_ms),
        id: None,
        data: resource.data(scope, &record.attributes, "log", log),
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use prost::Message as _;
    use serde_json::json;

    use super::*;
    use crate::otlp::testing::{
        NOW_MS, attribute, candidates, data, events, resource, scope, summaries, text, to_otlp_json,
    };
    use crate::otlp::{Encoding, Signal};

    const TRACE_ID: [u8; 16] = 0x5b8e_fff7_9803_8103_d269_b633_813f_c60c_u128.to_be_bytes();
    const SPAN_ID: [u8; 8] = 0xeee1_9b7e_c3c1_b174_u64.to_be_bytes();

    fn record(body: &str, time: u64, observed: u64) -> LogRecord {
        LogRecord {
            time_unix_nano: time,
            observed_time_unix_nano: observed,
            severity_number: 9,
            severity_text: "INFO".to_owned(),
            body: Some(AnyValue {
                value: Some(AnyValueKind::StringValue(body.to_owned())),
            }),
            attributes: vec![
                text("user", "u-1"),
                attribute("attempt", AnyValueKind::IntValue(2)),
            ],
            trace_id: TRACE_ID.to_vec(),
            span_id: SPAN_ID.to_vec(),
            ..Default::default()
        }
    }

    fn request(scope_name: &str, log_records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource("checkout"),
                scope_logs: vec![ScopeLogs {
                    scope: scope(scope_name),
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn protobuf_maps_each_record_with_its_times_and_ids() {
        let mut third = record("no time at all", 0, 0);
        third.event_name = "user.login".to_owned();
        let body = request(
            "app.logger",
            vec![
                record("paid", 1_795_000_000_123_456_789, 1_795_000_001_000_000_000),
                record("observed only", 0, 1_795_000_002_000_000_000),
                third,
            ],
        )
        .encode_to_vec();
        let events = events(Signal::Logs, Encoding::Protobuf, &body);
        assert_eq!(events.len(), 3);
        let times: Vec<i64> = events.iter().map(|event| event.time_ms).collect();
        assert_eq!(times, [1_795_000_000_123, 1_795_000_002_000, NOW_MS]);
        for event in &events {
            assert_eq!(
                (
                    event.event_type.as_str(),
                    event.source.as_str(),
                    event.subject.as_deref()
                ),
                ("otlp.log", "checkout", Some("app.logger"))
            );
            assert_eq!(event.id.len(), 32);
        }
        let first = data(&events[0]);
        assert_eq!(first["attributes"], json!({"user": "u-1", "attempt": 2}));
        assert_eq!(first["resource"]["service.name"], "checkout");
        assert_eq!(
            first["log"],
            json!({
                "time_unix_nano": 1_795_000_000_123_456_789_u64,
                "observed_time_unix_nano": 1_795_000_001_000_000_000_u64,
                "severity_number": 9, "severity_text": "INFO", "body": "paid",
                "trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
            })
        );
        assert_eq!(data(&events[2])["log"]["event_name"], "user.login");
        assert!(data(&events[1])["log"].get("event_name").is_none());
    }

    #[test]
    fn an_empty_scope_name_is_no_subject_and_ids_are_stable() {
        let body = request("", vec![record("a", 1, 0), record("b", 1, 0)]).encode_to_vec();
        let first = events(Signal::Logs, Encoding::Protobuf, &body);
        assert_eq!(first[0].subject, None);
        assert_ne!(first[0].id, first[1].id, "bodies differ");
        let again = events(Signal::Logs, Encoding::Protobuf, &body);
        assert_eq!(summaries(&first), summaries(&again));
    }

    #[test]
    fn a_record_with_a_bad_trace_id_is_refused_alone() {
        let mut bad = record("bad", 1, 0);
        bad.trace_id = vec![1, 2, 3];
        let mut no_ids = record("fine", 1, 0);
        no_ids.trace_id.clear();
        no_ids.span_id.clear();
        let body = request("s", vec![bad, no_ids]).encode_to_vec();
        let candidates = candidates(Signal::Logs, Encoding::Protobuf, &body);
        assert_eq!(
            candidates[0].decoded.as_ref().expect_err("bad trace id"),
            "log record trace id must be 16 bytes, got 3"
        );
        let fine = candidates[1].decoded.as_ref().expect("no ids is fine");
        assert_eq!(data(fine)["log"]["trace_id"], Value::Null);
    }

    #[test]
    fn records_too_large_with_what_they_inherit_are_refused_unbuilt() {
        let mut body = request("s", vec![record("a", 1, 0), record("b", 1, 0)]);
        let resource = body.resource_logs[0].resource.as_mut().expect("a resource");
        resource.attributes.push(text("big", &"x".repeat(70_000)));
        let refused = candidates(Signal::Logs, Encoding::Protobuf, &body.encode_to_vec());
        assert_eq!(refused.len(), 2);
        for candidate in &refused {
            let reason = candidate.decoded.as_ref().expect_err("too large");
            assert!(candidate.size > 70_000 && candidate.raw.len() < 1_000);
            assert_eq!(
                reason,
                &format!(
                    "the event is {} bytes, {} of them inherited from its resource and scope; \
                     the limit is 65536 bytes (ingest.max_event_bytes)",
                    candidate.size,
                    candidate.size - candidate.raw.len()
                )
            );
        }
        let small = request("s", vec![record("a", 1, 0)]).encode_to_vec();
        let small = &candidates(Signal::Logs, Encoding::Protobuf, &small)[0];
        let event = small.decoded.as_ref().expect("maps");
        let data_bytes = event.data.as_ref().map_or(0, |data| data.get().len());
        assert!(
            small.size >= data_bytes / 2,
            "the size approximates the event's data"
        );
    }

    #[test]
    fn json_from_the_python_exporter() {
        let events = events(
            Signal::Logs,
            Encoding::Json,
            include_bytes!("testdata/python-logs.json"),
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].source, "tally-e2e");
        assert_eq!(events[0].subject.as_deref(), Some("tally.e2e"));
        assert_eq!(
            events[0].time_ms, 1_795_299_435_971,
            "only observedTimeUnixNano is sent"
        );
        let first = data(&events[0]);
        assert_eq!(first["log"]["trace_id"], "9593c6c64f7d6f4147be79caa7f1c213");
        assert_eq!(first["log"]["span_id"], "d7b280115a57424c");
        assert_eq!(
            first["attributes"]["amount_cents"], 1299,
            "intValue arrives as a string"
        );
        let second = data(&events[1]);
        assert_eq!(
            second["log"]["body"],
            json!({"message": "slow payment provider", "latency_ms": 812.5})
        );
        assert_eq!(second["log"]["event_name"], "tally.e2e.slow_provider");
        assert_eq!(second["log"]["severity_number"], 13);
    }

    #[test]
    fn json_from_the_node_exporter() {
        let events = events(
            Signal::Logs,
            Encoding::Json,
            include_bytes!("testdata/js-logs.json"),
        );
        assert_eq!(events.len(), 1);
        let log = data(&events[0]);
        assert_eq!(log["log"]["body"], json!({"k": "v", "n": 3}));
        assert_eq!(log["log"]["trace_id"], Value::Null);
        assert_eq!(log["scope"], json!({"name": "js.logs", "version": ""}));
    }

    #[test]
    fn protobuf_from_the_python_exporter_maps_like_its_json_rendering() {
        let body = include_bytes!("testdata/python-logs.pb");
        let protobuf = events(Signal::Logs, Encoding::Protobuf, body);
        assert_eq!(protobuf.len(), 2);
        let request = ExportLogsServiceRequest::decode(body.as_slice()).expect("decodes");
        let json = events(Signal::Logs, Encoding::Json, &to_otlp_json(&request));
        assert_eq!(summaries(&protobuf), summaries(&json));
    }
}
