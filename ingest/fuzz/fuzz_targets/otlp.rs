//! Fuzzes the OTLP/HTTP decoder and the answers built from its outcome: the first byte picks
//! the signal and the encoding (`byte % 6`: metrics, logs, traces in protobuf, then the same in
//! JSON) and the limits (`byte / 6 % 8 + 1` items; 512 or 65536 bytes per item), the rest is
//! the request body. A decoded body never has more candidates than the limit; a body within
//! the limit decodes as it does with no limit; every candidate must keep the invariants the
//! ingest pipeline relies on, its size counting the resource and scope its event inherits;
//! and the export response (or, for an undecodable body, the `google.rpc.Status`) must encode
//! and read back to what was put in.

#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use serde_json::Value;
use serde_json::value::RawValue;
use tally_ingest::otlp::{self, Encoding, RpcStatus, Signal};
use tally_ingest::{Candidate, DecodeLimits};

/// The ingest time handed to the decoder, a realistic "now".
const INGEST_TIME_MS: i64 = 1_790_000_000_000;

/// gRPC `INVALID_ARGUMENT`, the code of a 400 answer.
const INVALID_ARGUMENT: i32 = 3;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let selector = usize::from(selector % 6);
    let signal = Signal::ALL[selector % 3];
    let encoding = if selector < 3 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let limits = DecodeLimits {
        max_events: usize::from(selector / 6 % 8) + 1,
        max_event_bytes: if selector / 48 % 2 == 0 { 65_536 } else { 512 },
    };
    match otlp::decode(signal, encoding, body, limits, INGEST_TIME_MS) {
        Ok(candidates) => {
            assert!(
                candidates.len() <= limits.max_events,
                "{} candidates, over the limit of {}",
                candidates.len(),
                limits.max_events
            );
            let unlimited = DecodeLimits {
                max_events: usize::MAX,
                ..limits
            };
            let again = otlp::decode(signal, encoding, body, unlimited, INGEST_TIME_MS)
                .expect("a body decoded within the limit decodes without one");
            assert_eq!(
                again.len(),
                candidates.len(),
                "the limit changed the candidates"
            );
            let mut rejected = 0_i64;
            let mut first_reason = String::new();
            for candidate in &candidates {
                if let Err(reason) = check_candidate(signal, limits, candidate) {
                    rejected += 1;
                    if first_reason.is_empty() {
                        first_reason = reason.to_owned();
                    }
                }
            }
            check_response(signal, encoding, rejected, &first_reason);
            check_response(signal, encoding, 0, "");
            assert_eq!(
                otlp::encode_response(signal, encoding, i64::MIN, ""),
                otlp::encode_response(signal, encoding, 0, ""),
                "a negative rejected count is not read as 0"
            );
        }
        Err(error @ otlp::DecodeError::TooManyItems { .. }) => {
            assert!(error.to_string().contains("ingest.max_batch_events"));
        }
        Err(error) => check_status(encoding, &error.to_string()),
    }
});

