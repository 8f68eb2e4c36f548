//! Traces: one event per span, identified by its trace and span ids.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::{Value, json};

use super::common::{
    Mapped, ResourceContext, double_json, optional_id_json, required_id_hex, scope_json, time_ms,
};
use super::size::Inherited;
use crate::Candidate;

const EVENT_TYPE: &str = "otlp.span";

/// Maps every span of a request, in request order.
pub(super) fn map(
    request: &ExportTraceServiceRequest,
    max_event_bytes: usize,
    ingest_time_ms: i64,
) -> Vec<Candidate<'static>> {
    let mut candidates = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = ResourceContext::new(resource_spans.resource.as_ref(), max_event_bytes);
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_json(scope_spans.scope.as_ref());
            let inherited = Inherited {
                bytes: scope.bytes,
                from: "resource and scope",
            };
            for span in &scope_spans.spans {
                let map = || map_span(&resource, &scope.value, span, ingest_time_ms);
                candidates.push(resource.candidate(EVENT_TYPE, span, inherited, map));
            }
        }
    }
    candidates
}

fn map_span(
    resource: &ResourceContext,
    scope: &Value,
    span: &Span,
    ingest_time_ms: i64,
) -> Result<Mapped, String> {
    let trace_id = required_id_hex(&span.trace_id, 16, "span trace id")?;
    let span_id = required_id_hex(&span.span_id, 8, "span id")?;
    let parent_span_id = optional_id_json(&span.parent_span_id, 8, "parent span id")?;
    let duration_nanos = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    // Exact below 2^53 ns: a span would have to last 104 days to lose a nanosecond.
    let duration_ms = duration_nanos as f64 / 1e6;
    let status = span.status.as_ref();
    let item = json!({
        "name": span.name,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "kind": kind_name(span.kind),
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "duration_ms": double_json(duration_ms),
        "status": {
            "code": status_code_name(status.map(|status| status.code).unwrap_or_default()),
            "message": status.map(|status| status.message.as_str()).unwrap_or_default(),
        },
        "events": span.events.len(),
        "links": span.links.len(),
    });
    Ok(Mapped {
        subject: Some(span.name.clone()).filter(|name| !name.is_empty()),
        time_ms: time_ms(span.start_time_unix_nano, ingest_time_ms),
        id: Some(format!("{trace_id}-{span_id}")),
        data: resource.data(scope, &span.attributes, "span", item),
    })
}

fn kind_name(kind: i32) -> &'static str {
    match SpanKind::try_from(kind) {
        Ok(SpanKind::Internal) => "internal",
        Ok(SpanKind::Server) => "server",
        Ok(SpanKind::Client) => "client",
        Ok(SpanKind::Producer) => "producer",
        Ok(SpanKind::Consumer) => "consumer",
        Ok(SpanKind::Unspecified) | Err(_) => "unspecified",
    }
}

