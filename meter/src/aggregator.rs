//! The aggregator (`tally serve --roles meter`): reads the events, metering and quarantine
//! topics in one consumer group and writes raw events, per-minute rollups, hourly platform
//! usage and quarantined events to ClickHouse, counting every event exactly once in effect.
//! SLO indicators ([`crate::sli`]) are counted as meters of their own, so their good and
//! total counts per minute are exact in the same way.
//!
//! # How usage stays exact
//!
//! A pass gathers the records read since the previous pass started (at least
//! `meter.flush_interval_ms` apart), then:
//!
//! 1. **Dedup.** It looks up each event's `(tenant, source, id)` in `event_positions`, which
//!    holds the log position (partition, offset, index) of the first occurrence of every event
//!    of the last `meter.dedup_window_days`, and in the first occurrences of the previous pass,
//!    which may still be being written. An event whose first occurrence is elsewhere is a
//!    resend and is dropped; one seen nowhere is recorded with its own position. Because the
//!    answer compares positions, reading the same record again (after a crash or a partition
//!    move) finds its own position and counts it again, while a resend never counts. Metering
//!    records are deduplicated the same way on `(tenant, second, node)`. While a member owns
//!    every partition, a Bloom filter of the hashes `event_positions` holds (built in the
//!    background whenever the group assigns it partitions) and of its passes since answers
//!    "never seen" for most new events, and only the others are looked up; a false positive
//!    costs a lookup, never an event (`dedup::Filter`).
//! 2. **Blocks.** Sums are kept per block of `meter.block_records` offsets of a partition and
//!    written as rows versioned by the last offset read ([`block`] explains why rewriting a
//!    block is harmless). Rows keyed by identity (raw events, distinct values, quarantine)
//!    collapse when written twice.
//! 3. **Write, then commit.** The pass's tables are written at once, in the background, while
//!    the next pass is gathered and built; that one is written once this one is. Only after
//!    ClickHouse acknowledged every row of the pass does the aggregator commit, per partition,
//!    the offset where the open block starts as of that pass. After a crash the group resumes
//!    there, and the block is rebuilt from its first record.
//! 4. **Resuming elsewhere.** Reading may also start in the middle of a block: a new consumer
//!    group, an offset reset once the log's start moved past the committed offset, an offset
//!    set by hand. The aggregator then reads back the block's newest rows, skips the offsets
//!    they count and adds the rest to them, so its rows still sum the block from its first
//!    offset. As block numbers depend on `meter.block_records`, the first aggregator records
//!    it in ClickHouse and one started with another size refuses to run.
//!
//! Readers take the row of highest version of each (key, partition, block), with `argMax` or
//! `FINAL` (or use functions that ignore repeats), so they see exact sums even before
//! ClickHouse merges the replaced rows away. Sums are written per minute, hour and day
//! ([`block`]); usage reads the coarsest table that answers a query.
//!
//! When ClickHouse fails, the pass is retried with backoff and nothing is committed; the
//! consumer stops reading meanwhile, and the lag recovers by itself once ClickHouse is back.
//!
//! Limits, by design: a resend is recognised wherever it lands once its first copy's pass is
//! written. Copies in two partitions (a resend after the tenant's hot flag or the partition
//! count changed) that two aggregators read before either wrote are both recorded as first and
//! both counted; the smaller position (partition, then offset) is then the event's first
//! occurrence for good, so when the other copy's block is next rebuilt (a crash, a partition
//! move) it drops out. Copies in one partition never count twice. A meter counts the events
//! ingest accepted from its creation on (their ingest time), whenever they are read. Events are
//! judged late against their ingest time.

pub mod block;
mod config;
pub(crate) mod crash_point;
mod dedup;
mod encoding;
mod meters;
mod pass;
pub mod retention;
pub mod telemetry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::Timestamp;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::block::{Block, PartitionBlocks};
pub use self::config::AggregatorConfig;
use self::crash_point::CrashPoint;
use self::dedup::{FirstSeen, Screen};
use self::meters::MeterSet;
pub use self::meters::Reading;
use self::pass::{MidBlockStart, Received, Source};
use self::telemetry::{RecordFetched, RecordGathered, Stage, StageTimed};
use crate::Result;
use crate::analytics::Analytics;
use crate::bus::{KafkaConfig, Topics};
use crate::catalog::{self, Catalog};

/// Longest wait between two attempts to write a pass.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Every meter and SLO indicator, as the aggregator applies them.
async fn load_meters(catalog: &Catalog) -> Result<MeterSet> {
    Ok(MeterSet::new(
        catalog::meters::all(catalog).await?,
        catalog::indicators::all(catalog).await?,
    ))
}

