//! One pass of the aggregator: the records gathered since the last write, turned into the rows
//! to write. Events seen before elsewhere in the log are dropped here; the rest are kept raw,
//! fed to their tenant's meters and summed into the partition's open blocks.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::Value;

use super::block::{
    Block, Latest, PartitionBlocks, Position, RollupKey, RollupState, UsageCounts, UsageKey,
};
use super::dedup::{FirstSeen, Identity, key_hash};
use super::encoding::{date_of_ms, from_stored, to_stored};
use super::meters::{Counted, MeterSet, Reading, group_values, measure};
use crate::analytics::events::RawEvent;
use crate::analytics::quarantine::QuarantineEntry;
use crate::analytics::writes::{EventIdRow, RollupRow, RollupUniqueRow, UsageHourRow, Writes};
use crate::event::{
    BoundedRaw, DEFAULT_QUARANTINE_RAW_BYTES, Event, EventBatch, MeteringRecord, QuarantineRecord,
};
use crate::ids::TenantId;
use crate::usage::Resolution;

/// The topics the aggregator reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Accepted events.
    Events,
    /// Per-tenant, per-second counters of the ingest nodes.
    Metering,
    /// Events ingest rejected.
    Quarantine,
}

/// The content of one record.
#[derive(Debug)]
pub enum Content {
    /// An [`EventBatch`].
    Events(EventBatch),
    /// A [`MeteringRecord`].
    Metering(MeteringRecord),
    /// A [`QuarantineRecord`].
    Quarantine(QuarantineRecord),
    /// A record that is none of those: kept in quarantine, without tenant, as a poison record.
    Undecodable {
        /// What the decoder said.
        reason: String,
        /// The record's bytes, bounded.
        raw: BoundedRaw,
    },
}

/// One record read from the bus.
#[derive(Debug)]
pub struct Received {
    /// Which topic.
    pub source: Source,
    /// Its topic's name.
    pub topic: String,
    /// Kafka partition.
    pub partition: u32,
    /// Kafka offset.
    pub offset: u64,
    /// The record's Kafka timestamp, in milliseconds.
    pub timestamp_ms: i64,
    /// What it holds.
    pub content: Content,
}

impl Received {
    /// Decodes a record's payload according to its topic.
    pub fn decode(
        source: Source,
        topic: &str,
        (partition, offset, timestamp_ms): (u32, u64, i64),
        payload: &[u8],
    ) -> Self {
        let decoded = match source {
            Source::Events => serde_json::from_slice(payload).map(Content::Events),
            Source::Metering => serde_json::from_slice(payload).map(Content::Metering),
            Source::Quarantine => serde_json::from_slice(payload).map(Content::Quarantine),
        };
        let content = decoded.unwrap_or_else(|error| Content::Undecodable {
            reason: format!("undecodable record on {topic}: {error}"),
            raw: BoundedRaw::new(payload, DEFAULT_QUARANTINE_RAW_BYTES),
        });
        Self {
            source,
            topic: topic.to_owned(),
            partition,
            offset,
            timestamp_ms,
            content,
        }
    }

    /// Returns how many events it carries, to bound a pass.
    pub fn weight(&self) -> usize {
        match &self.content {
            Content::Events(batch) => batch.events.len(),
            _ => 1,
        }
    }

    /// Appends the key hashes of the identities it carries.
    fn add_key_hashes(&self, hashes: &mut Vec<u64>) {
        match &self.content {
            Content::Events(batch) => {
                let tenant = batch.tenant_id.to_string();
                hashes.extend(
                    batch
                        .events
                        .iter()
                        .map(|event| key_hash(&tenant, &event.source, &event.id)),
                );
            }
            Content::Metering(record) => {
                let (tenant, node, second) = metering_identity(record);
                hashes.push(key_hash(&tenant, &node, &second));
            }
            _ => {}
        }
    }
}

