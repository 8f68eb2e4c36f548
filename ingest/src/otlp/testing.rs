//! Helpers for the OTLP tests: attribute and resource builders, and readers for candidates.
//!
//! `testdata/` holds requests captured from real exporters: `python-*.pb` from
//! `tests/otel/export.py` with opentelemetry-exporter-otlp-proto-http 1.45.2, `python-*.json`
//! from the same script with opentelemetry-exporter-otlp-json-http 0.66b1, and `js-*.json`
//! from the `@opentelemetry/exporter-*-otlp-http` 0.223 Node.js exporters (OTLP/JSON).

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::Value;
use tally_meter::event::Event;

use super::{Encoding, Signal, decode};
use crate::{Candidate, DecodeLimits};

/// The ingest time every test decodes with.
pub(super) const NOW_MS: i64 = 1_790_000_000_000;

/// The limits every test decodes with: the defaults.
pub(super) const LIMITS: DecodeLimits = DecodeLimits {
    max_events: 1000,
    max_event_bytes: 65_536,
};

pub(super) fn attribute(key: &str, value: AnyValueKind) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(super) fn text(key: &str, value: &str) -> KeyValue {
    attribute(key, AnyValueKind::StringValue(value.to_owned()))
}

pub(super) fn resource(service_name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            text("service.name", service_name),
            text("host.name", "web-1"),
        ],
        ..Default::default()
    })
}

pub(super) fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.to_owned(),
        version: "1.2.3".to_owned(),
        ..Default::default()
    })
}

/// Decodes a body that must parse, returning every candidate.
pub(super) fn candidates(
    signal: Signal,
    encoding: Encoding,
    body: &[u8],
) -> Vec<Candidate<'static>> {
    decode(signal, encoding, body, LIMITS, NOW_MS).expect("the body parses")
}

/// Decodes a body whose items must all map, returning the events.
pub(super) fn events(signal: Signal, encoding: Encoding, body: &[u8]) -> Vec<Event> {
    candidates(signal, encoding, body)
        .into_iter()
        .map(|candidate| candidate.decoded.expect("every item maps"))
        .collect()
}

/// Parses an event's data.
pub(super) fn data(event: &Event) -> Value {
    let raw = event.data.as_ref().expect("OTLP events have data");
    serde_json::from_str(raw.get()).expect("data is JSON")
}

/// Re-encodes a parsed protobuf request as OTLP/JSON (hex ids, string int64s, camelCase).
pub(super) fn to_otlp_json<Request: serde::Serialize>(request: &Request) -> Vec<u8> {
    serde_json::to_vec(request).expect("generated types serialize")
}

/// The parts of events that must agree between two encodings of one request.
pub(super) fn summaries(events: &[Event]) -> Vec<(String, String, Option<String>, i64, String)> {
    events
        .iter()
        .map(|event| {
            (
                event.id.clone(),
                event.source.clone(),
                event.subject.clone(),
                event.time_ms,
                data(event).to_string(),
            )
        })
        .collect()
}
