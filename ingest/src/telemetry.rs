//! The ingest tier's Prometheus metric names, in one place.

/// Counter of HTTP requests, by `endpoint` and `status`.
pub const REQUESTS: &str = "tally_ingest_requests_total";
/// Histogram of request latency in seconds, by `endpoint`.
pub const REQUEST_DURATION: &str = "tally_ingest_request_duration_seconds";
/// Counter of events, by `outcome`: accepted, rejected (quarantined), throttled, unavailable.
pub const EVENTS: &str = "tally_ingest_events_total";
/// Counter of event bytes as received, by `outcome`.
pub const BYTES: &str = "tally_ingest_bytes_total";