/// A running aggregator: one member of the consumer group.
pub struct Aggregator {
    config: AggregatorConfig,
    catalog: Catalog,
    analytics: Analytics,
    topics: Topics,
    consumer: StreamConsumer<GroupEvents>,
    meters: MeterSet,
    meters_fingerprint: catalog::meters::Fingerprint,
    partitions: HashMap<(Source, u32), PartitionBlocks>,
    /// The dedup filter, while this member owns every partition.
    screen: Screen,
    /// The assignment ([`GroupEvents::assignments`]) the screen was set up for.
    screened_assignment: u64,
}

impl Aggregator {
    /// Joins the consumer group and loads the meters.
    pub async fn start(
        config: &AggregatorConfig,
        kafka: &KafkaConfig,
        catalog: Catalog,
        analytics: Analytics,
    ) -> Result<Self> {
        config.validate()?;
        let in_effect = analytics
            .block_records_in_effect(config.block_records)
            .await?;
        if in_effect != config.block_records {
            return Err(crate::Error::Invalid(format!(
                "meter.block_records is {}, but the sums in ClickHouse are cut in blocks of \
                 {in_effect} records; it cannot change while they exist, so set it back to \
                 {in_effect}",
                config.block_records
            )));
        }
        let consumer: StreamConsumer<GroupEvents> = kafka
            .consumer_config(&config.group_id)
            .create_with_context(GroupEvents::default())?;
        let topics = kafka.topics();
        consumer.subscribe(&topics.all())?;
        let meters_fingerprint = catalog::meters::fingerprint(&catalog).await?;
        let meters = load_meters(&catalog).await?;
        Ok(Self {
            config: config.clone(),
            catalog,
            analytics,
            topics,
            consumer,
            meters,
            meters_fingerprint,
            partitions: HashMap::new(),
            screen: Screen::Off,
            screened_assignment: 0,
        })
    }

