//! Tally's ingest tier: the HTTP and OTLP receivers that authenticate each request to a tenant,
//! throttle it, validate and quarantine bad events, and acknowledge only what Kafka holds.
//!
//! Nothing lives here yet; the foundation only provides the shared domain core in `tally-meter`.
