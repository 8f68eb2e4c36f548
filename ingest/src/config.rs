//! Ingest settings (`[ingest]` in the config).

use serde::Deserialize;
use tally_meter::event::DEFAULT_QUARANTINE_RAW_BYTES;
use tally_meter::quota::{Limits, QuotaMode};

use crate::DecodeLimits;

/// Limits and timings of the ingest tier.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body, after gzip decompression; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest single event, as received (for OTLP with the resource and scope JSON it
    /// inherits); larger ones are quarantined.
    pub max_event_bytes: usize,
    /// Most events in one batch request; more get 413.
    pub max_batch_events: usize,
    /// Oldest accepted event time, in seconds before the server's clock.
    pub max_event_age_secs: u64,
    /// Furthest accepted event time, in seconds after the server's clock.
    pub max_event_future_secs: u64,
    /// Events per second for tenants without limits of their own.
    pub default_rate_per_sec: u64,
    /// Burst for tenants without limits of their own.
    pub default_burst: u64,
    /// How often limits, registered types and quota consumption are reloaded (and how long an
    /// API key lookup is cached), in seconds.
    pub refresh_secs: u64,
    /// How long a request waits for the broker to acknowledge its records, in milliseconds;
    /// past it the request gets 503.
    pub produce_timeout_ms: u64,
    /// Most events in one Kafka record.
    pub events_per_record: usize,
    /// Most bytes of a rejected event kept in its quarantine record (with its full length and
    /// SHA-256), so that a huge rejected event cannot make the record too large for the broker.
    pub quarantine_raw_bytes: usize,
    /// Failed authentications one client address may have at once before 429.
    pub failed_auth_burst: u64,
    /// Failed authentications per second a client address regains.
    pub failed_auth_per_sec: u64,
    /// Serves `POST /v1/bench/baseline`, which only decodes bodies (for `tally bench ingest`).
    pub bench_baseline: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            max_event_bytes: 64 * 1024,
            max_batch_events: 1000,
            max_event_age_secs: 7 * 24 * 3600,
            max_event_future_secs: 300,
            default_rate_per_sec: 10_000,
            default_burst: 20_000,
            refresh_secs: 2,
            produce_timeout_ms: 5_000,
            events_per_record: 500,
            quarantine_raw_bytes: DEFAULT_QUARANTINE_RAW_BYTES,
            failed_auth_burst: 20,
            failed_auth_per_sec: 1,
            bench_baseline: false,
        }
    }
}

impl IngestConfig {
    /// Returns the limits of tenants that have none of their own: the default rate and burst,
    /// no monthly quota.
    pub fn default_limits(&self) -> Limits {
        Limits {
            rate_per_sec: self.default_rate_per_sec,
            burst: self.default_burst,
            monthly_events: None,
            monthly_mode: QuotaMode::Hard,
        }
    }

    /// Returns the limits decoders apply while reading a body.
    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_events: self.max_batch_events,
            max_event_bytes: self.max_event_bytes,
        }
    }

    /// Checks that every limit is usable, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("ingest.max_body_bytes", self.max_body_bytes as u64),
            ("ingest.max_event_bytes", self.max_event_bytes as u64),
            ("ingest.max_batch_events", self.max_batch_events as u64),
            ("ingest.default_rate_per_sec", self.default_rate_per_sec),
            ("ingest.default_burst", self.default_burst),
            ("ingest.refresh_secs", self.refresh_secs),
            ("ingest.produce_timeout_ms", self.produce_timeout_ms),
            ("ingest.events_per_record", self.events_per_record as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("{key} must be at least 1"));
            }
        }
        Ok(())
    }
}