    /// Aggregates until `shutdown` is cancelled; the pass under way is written and committed
    /// first.
    ///
    /// Passes overlap: while one pass is written in the background, the next is gathered,
    /// looked up and built, and it is written once the first is written and committed. A
    /// pass starts `meter.flush_interval_ms` after the previous one at the earliest, so that
    /// ClickHouse receives few and large inserts.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let retention = retention::spawn(&self.config, self.analytics.clone(), shutdown.clone());
        let interval = Duration::from_millis(self.config.flush_interval_ms);
        let mut writing: Option<Writing> = None;
        let mut pass_due = tokio::time::Instant::now() + interval;
        while !shutdown.is_cancelled() {
            let records = self.gather(pass_due, &shutdown).await;
            pass_due = tokio::time::Instant::now() + interval;
            let reloading = Instant::now();
            self.reload_meters().await;
            if records.is_empty() {
                if let Some(previous) = writing.take()
                    && !self.finish(previous, &shutdown).await
                {
                    break;
                }
                continue;
            }
            StageTimed {
                stage: Stage::MetersReload,
                elapsed: reloading.elapsed(),
            }
            .emit();
            let Some(pass) = self.prepare(&records, &mut writing, &shutdown).await else {
                break;
            };
            if let Some(previous) = writing.take() {
                let waiting = Instant::now();
                let finished = self.finish(previous, &shutdown).await;
                StageTimed {
                    stage: Stage::PreviousWrite,
                    elapsed: waiting.elapsed(),
                }
                .emit();
                if !finished {
                    break;
                }
            }
            writing = Some(self.start_writing(pass, &shutdown));
        }
        if let Some(last) = writing.take() {
            self.finish(last, &shutdown).await;
        }
        let _ = retention.await;
        tracing::info!("aggregator stopped");
    }

    /// Reads records until `due`, or until enough events arrived; once `due` has passed, only
    /// those already fetched. Times how long each record waited to be read and then for this
    /// pass.
    async fn gather(
        &self,
        due: tokio::time::Instant,
        shutdown: &CancellationToken,
    ) -> Vec<Received> {
        let started = Instant::now();
        let mut records = Vec::new();
        let mut fetched_at = Vec::new();
        let mut events = 0;
        while events < self.config.max_batch_events {
            let message = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                message = self.consumer.recv() => message,
                () = tokio::time::sleep_until(due) => break,
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "kafka consumer error");
                    continue;
                }
            };
            let Some(source) = self.source_of(message.topic()) else {
                continue;
            };
            let (Ok(partition), Ok(offset)) = (
                u32::try_from(message.partition()),
                u64::try_from(message.offset()),
            ) else {
                continue;
            };
            let timestamp_ms = message.timestamp().to_millis().unwrap_or(0);
            fetched_at.push(Instant::now());
            // The producer's own timestamp, taken when ingest handed it the record.
            if let Timestamp::CreateTime(created_ms) = message.timestamp() {
                let lag_ms = chrono::Utc::now().timestamp_millis() - created_ms;
                RecordFetched {
                    lag: Duration::from_millis(u64::try_from(lag_ms).unwrap_or(0)),
                }
                .emit();
            }
            let record = Received::decode(
                source,
                message.topic(),
                (partition, offset, timestamp_ms),
                message.payload().unwrap_or_default(),
            );
            events += record.weight();
            records.push(record);
        }
        if !records.is_empty() {
            let pass_starts = Instant::now();
            StageTimed {
                stage: Stage::Gather,
                elapsed: pass_starts.duration_since(started),
            }
            .emit();
            for fetched in fetched_at {
                RecordGathered {
                    waited: pass_starts.duration_since(fetched),
                }
                .emit();
            }
        }
        records
    }

    fn source_of(&self, topic: &str) -> Option<Source> {
        if topic == self.topics.events {
            Some(Source::Events)
        } else if topic == self.topics.metering {
            Some(Source::Metering)
        } else if topic == self.topics.quarantine {
            Some(Source::Quarantine)
        } else {
            None
        }
    }

    /// Reloads the meters and indicators if any was created or deleted since they were
    /// loaded.
    async fn reload_meters(&mut self) {
        let reloaded = async {
            let fingerprint = catalog::meters::fingerprint(&self.catalog).await?;
            if fingerprint != self.meters_fingerprint {
                self.meters = load_meters(&self.catalog).await?;
                self.meters_fingerprint = fingerprint;
            }
            Ok::<(), crate::Error>(())
        };
        if let Err(error) = reloaded.await {
            tracing::warn!(%error, "cannot reload meters; keeping the last ones");
        }
    }

    /// Deduplicates one pass and turns it into rows, retrying ClickHouse until it answers.
    /// `writing` is the pass still being written, whose first occurrences ClickHouse may not
    /// show yet. Returns `None` when shutdown interrupted the retries.
    async fn prepare(
        &mut self,
        records: &[Received],
        writing: &mut Option<Writing>,
        shutdown: &CancellationToken,
    ) -> Option<Prepared> {
        // Reading back a block, and building a new dedup filter, read what ClickHouse holds:
        // the filter must hold what this member and the partitions' previous owners wrote. So
        // the pass under way is written first; its first occurrences are then in ClickHouse
        // for the lookup too.
        let assignment = self.consumer.context().assignments.load(Ordering::Acquire);
        let rescreening = assignment != self.screened_assignment || self.screen.is_stale();
        if writing.is_some()
            && (rescreening
                || !pass::mid_block_starts(records, &self.partitions, self.config.block_records)
                    .is_empty())
            && let Some(previous) = writing.take()
            && !self.finish(previous, shutdown).await
        {
            return None;
        }
        let looking_up = Instant::now();
        let mut backoff = Duration::from_millis(100);
        if rescreening {
            self.rescreen(assignment, shutdown);
        }
        let looked_up = self.screen.screen(pass::key_hashes(records)).await;
        let first_seen = loop {
            match dedup::first_occurrences(&self.analytics, &looked_up).await {
                Ok(found) => break found,
                Err(error) => {
                    if !wait_to_retry(&error, &mut backoff, shutdown).await {
                        return None;
                    }
                }
            }
        };
        StageTimed {
            stage: Stage::DedupLookup,
            elapsed: looking_up.elapsed(),
        }
        .emit();
        let resuming = Instant::now();
        let starts = pass::mid_block_starts(records, &self.partitions, self.config.block_records);
        let mut resumed = HashMap::new();
        for start in starts {
            let written = loop {
                match self.written_block(start).await {
                    Ok(written) => break written,
                    Err(error) => {
                        if !wait_to_retry(&error, &mut backoff, shutdown).await {
                            return None;
                        }
                    }
                }
            };
            resumed.insert(start, written);
        }
        StageTimed {
            stage: Stage::BlockResume,
            elapsed: resuming.elapsed(),
        }
        .emit();
        let building = Instant::now();
        let built = pass::build(
            records,
            &self.meters,
            &mut self.partitions,
            self.config.block_records,
            (
                first_seen,
                writing.as_ref().map(|previous| &previous.first_seen),
            ),
            resumed,
        );
        // The pass's sums are handed to the writer: later passes write only what changes
        // after it, and its offsets are committed once it is written.
        let offsets = self
            .partitions
            .iter_mut()
            .filter_map(|(partition, blocks)| Some((*partition, blocks.written()?)))
            .collect();
        StageTimed {
            stage: Stage::RowBuilding,
            elapsed: building.elapsed(),
        }
        .emit();
        Some(Prepared { built, offsets })
    }

    /// Writes a pass in the background, retrying ClickHouse until it answers or shutdown.
    fn start_writing(&self, pass: Prepared, shutdown: &CancellationToken) -> Writing {
        let Prepared { built, offsets } = pass;
        let pass::Built {
            writes,
            outcomes,
            first_seen,
        } = built;
        let analytics = self.analytics.clone();
        let shutdown = shutdown.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut backoff = Duration::from_millis(100);
            let mut failed_attempts = 0_u32;
            loop {
                let attempt = Instant::now();
                match analytics.write_pass(&writes).await {
                    Ok(()) => {
                        metrics::histogram!(telemetry::WRITE_DURATION)
                            .record(attempt.elapsed().as_secs_f64());
                        if failed_attempts > 0 {
                            StageTimed {
                                stage: Stage::WriteRetries,
                                elapsed: attempt.duration_since(started),
                            }
                            .emit();
                        }
                        break;
                    }
                    Err(error) => {
                        failed_attempts += 1;
                        if !wait_to_retry(&error, &mut backoff, &shutdown).await {
                            return false;
                        }
                    }
                }
            }
            for (outcome, count) in [
                ("counted", outcomes.counted),
                ("duplicate", outcomes.duplicates),
                ("quarantined", outcomes.quarantined),
            ] {
                metrics::counter!(telemetry::EVENTS, "outcome" => outcome).increment(count);
            }
            true
        });
        Writing {
            first_seen,
            offsets,
            task,
        }
    }

    /// Waits for a pass to be written, then commits its offsets. Returns false when it was
    /// not written (shutdown interrupted its retries): nothing is committed then.
    async fn finish(&mut self, pass: Writing, shutdown: &CancellationToken) -> bool {
        let written = pass.task.await.unwrap_or_else(|error| {
            tracing::error!(%error, "the task writing a pass failed");
            false
        });
        if !written {
            return false;
        }
        crash_point::reach(CrashPoint::BeforeCommit);
        let committing = Instant::now();
        self.commit(
            &pass.offsets,
            if shutdown.is_cancelled() {
                CommitMode::Sync
            } else {
                CommitMode::Async
            },
        );
        StageTimed {
            stage: Stage::Commit,
            elapsed: committing.elapsed(),
        }
        .emit();
        true
    }

    /// Sets the dedup filter up for a new assignment (or again once it is stale): a filter
    /// built in the background if this member owns every partition of the topics it reads,
    /// none otherwise (or when it is turned off). A resend may land in another partition than
    /// its first copy (a hot tenant's event with another subject, a changed hot flag or
    /// partition count), so while other members write hashes a filter would not hold, every
    /// hash is looked up.
    fn rescreen(&mut self, assignment: u64, shutdown: &CancellationToken) {
        if self.config.dedup_filter_mib == 0 {
            self.screened_assignment = assignment;
            return;
        }
        self.screen = match self.owns_every_partition() {
            Ok(true) => Screen::build(
                self.analytics.clone(),
                self.config.dedup_filter_mib,
                shutdown.clone(),
            ),
            Ok(false) => {
                tracing::info!(
                    "other members of the consumer group own partitions; every event is looked up in event_positions"
                );
                Screen::Off
            }
            Err(error) => {
                // Tried again at the next pass.
                tracing::warn!(%error, "cannot tell which partitions the group has; every event is looked up");
                self.screen = Screen::Off;
                return;
            }
        };
        self.screened_assignment = assignment;
    }

    /// Whether the group assigned this member every partition of the topics it reads.
    fn owns_every_partition(&self) -> Result<bool> {
        let owned = self.consumer.assignment()?;
        for topic in self.topics.all() {
            let metadata = self
                .consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))?;
            let partitions = metadata
                .topics()
                .iter()
                .filter(|listed| listed.name() == topic)
                .flat_map(|listed| listed.partitions());
            for partition in partitions {
                if owned.find_partition(topic, partition.id()).is_none() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Reads what ClickHouse holds of the block where reading starts afresh at `start`.
    async fn written_block(&self, (source, partition, offset): MidBlockStart) -> Result<Block> {
        let block = offset / self.config.block_records;
        let (rollups, usage) = match source {
            Source::Events => (
                self.analytics.rollup_block(partition, block).await?,
                Vec::new(),
            ),
            Source::Metering => (
                Vec::new(),
                self.analytics.usage_block(partition, block).await?,
            ),
            Source::Quarantine => (Vec::new(), Vec::new()),
        };
        let written = pass::written_block(rollups, usage).map_err(|reason| {
            crate::Error::Invalid(format!(
                "cannot read back block {block} of partition {partition}: {reason}"
            ))
        })?;
        tracing::info!(
            ?source,
            partition,
            offset,
            block,
            counted_through = written.last_offset,
            "reading resumes in the middle of a block, from its written sums"
        );
        Ok(written)
    }

    /// Commits the offsets of a written pass for the partitions this member still owns. The
    /// state of a partition the group gave to another member is dropped, not committed: its
    /// offset is the new owner's to commit, and should the partition come back, reading
    /// resumes from the committed offset with fresh blocks.
    fn commit(&mut self, offsets: &[((Source, u32), u64)], mode: CommitMode) {
        let owned = match self.consumer.assignment() {
            Ok(owned) => owned,
            Err(error) => {
                tracing::warn!(%error, "cannot read the partitions this member owns; not committing");
                return;
            }
        };
        let topics = &self.topics;
        let topic_of = |source: &Source| match source {
            Source::Events => topics.events.as_str(),
            Source::Metering => topics.metering.as_str(),
            Source::Quarantine => topics.quarantine.as_str(),
        };
        self.partitions.retain(|(source, partition), _| {
            let owns = i32::try_from(*partition)
                .is_ok_and(|partition| owned.find_partition(topic_of(source), partition).is_some());
            if !owns {
                tracing::info!(
                    topic = topic_of(source),
                    partition,
                    "dropped the state of a partition no longer owned"
                );
            }
            owns
        });
        let mut list = TopicPartitionList::new();
        for (key @ (source, partition), commit) in offsets {
            if !self.partitions.contains_key(key) {
                continue;
            }
            let topic = topic_of(source);
            let (Ok(partition), Ok(offset)) = (i32::try_from(*partition), i64::try_from(*commit))
            else {
                continue;
            };
            if let Err(error) = list.add_partition_offset(topic, partition, Offset::Offset(offset))
            {
                tracing::warn!(%error, topic, partition, "cannot list offset to commit");
            }
        }
        if list.count() == 0 {
            return;
        }
        if let Err(error) = self.consumer.commit(&list, mode) {
            tracing::warn!(%error, "cannot commit kafka offsets; a replay will rewrite them");
        }
    }
}

