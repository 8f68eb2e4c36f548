//! Counting OTLP items in the protobuf wire format, with a hand-written reader of tags,
//! varints and lengths that descends only into the fields leading to items and skips the rest.
//!
//! Field numbers, from the `opentelemetry-proto` generated code: every export request holds
//! its resources in field 1 (`resource_metrics`, `resource_logs`, `resource_spans`), each
//! resource its scopes in field 2, each scope its items in field 2 (`log_records`, `spans`) or
//! its metrics in field 2, and each metric its data in one of fields 5 (gauge), 7 (sum),
//! 9 (histogram), 10 (exponential histogram) or 11 (summary), whose `data_points` are field 1.

use super::Signal;

/// Field numbers leading from a request to its logs or spans; the last level's fields are
/// the items.
const LOG_RECORDS: &[&[u64]] = &[&[1], &[2], &[2]];
/// Field numbers leading from a request to its spans.
const SPANS: &[&[u64]] = &[&[1], &[2], &[2]];
/// Field numbers leading from a request to its metric data points.
const DATA_POINTS: &[&[u64]] = &[&[1], &[2], &[2], &[5, 7, 9, 10, 11], &[1]];

/// Deepest nesting of groups skipped, as the decoder's recursion limit.
const MAX_GROUP_DEPTH: usize = 100;

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const START_GROUP: u64 = 3;
const END_GROUP: u64 = 4;
const FIXED32: u64 = 5;

/// Why a walk stopped early.
enum Stop {
    /// More items than allowed.
    OverLimit,
    /// The bytes are not a protobuf message the walk can follow.
    Unreadable,
}

/// Says whether a protobuf export request of `signal` holds more than `max_items` items.
pub(super) fn exceeds(signal: Signal, body: &[u8], max_items: usize) -> bool {
    let path = match signal {
        Signal::Metrics => DATA_POINTS,
        Signal::Logs => LOG_RECORDS,
        Signal::Traces => SPANS,
    };
    let mut counted = 0;
    matches!(
        count(body, path, &mut counted, max_items),
        Err(Stop::OverLimit)
    )
}

/// Counts the items under `path` in one message into `counted`.
fn count(
    message: &[u8],
    path: &[&[u64]],
    counted: &mut usize,
    max_items: usize,
) -> Result<(), Stop> {
    let Some((fields, deeper)) = path.split_first() else {
        return Ok(());
    };
    let mut reader = Reader { bytes: message };
    while !reader.bytes.is_empty() {
        let (field, wire_type) = reader.tag()?;
        if wire_type == LENGTH_DELIMITED && fields.contains(&field) {
            let nested = reader.length_delimited()?;
            if deeper.is_empty() {
                *counted += 1;
                if *counted > max_items {
                    return Err(Stop::OverLimit);
                }
            } else {
                count(nested, deeper, counted, max_items)?;
            }
        } else {
            reader.skip(field, wire_type, 0)?;
        }
    }
    Ok(())
}