/// Checks one candidate; returns its rejection reason, if it was rejected.
fn check_candidate<'a>(
    signal: Signal,
    limits: DecodeLimits,
    candidate: &'a Candidate<'static>,
) -> Result<(), &'a str> {
    let raw = candidate.raw.as_ref();
    assert!(!raw.is_empty(), "a candidate's raw bytes are empty");
    assert!(
        candidate.size >= raw.len(),
        "a candidate is smaller than its raw bytes"
    );
    assert!(
        serde_json::from_slice::<&RawValue>(raw).is_ok(),
        "a candidate's raw bytes are not JSON"
    );
    let event = match &candidate.decoded {
        Ok(event) => event,
        Err(reason) => {
            assert!(!reason.is_empty(), "a rejection has no reason");
            return Err(reason);
        }
    };
    assert_eq!(event.event_type, signal.event_type());
    assert!(
        !event.source.is_empty(),
        "an accepted item has an empty source"
    );
    let is_lower_hex = |text: &str, len: usize| {
        text.len() == len
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    };
    let id_is_well_formed = match signal {
        Signal::Traces => event.id.split_once('-').is_some_and(|(trace_id, span_id)| {
            is_lower_hex(trace_id, 32) && is_lower_hex(span_id, 16)
        }),
        Signal::Metrics | Signal::Logs => is_lower_hex(&event.id, 32),
    };
    assert!(
        id_is_well_formed,
        "malformed {signal} item id {:?}",
        event.id
    );
    let data = event.data.as_ref().expect("an accepted item has data");
    let data: Value = serde_json::from_str(data.get()).expect("an item's data is JSON");
    let item_key = match signal {
        Signal::Metrics => "metric",
        Signal::Logs => "log",
        Signal::Traces => "span",
    };
    for key in ["resource", "scope", "attributes", item_key] {
        assert!(
            data.get(key).is_some(),
            "an item's data has no {key}: {data}"
        );
    }
    let inherited = data["resource"].to_string().len() + data["scope"].to_string().len();
    assert!(
        candidate.size >= raw.len() + inherited,
        "size {} leaves out what the item inherits ({} own, {inherited} inherited)",
        candidate.size,
        raw.len()
    );
    assert!(
        candidate.size <= limits.max_event_bytes,
        "an item of {} bytes was built over the limit of {}",
        candidate.size,
        limits.max_event_bytes
    );
    Ok(())
}

/// Encodes an export response and reads it back.
fn check_response(signal: Signal, encoding: Encoding, rejected: i64, error_message: &str) {
    let body = otlp::encode_response(signal, encoding, rejected, error_message);
    let partial = rejected > 0 || !error_message.is_empty();
    match encoding {
        Encoding::Protobuf => {
            let read_back = match signal {
                Signal::Metrics => ExportMetricsServiceResponse::decode(body.as_slice())
                    .expect("a metrics response decodes")
                    .partial_success
                    .map(|partial| (partial.rejected_data_points, partial.error_message)),
                Signal::Logs => ExportLogsServiceResponse::decode(body.as_slice())
                    .expect("a logs response decodes")
                    .partial_success
                    .map(|partial| (partial.rejected_log_records, partial.error_message)),
                Signal::Traces => ExportTraceServiceResponse::decode(body.as_slice())
                    .expect("a traces response decodes")
                    .partial_success
                    .map(|partial| (partial.rejected_spans, partial.error_message)),
            };
            let expected = partial.then(|| (rejected, error_message.to_owned()));
            assert_eq!(
                read_back, expected,
                "the protobuf response does not read back"
            );
        }
        Encoding::Json => {
            let read_back: Value = serde_json::from_slice(&body).expect("a JSON response parses");
            if !partial {
                assert_eq!(read_back, serde_json::json!({}));
                return;
            }
            let rejected_field = match signal {
                Signal::Metrics => "rejectedDataPoints",
                Signal::Logs => "rejectedLogRecords",
                Signal::Traces => "rejectedSpans",
            };
            let partial_success = &read_back["partialSuccess"];
            assert_eq!(partial_success[rejected_field].as_i64(), Some(rejected));
            assert_eq!(
                partial_success["errorMessage"].as_str(),
                Some(error_message)
            );
        }
    }
}

/// Encodes the status answer to an undecodable body and reads it back.
fn check_status(encoding: Encoding, message: &str) {
    assert!(!message.is_empty(), "a decode error has no message");
    let body = otlp::encode_status(encoding, INVALID_ARGUMENT, message);
    match encoding {
        Encoding::Protobuf => {
            let status = RpcStatus::decode(body.as_slice()).expect("a status decodes");
            assert_eq!(
                (status.code, status.message.as_str()),
                (INVALID_ARGUMENT, message)
            );
        }
        Encoding::Json => {
            let status: Value = serde_json::from_slice(&body).expect("a JSON status parses");
            assert_eq!(status["code"].as_i64(), Some(i64::from(INVALID_ARGUMENT)));
            assert_eq!(status["message"].as_str(), Some(message));
        }
    }
}