/// A pass ready to be written.
struct Prepared {
    built: pass::Built,
    /// Per partition, the offset to commit once the pass is written.
    offsets: Vec<((Source, u32), u64)>,
}

/// A pass being written in the background.
struct Writing {
    /// Where the pass's identities first occurred, including the first occurrences it
    /// records, which ClickHouse may not show until its write is done.
    first_seen: FirstSeen,
    /// Per partition, the offset to commit once it is written.
    offsets: Vec<((Source, u32), u64)>,
    /// Writes it; true once written, false if shutdown interrupted the retries.
    task: JoinHandle<bool>,
}

async fn wait_to_retry(
    error: &crate::Error,
    backoff: &mut Duration,
    shutdown: &CancellationToken,
) -> bool {
    metrics::counter!(telemetry::WRITE_FAILURES).increment(1);
    tracing::warn!(%error, retry_in_ms = backoff.as_millis(), "clickhouse write failed");
    tokio::select! {
        () = shutdown.cancelled() => return false,
        () = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    true
}

/// Logs what the consumer group does with this member (partitions assigned and revoked, and
/// failed offset commits) and counts the changes of its assignment.
#[derive(Default)]
struct GroupEvents {
    /// How many times the group assigned this member partitions or took some back.
    assignments: AtomicU64,
}

impl ClientContext for GroupEvents {}

impl ConsumerContext for GroupEvents {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = %describe(partitions), "kafka partitions assigned");
                self.assignments.fetch_add(1, Ordering::AcqRel);
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = %describe(partitions), "kafka partitions revoked");
                self.assignments.fetch_add(1, Ordering::AcqRel);
            }
            Rebalance::Error(error) => tracing::warn!(%error, "kafka rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(error) = result {
            tracing::warn!(%error, "kafka offset commit failed; a replay will rewrite the rows");
        }
    }
}

/// Lists partitions as `topic/partition`, comma-separated.
fn describe(partitions: &TopicPartitionList) -> String {
    let names: Vec<String> = partitions
        .elements()
        .iter()
        .map(|element| format!("{}/{}", element.topic(), element.partition()))
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(",")
    }
}