/// Metering records deduplicate on (tenant, second, node), in a namespace no tenant's events
/// can reach: tenant ids are UUIDs and never start with `metering:`.
fn metering_identity(record: &MeteringRecord) -> Identity {
    (
        format!("metering:{}", record.tenant_id),
        record.node.clone(),
        record.second.to_string(),
    )
}

/// How many events of a pass had each outcome, for metrics and logs.
#[derive(Debug, Default, Clone, Copy)]
pub struct OutcomeCounts {
    /// Events counted now (or counted again by a replay, idempotently).
    pub counted: u64,
    /// Events dropped as resends of an event seen before.
    pub duplicates: u64,
    /// Events, or readings of them by meters, quarantined.
    pub quarantined: u64,
}

/// Where a partition's reading starts afresh in the middle of a block: the topic, the
/// partition and the offset of the record read first.
pub type MidBlockStart = (Source, u32, u64);

/// A pass turned into rows.
#[derive(Debug)]
pub struct Built {
    /// The rows to write.
    pub writes: Writes,
    /// What became of the pass's events.
    pub outcomes: OutcomeCounts,
    /// Where each identity of the pass first occurred: the earlier occurrences found in
    /// ClickHouse, and the first ones it records.
    pub first_seen: FirstSeen,
}

/// Turns records into rows. `partitions` holds the open blocks of every partition and is
/// updated; `first_seen` is where the identities of these records occurred first as ClickHouse
/// knows ([`super::dedup::first_occurrences`]), `unwritten` the first occurrences of the pass
/// still being written, which ClickHouse may not show yet, and `resumed` what ClickHouse holds
/// of the blocks found by [`mid_block_starts`].
pub fn build(
    records: &[Received],
    meters: &MeterSet,
    partitions: &mut HashMap<(Source, u32), PartitionBlocks>,
    block_records: u64,
    (first_seen, unwritten): (FirstSeen, Option<&FirstSeen>),
    mut resumed: HashMap<MidBlockStart, Block>,
) -> Built {
    let events = records.iter().map(Received::weight).sum();
    let mut pass = Pass {
        meters,
        first_seen,
        unwritten,
        writes: Writes::default(),
        outcomes: OutcomeCounts::default(),
    };
    pass.writes.raw.reserve(events);
    pass.writes.event_ids.reserve(events);
    pass.first_seen.reserve(events);
    for record in records {
        let blocks = partitions
            .entry((record.source, record.partition))
            .or_insert_with(|| PartitionBlocks::new(block_records));
        if let Some(written) = resumed.remove(&(record.source, record.partition, record.offset)) {
            blocks.resume(record.offset, written);
        }
        let Some((_, block)) = blocks.block_for(record.offset) else {
            // Counted in the sums written before reading resumed here.
            continue;
        };
        let at = Position {
            partition: record.partition,
            offset: record.offset,
            index: 0,
        };
        match &record.content {
            Content::Events(batch) => pass.add_events(record, batch, block),
            Content::Metering(metering) => pass.add_metering(metering, at, block),
            Content::Quarantine(rejected) => {
                let raw = rejected.bounded_raw(DEFAULT_QUARANTINE_RAW_BYTES);
                pass.writes.quarantine.push(QuarantineEntry {
                    tenant_id: rejected.tenant_id.to_string(),
                    ingest_date: date_of_ms(rejected.ingest_time_ms),
                    ingest_time_ms: rejected.ingest_time_ms,
                    topic: record.topic.clone(),
                    kafka_partition: record.partition,
                    kafka_offset: record.offset,
                    position: 0,
                    event_id: rejected.event_id.clone().unwrap_or_default(),
                    reason: rejected.reason.clone(),
                    raw: raw.raw,
                    raw_bytes: raw.raw_bytes,
                    raw_sha256: raw.raw_sha256,
                });
            }
            Content::Undecodable { reason, raw } => {
                pass.outcomes.quarantined += 1;
                pass.writes.quarantine.push(QuarantineEntry {
                    tenant_id: String::new(),
                    ingest_date: date_of_ms(record.timestamp_ms),
                    ingest_time_ms: record.timestamp_ms,
                    topic: record.topic.clone(),
                    kafka_partition: record.partition,
                    kafka_offset: record.offset,
                    position: 0,
                    event_id: String::new(),
                    reason: reason.clone(),
                    raw: raw.raw.clone(),
                    raw_bytes: raw.raw_bytes,
                    raw_sha256: raw.raw_sha256.clone(),
                });
            }
        }
    }
    let Pass {
        mut writes,
        outcomes,
        first_seen,
        ..
    } = pass;
    sums_to_rows(partitions, &mut writes);
    Built {
        writes,
        outcomes,
        first_seen,
    }
}

