//! What the aggregator tells operators, in one place: its Prometheus metric names and, in the
//! manner of vector's internal events, one small struct per timing whose `emit` records it.
//! The stage histograms break an event's way through the aggregator down: how long its record
//! waited for the aggregator to read it and then for its pass to start ([`RECORD_WAIT`]), and
//! what each step of that pass took ([`STAGE_DURATION`]). `tally bench e2e` reads them to say
//! where the ingest-to-queryable time goes.

use std::time::Duration;

/// Counter of events read, by `outcome`: counted, duplicate, quarantined.
pub const EVENTS: &str = "tally_meter_events_total";
/// Counter of the key hashes of the passes, by `lookup`: `looked_up` in `event_positions`, or
/// `skipped` because the dedup filter has never seen them.
pub const DEDUP_HASHES: &str = "tally_meter_dedup_hashes_total";
/// Gauge of the dedup filter's hashes over the number it holds with under 1 % false
/// positives; past 1, more and more new events are looked up. 0 without a filter.
pub const DEDUP_FILTER_LOAD: &str = "tally_meter_dedup_filter_load";
/// Histogram of the time to write one pass to ClickHouse, in seconds.
pub const WRITE_DURATION: &str = "tally_meter_write_duration_seconds";
/// Counter of passes that ClickHouse refused and that are retried.
pub const WRITE_FAILURES: &str = "tally_meter_write_failures_total";
/// Histogram of the time each step of a pass took, in seconds, by `stage`: one of
/// [`Stage::name`], or `insert_TABLE` for each insert into a table (a pass's go to
/// [`PASS_TABLES`]). One observation per pass and stage; inserts are observed only when the
/// pass has rows for their table.
pub const STAGE_DURATION: &str = "tally_meter_stage_seconds";
/// Histogram of how long each record read waited, in seconds, by `stage`:
/// [`PRODUCED_TO_FETCHED`] and [`FETCHED_TO_PASS`]. One observation per record.
pub const RECORD_WAIT: &str = "tally_meter_record_wait_seconds";
/// From a record's Kafka timestamp, which the producer sets when ingest hands it the record
/// (before the broker acknowledges it), to the aggregator reading it: the consumer lag in
/// time.
pub const PRODUCED_TO_FETCHED: &str = "produced_to_fetched";
/// From the aggregator reading a record to the start of the pass that writes it: the wait in
/// the gather buffer.
pub const FETCHED_TO_PASS: &str = "fetched_to_pass";

/// The tables a pass inserts into, all at once. A pass's sums are readable once
/// [`SUMS_TABLE`] is written; the other inserts and the commit delay only the next pass.
pub const PASS_TABLES: [&str; 6] = [
    "event_positions",
    "events_raw",
    "quarantine",
    "rollup_unique",
    "rollup_writes",
    "usage_hour",
];

/// The table of [`PASS_TABLES`] whose insert makes a pass's sums readable by usage queries.
pub const SUMS_TABLE: &str = "rollup_writes";

/// The steps of a pass, besides its inserts, in the order a pass runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading records for up to `meter.flush_interval_ms` (or `meter.max_batch_events`).
    Gather,
    /// Checking the catalog for meters created or deleted since the last pass, and reloading
    /// them if any was.
    MetersReload,
    /// Looking up the pass's identities in `event_positions`, retries included.
    DedupLookup,
    /// Reading back the written sums of blocks where reading starts afresh mid-block, retries
    /// included (usually none).
    BlockResume,
    /// Turning the records into rows.
    RowBuilding,
    /// Waiting for the previous pass to be written and committed, which went on while this
    /// one was gathered and built (observed only when one was under way).
    PreviousWrite,
    /// The failed attempts to write the pass and the waits after them, before the attempt
    /// that succeeded (observed only when a write failed).
    WriteRetries,
    /// Committing the offsets (asynchronously, but at shutdown).
    Commit,
}

impl Stage {
    /// Every stage, in the order a pass runs them; the inserts of the attempt that succeeds
    /// come after `WriteRetries` and before `Commit`.
    pub const ALL: [Self; 8] = [
        Self::Gather,
        Self::MetersReload,
        Self::DedupLookup,
        Self::BlockResume,
        Self::RowBuilding,
        Self::PreviousWrite,
        Self::WriteRetries,
        Self::Commit,
    ];

    /// The value of the `stage` label.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Gather => "gather",
            Self::MetersReload => "meters_reload",
            Self::DedupLookup => "dedup_lookup",
            Self::BlockResume => "block_resume",
            Self::RowBuilding => "row_building",
            Self::PreviousWrite => "previous_write",
            Self::WriteRetries => "write_retries",
            Self::Commit => "commit",
        }
    }
}

/// The value of the `stage` label of the inserts into `table`.
pub fn insert_stage(table: &str) -> String {
    format!("insert_{table}")
}

/// A pass's key hashes went through the dedup filter.
pub(crate) struct HashesFiltered {
    /// How many it may have seen, which are looked up.
    pub looked_up: usize,
    /// How many it never saw.
    pub skipped: usize,
    /// The filter's hashes over its capacity, afterwards.
    pub load: f64,
}

impl HashesFiltered {
    pub(crate) fn emit(self) {
        for (lookup, count) in [("looked_up", self.looked_up), ("skipped", self.skipped)] {
            metrics::counter!(DEDUP_HASHES, "lookup" => lookup).increment(count as u64);
        }
        metrics::gauge!(DEDUP_FILTER_LOAD).set(self.load);
    }
}

/// A step of a pass ended.
pub(crate) struct StageTimed {
    /// Which.
    pub stage: Stage,
    /// How long it took.
    pub elapsed: Duration,
}

impl StageTimed {
    pub(crate) fn emit(self) {
        metrics::histogram!(STAGE_DURATION, "stage" => self.stage.name())
            .record(self.elapsed.as_secs_f64());
    }
}

/// A pass's rows of one table were inserted.
pub(crate) struct TableInserted<'a> {
    /// The table.
    pub table: &'a str,
    /// From opening the insert to ClickHouse's answer to its end.
    pub elapsed: Duration,
}

impl TableInserted<'_> {
    pub(crate) fn emit(self) {
        metrics::histogram!(STAGE_DURATION, "stage" => insert_stage(self.table))
            .record(self.elapsed.as_secs_f64());
    }
}

/// A record was read, `lag` after its Kafka timestamp.
pub(crate) struct RecordFetched {
    /// Its consumer lag in time.
    pub lag: Duration,
}

impl RecordFetched {
    pub(crate) fn emit(self) {
        metrics::histogram!(RECORD_WAIT, "stage" => PRODUCED_TO_FETCHED)
            .record(self.lag.as_secs_f64());
    }
}

/// A record's pass started, `waited` after it was read.
pub(crate) struct RecordGathered {
    /// Its wait in the gather buffer.
    pub waited: Duration,
}

impl RecordGathered {
    pub(crate) fn emit(self) {
        metrics::histogram!(RECORD_WAIT, "stage" => FETCHED_TO_PASS)
            .record(self.waited.as_secs_f64());
    }
}