/// Reads protobuf primitives from the front of a slice.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads a base-128 varint of at most 10 bytes (extra high bits are ignored).
    fn varint(&mut self) -> Result<u64, Stop> {
        let mut value: u64 = 0;
        for (index, byte) in self.bytes.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f).wrapping_shl(7 * index as u32);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[index + 1..];
                return Ok(value);
            }
        }
        Err(Stop::Unreadable)
    }

    /// Reads a field's tag: its number and wire type.
    fn tag(&mut self) -> Result<(u64, u64), Stop> {
        let key = self.varint()?;
        Ok((key >> 3, key & 0x7))
    }

    /// Takes `length` bytes.
    fn take(&mut self, length: u64) -> Result<&'a [u8], Stop> {
        let length = usize::try_from(length).map_err(|_| Stop::Unreadable)?;
        if length > self.bytes.len() {
            return Err(Stop::Unreadable);
        }
        let (taken, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(taken)
    }

    /// Reads a length-delimited field's content.
    fn length_delimited(&mut self) -> Result<&'a [u8], Stop> {
        let length = self.varint()?;
        self.take(length)
    }

    /// Skips the value of a field whose tag was just read; a group is skipped up to its end.
    fn skip(&mut self, field: u64, wire_type: u64, depth: usize) -> Result<(), Stop> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LENGTH_DELIMITED => self.length_delimited().map(drop),
            FIXED32 => self.take(4).map(drop),
            START_GROUP if depth < MAX_GROUP_DEPTH => loop {
                let (inner_field, inner_type) = self.tag()?;
                if inner_type == END_GROUP {
                    return if inner_field == field {
                        Ok(())
                    } else {
                        Err(Stop::Unreadable)
                    };
                }
                self.skip(inner_field, inner_type, depth + 1)?;
            },
            _ => Err(Stop::Unreadable),
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message as _;

    use super::*;
    use crate::otlp::testing::resource;

    fn logs(per_scope: &[usize]) -> Vec<u8> {
        let scope_logs = per_scope
            .iter()
            .map(|records| ScopeLogs {
                log_records: vec![LogRecord::default(); *records],
                ..Default::default()
            })
            .collect();
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource("svc"),
                scope_logs,
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    /// The exact count: over `count - 1`, not over `count`.
    fn counts(signal: Signal, body: &[u8], count: usize) -> bool {
        exceeds(signal, body, count.saturating_sub(1)) && !exceeds(signal, body, count)
    }

    #[test]
    fn log_records_are_counted_across_scopes_and_resources() {
        assert!(counts(Signal::Logs, &logs(&[3, 0, 4]), 7));
        let mut two_requests = logs(&[2]);
        two_requests.extend(logs(&[5]));
        assert!(
            counts(Signal::Logs, &two_requests, 7),
            "messages concatenate"
        );
        assert!(!exceeds(Signal::Logs, b"", 0));
    }

    #[test]
    fn spans_are_counted() {
        let body = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(); 5],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        assert!(counts(Signal::Traces, &body, 5));
    }

    #[test]
    fn data_points_of_every_kind_are_counted() {
        let metric = |data| Metric {
            name: "m".to_owned(),
            data: Some(data),
            ..Default::default()
        };
        let numbers = vec![NumberDataPoint::default(); 2];
        let body = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        metric(Data::Gauge(Gauge {
                            data_points: numbers.clone(),
                        })),
                        metric(Data::Sum(Sum {
                            data_points: numbers,
                            ..Default::default()
                        })),
                        metric(Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint::default(); 3],
                            ..Default::default()
                        })),
                        metric(Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint::default()],
                        })),
                        Metric::default(),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        assert!(counts(Signal::Metrics, &body, 8));
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped() {
        let mut body = vec![
            0x08, 0x96, 0x01, // field 1, varint 150: not a resource
            0x11, 0, 0, 0, 0, 0, 0, 0, 0, // field 2, fixed64
            0x1d, 0, 0, 0, 0, // field 3, fixed32
            0x23, 0x2b, 0x08, 0x01, 0x2c, 0x24, // group 4 holding group 5 holding a varint
        ];
        body.extend(logs(&[3]));
        assert!(counts(Signal::Logs, &body, 3));
    }

    #[test]
    fn unreadable_bodies_are_left_to_the_decoder() {
        let mut truncated = logs(&[3]);
        truncated.pop();
        assert!(!exceeds(Signal::Logs, &truncated, 0));
        assert!(!exceeds(Signal::Logs, &[0x0e], 0), "wire type 6");
        assert!(
            !exceeds(Signal::Logs, &[0x24], 0),
            "end of a group never started"
        );
        assert!(
            !exceeds(Signal::Logs, &[0x23, 0x2c], 0),
            "mismatched group end"
        );
        assert!(
            !exceeds(Signal::Logs, &[0xff; 11], 0),
            "varint longer than 10 bytes"
        );
        let mut deep = vec![0x23; MAX_GROUP_DEPTH + 2];
        deep.extend(vec![0x24; MAX_GROUP_DEPTH + 2]);
        assert!(!exceeds(Signal::Logs, &deep, 0));
    }

    #[test]
    fn counting_stops_at_the_first_item_past_the_limit() {
        let mut body = logs(&[3]);
        body.extend([0xff; 4]); // garbage after the limit is never read
        assert!(exceeds(Signal::Logs, &body, 2));
    }
}
