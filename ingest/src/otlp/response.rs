//! The bodies OTLP/HTTP answers with: an `Export*ServiceResponse` for a processed request
//! (with `partial_success` when items were rejected) and a `google.rpc.Status` for a refused
//! one, each in the encoding of the request.

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message as _;
use serde_json::json;

use super::{Encoding, Signal};

/// `google.rpc.Status`, which OTLP/HTTP sends with every 4xx and 5xx answer; its `details`
/// (field 3) are never filled by Tally.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// The gRPC status code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong, for a person.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Encodes the success answer to an export request: `rejected` items were refused because of
/// `error_message`.
///
/// `partial_success` is left out when nothing was rejected and there is no message; with no
/// rejection but a message it carries that message as a warning, as the OTLP specification
/// allows. A negative `rejected` counts as 0. In JSON the count is a number (proto3 JSON
/// parsers accept numbers and strings for int64, and some OTLP clients only numbers).
pub fn encode_response(
    signal: Signal,
    encoding: Encoding,
    rejected: i64,
    error_message: &str,
) -> Vec<u8> {
    let rejected = rejected.max(0);
    let partial = rejected > 0 || !error_message.is_empty();
    let error_message = error_message.to_owned();
    match encoding {
        Encoding::Protobuf => match signal {
            Signal::Metrics => ExportMetricsServiceResponse {
                partial_success: partial.then_some(ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message,
                }),
            }
            .encode_to_vec(),
            Signal::Logs => ExportLogsServiceResponse {
                partial_success: partial.then_some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message,
                }),
            }
            .encode_to_vec(),
            Signal::Traces => ExportTraceServiceResponse {
                partial_success: partial.then_some(ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message,
                }),
            }
            .encode_to_vec(),
        },
        Encoding::Json => {
            if !partial {
                return b"{}".to_vec();
            }
            let rejected_field = match signal {
                Signal::Metrics => "rejectedDataPoints",
                Signal::Logs => "rejectedLogRecords",
                Signal::Traces => "rejectedSpans",
            };
            json!({ "partialSuccess": { rejected_field: rejected, "errorMessage": error_message } })
                .to_string()
                .into_bytes()
        }
    }
}

/// Encodes the `google.rpc.Status` body of a 4xx or 5xx answer; `code` is a gRPC status code
/// (such as 3, `INVALID_ARGUMENT`, for a 400).
pub fn encode_status(encoding: Encoding, code: i32, message: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => RpcStatus {
            code,
            message: message.to_owned(),
        }
        .encode_to_vec(),
        Encoding::Json => json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;

    /// Encodes an answer of `signal` rejecting `rejected` items and reads the count back
    /// through the signal's generated response type.
    fn rejected_read_back(signal: Signal, encoding: Encoding, rejected: i64) -> Option<i64> {
        let body = encode_response(signal, encoding, rejected, "x");
        match signal {
            Signal::Metrics => decoded::<ExportMetricsServiceResponse>(&body, encoding)
                .partial_success
                .map(|partial| partial.rejected_data_points),
            Signal::Logs => decoded::<ExportLogsServiceResponse>(&body, encoding)
                .partial_success
                .map(|partial| partial.rejected_log_records),
            Signal::Traces => decoded::<ExportTraceServiceResponse>(&body, encoding)
                .partial_success
                .map(|partial| partial.rejected_spans),
        }
    }

    fn decoded<T: Message + Default + DeserializeOwned>(body: &[u8], encoding: Encoding) -> T {
        match encoding {
            Encoding::Protobuf => T::decode(body).expect("decodes"),
            Encoding::Json => serde_json::from_slice(body).expect("generated type reads it"),
        }
    }

    #[test]
    fn every_signal_reads_its_rejected_count_back_in_both_encodings() {
        for signal in [Signal::Metrics, Signal::Logs, Signal::Traces] {
            for encoding in [Encoding::Protobuf, Encoding::Json] {
                assert_eq!(
                    rejected_read_back(signal, encoding, 3),
                    Some(3),
                    "{signal} {encoding:?}"
                );
            }
        }
    }

    #[test]
    fn protobuf_responses_carry_partial_success_only_when_needed() {
        let full = encode_response(Signal::Traces, Encoding::Protobuf, 0, "");
        assert!(full.is_empty(), "an empty message encodes to no bytes");
        let decoded = ExportTraceServiceResponse::decode(full.as_slice()).expect("decodes");
        assert_eq!(decoded.partial_success, None);

        let partial = encode_response(
            Signal::Traces,
            Encoding::Protobuf,
            2,
            "2 spans had no trace id",
        );
        let decoded = ExportTraceServiceResponse::decode(partial.as_slice()).expect("decodes");
        let partial_success = decoded.partial_success.expect("present");
        assert_eq!(partial_success.rejected_spans, 2);
        assert_eq!(partial_success.error_message, "2 spans had no trace id");

        let warning = encode_response(Signal::Logs, Encoding::Protobuf, 0, "slow down");
        let decoded = ExportLogsServiceResponse::decode(warning.as_slice()).expect("decodes");
        let partial_success = decoded.partial_success.expect("a warning");
        assert_eq!(
            (
                partial_success.rejected_log_records,
                partial_success.error_message.as_str()
            ),
            (0, "slow down")
        );
    }

    #[test]
    fn json_responses_round_trip_through_the_generated_types() {
        assert_eq!(
            encode_response(Signal::Metrics, Encoding::Json, 0, ""),
            b"{}"
        );
        assert_eq!(
            encode_response(Signal::Metrics, Encoding::Json, -1, ""),
            b"{}"
        );

        let body = encode_response(Signal::Logs, Encoding::Json, 3, "3 log records had bad ids");
        let value: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            value,
            json!({"partialSuccess": {
                "rejectedLogRecords": 3,
                "errorMessage": "3 log records had bad ids",
            }})
        );
    }

    #[test]
    fn statuses_round_trip() {
        let body = encode_status(Encoding::Protobuf, 3, "body is not valid");
        let decoded = RpcStatus::decode(body.as_slice()).expect("decodes");
        assert_eq!(
            (decoded.code, decoded.message.as_str()),
            (3, "body is not valid")
        );
        // Field 1 varint 3, field 2 length-delimited: the bytes any protobuf library expects.
        assert_eq!(&body[..4], &[0x08, 0x03, 0x12, 17]);

        let body = encode_status(Encoding::Json, 8, "too many requests");
        let value: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(value, json!({"code": 8, "message": "too many requests"}));
    }
}
