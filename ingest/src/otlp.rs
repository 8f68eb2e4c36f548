//! OTLP/HTTP decoding: turns the body of an OTLP `POST /v1/metrics`, `/v1/logs` or
//! `/v1/traces` request (`application/x-protobuf` or `application/json`) into one
//! [`Candidate`] per metric data point, log record and span, and encodes the answers the
//! OTLP/HTTP specification asks for. Nothing here speaks HTTP or Kafka.
//!
//! # Mapping
//!
//! | event field | metric data point | log record | span |
//! | --- | --- | --- | --- |
//! | `type` | `otlp.metric` | `otlp.log` | `otlp.span` |
//! | `source` | resource `service.name` | resource `service.name` | resource `service.name` |
//! | `subject` | metric name | scope name (none if empty) | span name (none if empty) |
//! | `time_ms` | `time_unix_nano` | `time_unix_nano`, else `observed_time_unix_nano` | `start_time_unix_nano` |
//! | `id` | content hash | content hash | `{trace_id}-{span_id}` (lowercase hex) |
//!
//! - `source` is `otlp` when the resource has no string `service.name`.
//! - `time_ms` is the ingest time when the item's time is 0 or absent.
//! - The content hash is the SHA-256 of the mapped event (type, source, subject, time, data)
//!   as canonical JSON (object keys sorted), in hex, cut to 32 characters. A retried export
//!   therefore gets the same ids and is deduplicated downstream; an item that carries no time
//!   hashes with the ingest time, so it is never mistaken for an earlier one.
//! - `data` is a JSON object with `resource` (resource attributes), `scope` (`{name, version}`)
//!   and `attributes` (the item's own), plus one object for the item:
//!   - `metric`: `name`, `description`, `unit`, `kind` (`gauge`, `sum`, `histogram`,
//!     `exponential_histogram` or `summary`), `start_time_unix_nano`, `time_unix_nano`, and
//!     by kind: `value` (gauge, sum), `is_monotonic` (sum), `temporality` (`delta`,
//!     `cumulative` or `unspecified`; sum and histograms), `count`, `sum`, `min`, `max`
//!     (histograms; `count` and `sum` for summaries), `bucket_counts` and `explicit_bounds`
//!     (histogram), `scale`, `zero_count`, `positive` and `negative` (`{offset,
//!     bucket_counts}`; exponential histogram), `quantiles` (`[{quantile, value}]`; summary);
//!   - `log`: `time_unix_nano`, `observed_time_unix_nano`, `severity_number`,
//!     `severity_text`, `body`, `trace_id`, `span_id` (hex or null), and `event_name` when
//!     present;
//!   - `span`: `name`, `trace_id`, `span_id`, `parent_span_id` (hex or null), `kind`
//!     (`internal`, `server`, `client`, `producer`, `consumer` or `unspecified`),
//!     `start_time_unix_nano`, `end_time_unix_nano`, `duration_ms` (fractional), `status`
//!     (`{code: unset|ok|error, message}`), `events` and `links` (counts).
//! - Attribute values map to JSON naturally: strings, integers, doubles (NaN and infinities
//!   as the strings `NaN`, `Infinity`, `-Infinity`), booleans, arrays, key-value lists as
//!   objects, bytes as base64. Nanosecond times are JSON integers.
//! - A metric without data (no points) yields nothing. An item that cannot be mapped (a point
//!   of a metric without a name, a number point without a value, a span without a valid trace
//!   or span id, a log whose trace id is neither empty nor 16 bytes) yields a candidate whose `decoded` is the
//!   reason; a body that cannot be parsed at all is a [`DecodeError`].
//! - A candidate's `raw` bytes are the item's OTLP/JSON rendering; its `size` adds the JSON it
//!   inherits (resource attributes, scope, and for a data point its metric's name,
//!   description and unit). An item whose size is over `ingest.max_event_bytes` is refused
//!   with both sizes in the reason, and its event is never built.
//! - A body with more items than `ingest.max_batch_events` is a [`DecodeError::TooManyItems`]:
//!   the items are counted before the body is decoded (see `count`).
//!
//! OTLP/JSON is read as the specification and real exporters write it: lowerCamelCase keys,
//! trace and span ids in hex (either case), 64-bit integers as strings or numbers, enums as
//! integers only, unknown fields ignored. An id that is not hex, or an enum written as its
//! name, makes the whole body a [`DecodeError`].