/// The state of one pass while its records are turned into rows.
struct Pass<'a> {
    meters: &'a MeterSet,
    first_seen: FirstSeen,
    unwritten: Option<&'a FirstSeen>,
    writes: Writes,
    outcomes: OutcomeCounts,
}

impl Pass<'_> {
    /// Says whether the occurrence at `at` is the first of its identity, recording it as the
    /// first when none was seen before.
    fn is_first(&mut self, identity: Identity, at: Position, seen_date: u16) -> bool {
        let earlier = self
            .unwritten
            .and_then(|unwritten| unwritten.get(&identity));
        if let Some(first) = [self.first_seen.get(&identity), earlier]
            .into_iter()
            .flatten()
            .min()
        {
            return *first == at;
        }
        let (tenant_id, source, id) = &identity;
        self.writes.event_ids.push(EventIdRow {
            key_hash: key_hash(tenant_id, source, id),
            tenant_id: tenant_id.clone(),
            source: source.clone(),
            id: id.clone(),
            seen_date,
            kafka_partition: at.partition,
            kafka_offset: at.offset,
            position: at.index,
        });
        self.first_seen.insert(identity, at);
        true
    }

    /// Keeps the batch's first occurrences raw and feeds them to their tenant's meters.
    fn add_events(&mut self, record: &Received, batch: &EventBatch, block: &mut Block) {
        let date = date_of_ms(batch.ingest_time_ms);
        let tenant = batch.tenant_id.to_string();
        for (index, event) in batch.events.iter().enumerate() {
            let at = Position {
                partition: record.partition,
                offset: record.offset,
                index: u32::try_from(index).unwrap_or(u32::MAX),
            };
            let identity = (tenant.clone(), event.source.clone(), event.id.clone());
            if !self.is_first(identity, at, date) {
                self.outcomes.duplicates += 1;
                continue;
            }
            self.outcomes.counted += 1;
            let data_text = event.data.as_ref().map_or("", |data| data.get());
            self.writes.raw.push(RawEvent {
                tenant_id: tenant.clone(),
                ingest_date: date,
                ingest_time_ms: batch.ingest_time_ms,
                event_time_ms: event.time_ms,
                id: event.id.clone(),
                source: event.source.clone(),
                event_type: event.event_type.clone(),
                subject: event.subject.clone().unwrap_or_default(),
                data: data_text.to_owned(),
            });
            let meters = self.meters.matching(batch.tenant_id, &event.event_type);
            if !meters.is_empty() {
                let data: Value = serde_json::from_str(data_text).unwrap_or(Value::Null);
                self.apply_meters(record, batch, event, &data, at, meters, block);
            }
        }
    }

    /// Adds an event's reading by each of the meters to its rollup, or quarantines the event
    /// for the meters that cannot count it.
    #[expect(clippy::too_many_arguments, reason = "the parts of one event, named")]
    fn apply_meters(
        &mut self,
        record: &Received,
        batch: &EventBatch,
        event: &Event,
        data: &Value,
        at: Position,
        meters: &[Counted],
        block: &mut Block,
    ) {
        let minute = u32::try_from(event.time_ms.div_euclid(60_000) * 60).unwrap_or(0);
        for counted in meters {
            let meter = &counted.meter;
            // A meter counts what ingest accepted from its creation on, the same on every
            // aggregator and every replay, whenever the events are read.
            if batch.ingest_time_ms < meter.created_at.timestamp_millis() {
                continue;
            }
            let measured = match measure(meter, event, data, batch.ingest_time_ms) {
                Ok(measured) => measured,
                Err(reason) => {
                    self.quarantine_event(record, batch, event, at, reason);
                    continue;
                }
            };
            let key = RollupKey {
                tenant_id: batch.tenant_id,
                meter_id: meter.id,
                minute,
                subject: counted.subject(event),
                group_values: measured.group_values,
            };
            let reading = counted.reading(measured.reading, data);
            if let Err(reason) = block.add_rollup(key.clone(), &reading, event.time_ms, at) {
                let reason = format!("meter {} cannot count it: {reason}", meter.spec.key);
                self.quarantine_event(record, batch, event, at, reason);
                continue;
            }
            if let Reading::Distinct(value) = reading {
                self.writes.unique.push(RollupUniqueRow {
                    tenant_id: batch.tenant_id.to_string(),
                    meter_id: meter.id.to_string(),
                    minute,
                    subject: key.subject.clone(),
                    group_values: key.group_values,
                    value,
                });
            }
        }
    }

    /// Quarantines an event that a meter cannot count, with the reason.
    fn quarantine_event(
        &mut self,
        record: &Received,
        batch: &EventBatch,
        event: &Event,
        at: Position,
        reason: String,
    ) {
        self.outcomes.quarantined += 1;
        let raw = serde_json::to_string(event).unwrap_or_default();
        let raw = BoundedRaw::new(raw.as_bytes(), DEFAULT_QUARANTINE_RAW_BYTES);
        self.writes.quarantine.push(QuarantineEntry {
            tenant_id: batch.tenant_id.to_string(),
            ingest_date: date_of_ms(batch.ingest_time_ms),
            ingest_time_ms: batch.ingest_time_ms,
            topic: record.topic.clone(),
            kafka_partition: at.partition,
            kafka_offset: at.offset,
            position: at.index,
            event_id: event.id.clone(),
            reason,
            raw: raw.raw,
            raw_bytes: raw.raw_bytes,
            raw_sha256: raw.raw_sha256,
        });
    }

    /// Adds a first-seen metering record to its tenant's hour, or its observations to the
    /// platform's indicators.
    fn add_metering(&mut self, metering: &MeteringRecord, at: Position, block: &mut Block) {
        let date = date_of_ms(metering.second.saturating_mul(1000));
        if !self.is_first(metering_identity(metering), at, date) {
            return;
        }
        self.add_observations(metering, block);
        if metering.tenant_id == TenantId::PLATFORM {
            return;
        }
        let key = UsageKey {
            tenant_id: metering.tenant_id,
            hour: u32::try_from(metering.second.div_euclid(3600) * 3600).unwrap_or(0),
        };
        block.add_usage(
            key,
            UsageCounts {
                accepted_events: metering.accepted_events,
                rejected_events: metering.rejected_events,
                accepted_bytes: metering.accepted_bytes,
                api_queries: metering.api_queries,
            },
        );
    }
}