fn status_code_name(code: i32) -> &'static str {
    match StatusCode::try_from(code) {
        Ok(StatusCode::Ok) => "ok",
        Ok(StatusCode::Error) => "error",
        Ok(StatusCode::Unset) | Err(_) => "unset",
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::span::{Event as SpanEvent, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
    use prost::Message as _;
    use serde_json::json;

    use super::*;
    use crate::otlp::testing::{
        LIMITS, NOW_MS, candidates, data, events, resource, scope, summaries, text, to_otlp_json,
    };
    use crate::otlp::{Encoding, Signal};

    const TRACE_ID: [u8; 16] = [0xab; 16];

    fn span(name: &str, span_id: u8, parent: Option<u8>) -> Span {
        Span {
            trace_id: TRACE_ID.to_vec(),
            span_id: vec![span_id; 8],
            parent_span_id: parent.map(|parent| vec![parent; 8]).unwrap_or_default(),
            name: name.to_owned(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_795_000_000_000_000_000,
            end_time_unix_nano: 1_795_000_000_012_500_000,
            attributes: vec![text("http.route", "/pay")],
            ..Default::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource("checkout"),
                scope_spans: vec![ScopeSpans {
                    scope: scope("tracer.lib"),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn protobuf_maps_spans_with_trace_and_span_ids() {
        let mut child = span("charge", 2, Some(1));
        child.kind = SpanKind::Client as i32;
        child.status = Some(Status {
            message: "card declined".to_owned(),
            code: StatusCode::Error as i32,
        });
        child.events = vec![SpanEvent::default(), SpanEvent::default()];
        child.links = vec![Link::default()];
        let body = request(vec![span("pay", 1, None), child]).encode_to_vec();
        let events = events(Signal::Traces, Encoding::Protobuf, &body);
        assert_eq!(events.len(), 2);
        let trace_hex = "ab".repeat(16);
        assert_eq!(events[0].id, format!("{trace_hex}-{}", "01".repeat(8)));
        assert_eq!(events[1].id, format!("{trace_hex}-{}", "02".repeat(8)));
        for event in &events {
            assert_eq!(
                (event.event_type.as_str(), event.source.as_str()),
                ("otlp.span", "checkout")
            );
            assert_eq!(event.time_ms, 1_795_000_000_000);
        }
        assert_eq!(events[0].subject.as_deref(), Some("pay"));
        let parent = data(&events[0]);
        assert_eq!(
            parent["resource"],
            json!({"service.name": "checkout", "host.name": "web-1"})
        );
        assert_eq!(
            parent["scope"],
            json!({"name": "tracer.lib", "version": "1.2.3"})
        );
        assert_eq!(parent["attributes"], json!({"http.route": "/pay"}));
        assert_eq!(
            parent["span"],
            json!({
                "name": "pay", "trace_id": trace_hex, "span_id": "01".repeat(8),
                "parent_span_id": null,
                "kind": "server", "start_time_unix_nano": 1_795_000_000_000_000_000_u64,
                "end_time_unix_nano": 1_795_000_000_012_500_000_u64, "duration_ms": 12.5,
                "status": {"code": "unset", "message": ""}, "events": 0, "links": 0,
            })
        );
        let child = &data(&events[1])["span"];
        assert_eq!(child["parent_span_id"], "01".repeat(8));
        assert_eq!(child["kind"], "client");
        assert_eq!(
            child["status"],
            json!({"code": "error", "message": "card declined"})
        );
        assert_eq!((&child["events"], &child["links"]), (&json!(2), &json!(1)));
    }

    #[test]
    fn spans_without_valid_ids_are_refused_alone() {
        let mut short_trace = span("short", 1, None);
        short_trace.trace_id = vec![1, 2, 3];
        let mut zero_span = span("zero", 0, None);
        zero_span.span_id = vec![0; 8];
        let mut bad_parent = span("orphan", 3, None);
        bad_parent.parent_span_id = vec![9; 4];
        let mut no_time = span("", 4, None);
        no_time.start_time_unix_nano = 0;
        let body = request(vec![short_trace, zero_span, bad_parent, no_time]).encode_to_vec();
        let candidates = candidates(Signal::Traces, Encoding::Protobuf, &body);
        let reasons: Vec<_> = candidates
            .iter()
            .map(|candidate| candidate.decoded.as_ref().err())
            .collect();
        assert_eq!(
            reasons[0].map(String::as_str),
            Some("span trace id must be 16 bytes, got 3")
        );
        assert_eq!(
            reasons[1].map(String::as_str),
            Some("span id must not be all zeros")
        );
        assert_eq!(
            reasons[2].map(String::as_str),
            Some("parent span id must be 8 bytes, got 4")
        );
        let raw: Value =
            serde_json::from_slice(&candidates[0].raw).expect("raw is the span's OTLP/JSON");
        assert_eq!(raw["traceId"], "010203");
        let timeless = candidates[3].decoded.as_ref().expect("valid");
        assert_eq!(
            (timeless.time_ms, timeless.subject.as_deref()),
            (NOW_MS, None)
        );
        assert_eq!(data(timeless)["span"]["duration_ms"], 1_795_000_000_012.5);
    }

    #[test]
    fn json_from_the_python_exporter() {
        let events = events(
            Signal::Traces,
            Encoding::Json,
            include_bytes!("testdata/python-traces.json"),
        );
        let ids: Vec<_> = events.iter().map(|event| event.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "9593c6c64f7d6f4147be79caa7f1c213-d7b280115a57424c",
                "9593c6c64f7d6f4147be79caa7f1c213-88f93bdf58ce50fe"
            ]
        );
        assert_eq!(events[0].subject.as_deref(), Some("charge card"));
        assert_eq!(events[0].source, "tally-e2e");
        assert_eq!(events[0].time_ms, 1_795_299_435_971);
        let child = data(&events[0]);
        assert_eq!(child["span"]["parent_span_id"], "88f93bdf58ce50fe");
        assert_eq!(child["span"]["kind"], "internal");
        assert_eq!(child["attributes"], json!({"tally.step": "child"}));
        assert_eq!(data(&events[1])["span"]["parent_span_id"], Value::Null);
    }

    #[test]
    fn json_from_the_node_exporter_and_upper_case_hex() {
        let events = events(
            Signal::Traces,
            Encoding::Json,
            include_bytes!("testdata/js-traces.json"),
        );
        assert_eq!(
            events[0].id,
            "dbcf5e5280025c032b335ae1b1734834-a8cb7e965a549bee"
        );
        let span = data(&events[0]);
        assert_eq!(
            span["attributes"],
            json!({"i": 7, "d": 1.25, "b": true, "arr": ["x", "y"]})
        );
        assert_eq!(
            span["span"]["status"],
            json!({"code": "error", "message": "boom"})
        );
        assert_eq!(span["span"]["events"], 1);

        let upper = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
            "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
            "name":"s","startTimeUnixNano":1544712660000000000,"kind":2}]}]}]}"#;
        let events = crate::otlp::testing::events(Signal::Traces, Encoding::Json, upper);
        assert_eq!(
            events[0].id,
            "5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"
        );
        assert_eq!(events[0].source, "otlp", "no resource, no service.name");
        assert_eq!(
            events[0].time_ms, 1_544_712_660_000,
            "int64 as a JSON number works too"
        );
    }

    #[test]
    fn json_ids_that_are_not_hex_fail_the_whole_body() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"not-hex!","spanId":"00"}]}]}]}"#;
        let error = crate::otlp::decode(Signal::Traces, Encoding::Json, body, LIMITS, NOW_MS)
            .expect_err("bad hex");
        assert!(matches!(error, crate::otlp::DecodeError::Json { .. }));
        assert!(error.to_string().contains("invalid character"), "{error}");
    }

    #[test]
    fn protobuf_from_the_python_exporter_maps_like_its_json_rendering() {
        let body = include_bytes!("testdata/python-traces.pb");
        let protobuf = events(Signal::Traces, Encoding::Protobuf, body);
        assert_eq!(protobuf.len(), 2);
        assert!(
            protobuf[0]
                .id
                .starts_with("b12cadbb13ed27abbfe853890ac0124f-")
        );
        let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("decodes");
        let json = events(Signal::Traces, Encoding::Json, &to_otlp_json(&request));
        assert_eq!(summaries(&protobuf), summaries(&json));
    }
}