mod common;
mod count;
mod logs;
mod metrics;
mod response;
mod size;
#[cfg(test)]
mod testing;
mod traces;

use std::fmt;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::de::DeserializeOwned;

use crate::{Candidate, DecodeLimits};

pub use response::{RpcStatus, encode_response, encode_status};

/// One of the three OTLP signals, each with its own export path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Metric data points, `POST /v1/metrics`.
    Metrics,
    /// Log records, `POST /v1/logs`.
    Logs,
    /// Spans, `POST /v1/traces`.
    Traces,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Self; 3] = [Self::Metrics, Self::Logs, Self::Traces];

    /// Returns the OTLP/HTTP path the signal is exported to, such as `/v1/metrics`.
    pub fn path(self) -> &'static str {
        match self {
            Self::Metrics => "/v1/metrics",
            Self::Logs => "/v1/logs",
            Self::Traces => "/v1/traces",
        }
    }

    /// Returns the signal exported to `path`, if any.
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|signal| signal.path() == path)
    }

    /// Returns the Tally event type of the signal's items, such as `otlp.metric`.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Metrics => "otlp.metric",
            Self::Logs => "otlp.log",
            Self::Traces => "otlp.span",
        }
    }

    /// Returns what the signal's items are called: `data points`, `log records` or `spans`.
    pub fn item_name(self) -> &'static str {
        match self {
            Self::Metrics => "data points",
            Self::Logs => "log records",
            Self::Traces => "spans",
        }
    }

    /// Returns the signal's name as OTLP writes it: `metrics`, `logs` or `traces`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Metrics => "metrics",
            Self::Logs => "logs",
            Self::Traces => "traces",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// How an OTLP/HTTP body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Binary protobuf, `application/x-protobuf`.
    Protobuf,
    /// OTLP/JSON, `application/json`.
    Json,
}

impl Encoding {
    /// Returns the encoding of a `Content-Type` header value, ignoring case and parameters
    /// such as `; charset=utf-8`, or `None` for any type OTLP/HTTP does not define.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Self::Protobuf)
        } else if media_type.eq_ignore_ascii_case("application/json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    /// Returns the `Content-Type` of bodies in this encoding, for answers.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// An OTLP/HTTP body that cannot be parsed at all; the message says what is wrong and is
/// meant for a `400 Bad Request`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not a valid protobuf export request.
    #[error("body is not a valid OTLP {signal} export request in protobuf: {reason}")]
    Protobuf {
        /// The signal the request was sent for.
        signal: Signal,
        /// What the protobuf decoder found wrong.
        reason: String,
    },
    /// The body is not a valid OTLP/JSON export request.
    #[error("body is not a valid OTLP {signal} export request in JSON: {reason}")]
    Json {
        /// The signal the request was sent for.
        signal: Signal,
        /// What the JSON decoder found wrong, with line and column.
        reason: String,
    },
    /// The request holds more items than allowed; it was counted, not decoded.
    #[error(
        "the request holds more than {limit} {}; the limit is {limit} (ingest.max_batch_events)",
        signal.item_name()
    )]
    TooManyItems {
        /// The signal the request was sent for.
        signal: Signal,
        /// The most items a request may hold.
        limit: usize,
    },
}

/// Decodes an OTLP/HTTP export request body into one candidate per metric data point, log
/// record or span, in request order; `ingest_time_ms` stands in for missing item times.
///
/// The items are counted first, without decoding: a body with more than
/// `limits.max_events` is refused before any item is built. An item larger than
/// `limits.max_event_bytes` with what it inherits is a candidate refused with the sizes,
/// without its event being built.
pub fn decode(
    signal: Signal,
    encoding: Encoding,
    body: &[u8],
    limits: DecodeLimits,
    ingest_time_ms: i64,
) -> Result<Vec<Candidate<'static>>, DecodeError> {
    if count::exceeds(signal, encoding, body, limits.max_events) {
        return Err(DecodeError::TooManyItems {
            signal,
            limit: limits.max_events,
        });
    }
    let max_event_bytes = limits.max_event_bytes;
    let candidates = match signal {
        Signal::Metrics => {
            let request: ExportMetricsServiceRequest = parse(signal, encoding, body)?;
            metrics::map(&request, max_event_bytes, ingest_time_ms)
        }
        Signal::Logs => {
            let request: ExportLogsServiceRequest = parse(signal, encoding, body)?;
            logs::map(&request, max_event_bytes, ingest_time_ms)
        }
        Signal::Traces => {
            let request: ExportTraceServiceRequest = parse(signal, encoding, body)?;
            traces::map(&request, max_event_bytes, ingest_time_ms)
        }
    };
    Ok(candidates)
}