impl Pass<'_> {
    /// Adds each observation of a first-seen metering record to the platform's indicators of
    /// its type, as `count` events of its data in the record's minute. Indicators created
    /// after the second ended leave it out, as they do events ingested before them.
    fn add_observations(&mut self, metering: &MeteringRecord, block: &mut Block) {
        let minute = u32::try_from(metering.second.div_euclid(60) * 60).unwrap_or(0);
        let ended_ms = metering.second.saturating_add(1).saturating_mul(1000);
        for observation in &metering.observations {
            for counted in self.meters.observing(&observation.event_type) {
                let meter = &counted.meter;
                if ended_ms <= meter.created_at.timestamp_millis() {
                    continue;
                }
                let good = counted
                    .good
                    .as_ref()
                    .is_some_and(|good| good.holds(&observation.data));
                let key = RollupKey {
                    tenant_id: meter.tenant_id,
                    meter_id: meter.id,
                    minute,
                    subject: String::new(),
                    group_values: group_values(meter, &observation.data),
                };
                let sums = RollupState {
                    events: observation.count,
                    sum: Decimal::from(if good { observation.count } else { 0 }),
                    ..RollupState::default()
                };
                if let Err(reason) = block.add_rollup_sums(key, &sums) {
                    tracing::warn!(%reason, event_type = %observation.event_type, "an observation is left uncounted");
                }
            }
        }
    }
}

