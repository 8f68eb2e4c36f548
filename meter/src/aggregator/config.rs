//! The aggregator's settings. Their section is named after the role that runs the
//! aggregator: `[meter]` in the config file, `TALLY__METER__*` in the environment.

use serde::Deserialize;

use crate::{Error, Result};

/// Aggregator settings (`[meter]` in the config, for the `meter` role).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AggregatorConfig {
    /// Kafka consumer group shared by every aggregator process.
    pub group_id: String,
    /// Records per block: sums are written per block of this many offsets of a partition, and
    /// a restarted aggregator re-reads at most one block per partition.
    pub block_records: u64,
    /// The shortest time between the starts of two passes, in milliseconds: a pass writes
    /// the records read since the previous one started. Shorter means fresher data and more,
    /// smaller inserts into ClickHouse.
    pub flush_interval_ms: u64,
    /// The most events gathered before a write, whatever the interval.
    pub max_batch_events: usize,
    /// How long a `(tenant, source, id)` is remembered, in days: a resend within it is never
    /// counted again.
    pub dedup_window_days: u32,
    /// The size of the dedup filter, in MiB: a Bloom filter of the remembered events' hashes
    /// that spares the lookup in `event_positions` the events it never saw, with under 1 %
    /// false positives up to 800,000 events per MiB. 0 turns it off: every event is
    /// looked up.
    pub dedup_filter_mib: u64,
    /// How long raw events and quarantined events are kept, in days.
    pub raw_retention_days: u32,
    /// How often each aggregator process sends a freshness canary through the platform
    /// tenant's events, in seconds; 0 sends none.
    pub canary_interval_secs: u64,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            group_id: "tally-meter".to_owned(),
            block_records: 1000,
            flush_interval_ms: 250,
            max_batch_events: 50_000,
            dedup_window_days: 35,
            dedup_filter_mib: 64,
            raw_retention_days: 30,
            canary_interval_secs: 60,
        }
    }
}

impl AggregatorConfig {
    /// Checks the settings, naming the offending key.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("meter.block_records", self.block_records),
            ("meter.flush_interval_ms", self.flush_interval_ms),
            ("meter.max_batch_events", self.max_batch_events as u64),
            ("meter.dedup_window_days", u64::from(self.dedup_window_days)),
            (
                "meter.raw_retention_days",
                u64::from(self.raw_retention_days),
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::Invalid(format!("{key} must be at least 1")));
        }
        if self.group_id.is_empty() {
            return Err(Error::Invalid(
                "meter.group_id must not be empty".to_owned(),
            ));
        }
        Ok(())
    }
}