/// Parses a whole export request in either encoding.
fn parse<Request>(signal: Signal, encoding: Encoding, body: &[u8]) -> Result<Request, DecodeError>
where
    Request: prost::Message + Default + DeserializeOwned,
{
    match encoding {
        Encoding::Protobuf => Request::decode(body).map_err(|error| DecodeError::Protobuf {
            signal,
            reason: error.to_string(),
        }),
        Encoding::Json => serde_json::from_slice(body).map_err(|error| DecodeError::Json {
            signal,
            reason: error.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::otlp::testing::LIMITS;

    #[test]
    fn signals_round_trip_through_their_paths() {
        for signal in Signal::ALL {
            assert_eq!(Signal::from_path(signal.path()), Some(signal));
        }
        assert_eq!(Signal::from_path("/v1/profiles"), None);
        assert_eq!(Signal::Traces.event_type(), "otlp.span");
        assert_eq!(Signal::Logs.to_string(), "logs");
    }

    #[test]
    fn encodings_come_from_content_types() {
        assert_eq!(
            Encoding::from_content_type("application/x-protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::from_content_type("Application/JSON; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
        assert_eq!(Encoding::from_content_type(""), None);
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            assert_eq!(
                Encoding::from_content_type(encoding.content_type()),
                Some(encoding)
            );
        }
    }

    #[test]
    fn unparsable_bodies_are_decode_errors() {
        let error = decode(
            Signal::Traces,
            Encoding::Protobuf,
            b"\xff\xff\xff",
            LIMITS,
            0,
        )
        .expect_err("garbage is not protobuf");
        assert!(matches!(
            error,
            DecodeError::Protobuf {
                signal: Signal::Traces,
                ..
            }
        ));
        assert!(
            error
                .to_string()
                .contains("OTLP traces export request in protobuf")
        );

        let error = decode(
            Signal::Metrics,
            Encoding::Json,
            b"{\"resourceMetrics\": 3}",
            LIMITS,
            0,
        )
        .expect_err("a number is not a list");
        assert!(matches!(
            error,
            DecodeError::Json {
                signal: Signal::Metrics,
                ..
            }
        ));
        assert!(error.to_string().contains("line 1"), "{error}");

        let error =
            decode(Signal::Logs, Encoding::Json, b"", LIMITS, 0).expect_err("empty is not JSON");
        assert!(error.to_string().contains("EOF"), "{error}");
    }

    #[test]
    fn requests_with_too_many_items_are_refused_before_decoding() {
        let limits = DecodeLimits {
            max_events: 2,
            ..LIMITS
        };
        let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{},{}]}]}]}"#;
        let error = decode(Signal::Traces, Encoding::Json, json, limits, 0).expect_err("3 > 2");
        assert!(matches!(error, DecodeError::TooManyItems { limit: 2, .. }));
        assert_eq!(
            error.to_string(),
            "the request holds more than 2 spans; the limit is 2 (ingest.max_batch_events)"
        );
        let within = DecodeLimits {
            max_events: 3,
            ..LIMITS
        };
        let candidates = decode(Signal::Traces, Encoding::Json, json, within, 0).expect("3 <= 3");
        assert_eq!(candidates.len(), 3);
    }

    #[test]
    fn empty_requests_have_no_items() {
        for signal in Signal::ALL {
            let protobuf =
                decode(signal, Encoding::Protobuf, b"", LIMITS, 0).expect("empty protobuf");
            assert!(protobuf.is_empty());
            let json = decode(signal, Encoding::Json, b"{}", LIMITS, 0).expect("empty JSON object");
            assert!(json.is_empty());
        }
    }
}