/// Returns the key hashes of the identities of events and metering records, sorted and
/// without repeats, for the lookup of earlier occurrences.
pub fn key_hashes(records: &[Received]) -> Vec<u64> {
    let mut hashes = Vec::new();
    for record in records {
        record.add_key_hashes(&mut hashes);
    }
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// Finds the records at which reading starts afresh (the first record of a partition, or a
/// rewind) in the middle of a block of the topics whose sums are kept per block: a new
/// consumer group, an offset reset after the log's start moved, or an offset set by hand.
pub fn mid_block_starts(
    records: &[Received],
    partitions: &HashMap<(Source, u32), PartitionBlocks>,
    block_records: u64,
) -> Vec<MidBlockStart> {
    let mut last_read: HashMap<(Source, u32), Option<u64>> = HashMap::new();
    let mut starts = Vec::new();
    for record in records {
        if record.source == Source::Quarantine {
            continue;
        }
        let partition = (record.source, record.partition);
        let last = last_read.entry(partition).or_insert_with(|| {
            partitions
                .get(&partition)
                .and_then(PartitionBlocks::last_offset)
        });
        if last.is_none_or(|last| record.offset <= last)
            && !record.offset.is_multiple_of(block_records)
        {
            starts.push((record.source, record.partition, record.offset));
        }
        *last = Some(record.offset);
    }
    starts
}

/// Rebuilds a block's sums from the newest of its rows in ClickHouse: the inverse of
/// [`sums_to_rows`]. Its last offset is the highest version among them.
pub fn written_block(rollups: Vec<RollupRow>, usage: Vec<UsageHourRow>) -> Result<Block, String> {
    let decimal = |stored: i128| {
        from_stored(stored).ok_or_else(|| format!("{stored} is not a stored decimal"))
    };
    let mut last_offset = 0;
    let mut sums = foldhash::HashMap::default();
    for row in rollups {
        last_offset = last_offset.max(row.version);
        let key = RollupKey {
            tenant_id: row.tenant_id.parse().map_err(|error| format!("{error}"))?,
            meter_id: row.meter_id.parse().map_err(|error| format!("{error}"))?,
            minute: row.minute,
            subject: row.subject,
            group_values: row.group_values,
        };
        // Rows without any value (COUNT, UNIQUE_COUNT) carry no latest time.
        let numeric = row.latest_time_ms != i64::MIN;
        let state = RollupState {
            events: row.events,
            sum: decimal(row.value_sum)?,
            min: numeric.then(|| decimal(row.value_min)).transpose()?,
            max: numeric.then(|| decimal(row.value_max)).transpose()?,
            latest: numeric
                .then(|| {
                    Ok::<_, String>(Latest {
                        time_ms: row.latest_time_ms,
                        sequence: row.latest_position,
                        value: decimal(row.latest_value)?,
                    })
                })
                .transpose()?,
        };
        sums.insert(key, state);
    }
    let mut counts = foldhash::HashMap::default();
    for row in usage {
        last_offset = last_offset.max(row.version);
        let key = UsageKey {
            tenant_id: row.tenant_id.parse().map_err(|error| format!("{error}"))?,
            hour: row.hour,
        };
        counts.insert(
            key,
            UsageCounts {
                accepted_events: row.accepted_events,
                rejected_events: row.rejected_events,
                accepted_bytes: row.accepted_bytes,
                api_queries: row.api_queries,
            },
        );
    }
    Block::written(last_offset, sums, counts)
}

/// Appends the changed sums of every open block, with their block's version.
fn sums_to_rows(partitions: &HashMap<(Source, u32), PartitionBlocks>, writes: &mut Writes) {
    for ((_, partition), blocks) in partitions {
        for (block_number, block) in blocks.blocks() {
            for resolution in Resolution::ALL {
                for (key, state) in block.dirty_rollups(resolution) {
                    let latest = state.latest;
                    writes.rollups.push(RollupRow {
                        resolution: resolution.name().to_owned(),
                        tenant_id: key.tenant_id.to_string(),
                        meter_id: key.meter_id.to_string(),
                        minute: key.minute,
                        subject: key.subject.clone(),
                        group_values: key.group_values.clone(),
                        kafka_partition: *partition,
                        block: block_number,
                        version: block.last_offset,
                        events: state.events,
                        value_sum: to_stored(state.sum),
                        value_min: state.min.map_or(0, to_stored),
                        value_max: state.max.map_or(0, to_stored),
                        latest_time_ms: latest.map_or(i64::MIN, |latest| latest.time_ms),
                        latest_position: latest.map_or(0, |latest| latest.sequence),
                        latest_value: latest.map_or(0, |latest| to_stored(latest.value)),
                    });
                }
            }
            for (key, counts) in block.dirty_usage() {
                writes.usage.push(UsageHourRow {
                    tenant_id: key.tenant_id.to_string(),
                    hour: key.hour,
                    kafka_partition: *partition,
                    block: block_number,
                    version: block.last_offset,
                    accepted_events: counts.accepted_events,
                    rejected_events: counts.rejected_events,
                    accepted_bytes: counts.accepted_bytes,
                    api_queries: counts.api_queries,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tenant: TenantId, offset: u64, ids: &[&str]) -> Received {
        let batch = serde_json::json!({
            "v": 1,
            "tenant_id": tenant,
            "ingest_time_ms": 1_000,
            "events": ids.iter().map(|id| serde_json::json!({
                "id": id, "source": "s", "type": "t", "time_ms": 1_000,
            })).collect::<Vec<_>>(),
        });
        Received::decode(
            Source::Events,
            "events",
            (0, offset, 1_000),
            batch.to_string().as_bytes(),
        )
    }

    fn pass(
        records: &[Received],
        partitions: &mut HashMap<(Source, u32), PartitionBlocks>,
        unwritten: Option<&FirstSeen>,
    ) -> Built {
        let meters = MeterSet::default();
        let built = build(
            records,
            &meters,
            partitions,
            1_000,
            (FirstSeen::default(), unwritten),
            HashMap::new(),
        );
        for blocks in partitions.values_mut() {
            blocks.written();
        }
        built
    }

    /// The next pass is built before the previous one's rows are in ClickHouse: a resend of an
    /// event of that pass is found in its first occurrences, and a replay of its record, read
    /// again at the same position, still counts.
    #[test]
    fn a_pass_finds_the_first_occurrences_of_the_pass_still_being_written() {
        let tenant = TenantId::generate();
        let mut partitions = HashMap::new();
        let first = pass(&[record(tenant, 0, &["a", "b"])], &mut partitions, None);
        assert_eq!(first.outcomes.counted, 2);
        assert_eq!(first.writes.event_ids.len(), 2);

        let next = pass(
            &[record(tenant, 1, &["b", "c"])],
            &mut partitions,
            Some(&first.first_seen),
        );
        assert_eq!(next.outcomes.counted, 1, "only c is new");
        assert_eq!(next.outcomes.duplicates, 1, "b was first seen at offset 0");
        assert_eq!(next.writes.event_ids.len(), 1);

        let mut rewound = HashMap::new();
        let replay = pass(
            &[record(tenant, 0, &["a", "b"])],
            &mut rewound,
            Some(&first.first_seen),
        );
        assert_eq!(
            replay.outcomes.counted, 2,
            "a replay counts its own first occurrences"
        );
        assert!(replay.writes.event_ids.is_empty());
    }
}
