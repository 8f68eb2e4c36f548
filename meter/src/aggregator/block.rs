//! Blocks: the unit in which the aggregator writes sums, and the reason replays never count
//! twice.
//!
//! Each partition's offsets are cut into fixed blocks of `block_records` offsets (block `b`
//! holds offsets `b·N .. (b+1)·N`). While reading a block the aggregator keeps, per rollup key,
//! the sum of everything read in the block so far, and writes it as a row tagged with the
//! partition, the block and a version (the last offset read). ClickHouse keeps the row with the
//! highest version of each (key, partition, block). Every row ever written for a block is
//! therefore the exact sum of a prefix of that block, and the newest row covers the longest
//! prefix; writing a block again, in part or whole, can only replace a row with an equal or
//! longer prefix. Kafka offsets are committed at block starts, so a restarted aggregator (or a
//! new owner of the partition) re-reads the open block from its first offset and rebuilds the
//! same sums. Reading that starts in the middle of a block resumes from the block's written
//! sums instead ([`PartitionBlocks::resume`]), which keeps every row a sum from the block's
//! first offset.
//!
//! A block keeps its sums per minute, hour and day ([`Resolution`]), each a row of its own
//! table; an hour's (or day's) sums are those of the block's minutes in it, so every table
//! holds the same prefixes. Resuming reads back the minute rows only and rebuilds the rest.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet};

use rust_decimal::Decimal;

use super::meters::Reading;
use crate::ids::{MeterId, TenantId};
use crate::usage::Resolution;

/// Where an event sits in the log: partition, offset of its record, index in the record.
/// Ordered, so that the first occurrence of a duplicated event is well defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Kafka partition.
    pub partition: u32,
    /// Offset of the record.
    pub offset: u64,
    /// Index of the event in the record.
    pub index: u32,
}

impl Position {
    /// Orders events within a partition, for LATEST's tie-break: offset, then index.
    pub fn sequence(&self) -> u64 {
        (self.offset << 20) | u64::from(self.index)
    }
}

/// What one rollup row sums: a tenant's meter in one event-time minute (or hour, or day), for
/// one subject and one combination of group values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RollupKey {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The meter.
    pub meter_id: MeterId,
    /// Start of the minute (or of the hour's or day's first minute), in seconds since the Unix
    /// epoch.
    pub minute: u32,
    /// The events' subject (empty when they had none).
    pub subject: String,
    /// Values of the meter's group-by paths, in the order of their names.
    pub group_values: Vec<String>,
}

impl RollupKey {
    /// Returns the key of the bucket of `resolution` that holds this key's minute.
    pub fn at(&self, resolution: Resolution) -> Self {
        Self {
            minute: resolution.start(self.minute),
            ..self.clone()
        }
    }
}

/// The latest value seen for a key, with what orders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    /// Event time, in milliseconds.
    pub time_ms: i64,
    /// [`Position::sequence`] of the event, breaking ties of equal times.
    pub sequence: u64,
    /// The value.
    pub value: Decimal,
}

/// Mergeable sums of a key: enough to give every aggregation exactly over any window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupState {
    /// Events counted.
    pub events: u64,
    /// Sum of the values.
    pub sum: Decimal,
    /// Smallest value.
    pub min: Option<Decimal>,
    /// Largest value.
    pub max: Option<Decimal>,
    /// The value with the latest event time.
    pub latest: Option<Latest>,
}

impl RollupState {
    /// Adds one event's reading, or leaves the state as it was and says why the reading
    /// cannot be added (a sum that would overflow).
    pub fn add(
        &mut self,
        reading: &Reading,
        time_ms: i64,
        position: Position,
    ) -> Result<(), String> {
        let overflow = || "the sum of its minute would overflow".to_owned();
        let events = self.events.checked_add(1).ok_or_else(overflow)?;
        let Reading::Number(value) = reading else {
            self.events = events;
            return Ok(());
        };
        let value = *value;
        self.sum = self.sum.checked_add(value).ok_or_else(overflow)?;
        self.events = events;
        self.min = Some(self.min.map_or(value, |min| min.min(value)));
        self.max = Some(self.max.map_or(value, |max| max.max(value)));
        let candidate = Latest {
            time_ms,
            sequence: position.sequence(),
            value,
        };
        let newer = self.latest.is_none_or(|latest| {
            (candidate.time_ms, candidate.sequence) > (latest.time_ms, latest.sequence)
        });
        if newer {
            self.latest = Some(candidate);
        }
        Ok(())
    }

    /// Adds the sums of other events, or says why they cannot be added (and adds nothing).
    pub fn merge(&mut self, other: &Self) -> Result<(), String> {
        let overflow = || "the sums would overflow".to_owned();
        let events = self.events.checked_add(other.events).ok_or_else(overflow)?;
        self.sum = self.sum.checked_add(other.sum).ok_or_else(overflow)?;
        self.events = events;
        self.min = self.min.into_iter().chain(other.min).min();
        self.max = self.max.into_iter().chain(other.max).max();
        self.latest = self
            .latest
            .into_iter()
            .chain(other.latest)
            .max_by_key(|latest| (latest.time_ms, latest.sequence));
        Ok(())
    }
}

/// The sums of one key, and whether they changed since the last write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct KeySums {
    state: RollupState,
    dirty: bool,
}

/// The sums of the keys of one resolution.
#[derive(Debug, Default)]
struct Rollups {
    states: HashMap<RollupKey, KeySums>,
}
/// Platform usage of a tenant in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsageKey {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Start of the hour, in seconds since the Unix epoch.
    pub hour: u32,
}

/// Counters of [`UsageKey`], summed over ingest nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// Events accepted.
    pub accepted_events: u64,
    /// Events rejected.
    pub rejected_events: u64,
    /// Bytes of accepted events.
    pub accepted_bytes: u64,
    /// API queries answered.
    pub api_queries: u64,
}

/// Sums of one block read so far.
#[derive(Debug, Default)]
pub struct Block {
    /// Last offset read in the block: the version of its rows.
    pub last_offset: u64,
    /// Per resolution, in the order of [`Resolution::ALL`].
    rollups: [Rollups; 3],
    usage: HashMap<UsageKey, UsageCounts>,
    dirty_usage: HashSet<UsageKey>,
}

impl Block {
    /// A block as ClickHouse holds it: the sums of its first offsets through `last_offset`,
    /// from its minute rows. Its hours and days are summed from those minutes and wait to be
    /// written, so that they replace whatever an earlier reading left of them; the rest does
    /// not. Errors when the minutes' sums overflow an hour's or a day's.
    pub fn written(
        last_offset: u64,
        minutes: HashMap<RollupKey, RollupState>,
        usage: HashMap<UsageKey, UsageCounts>,
    ) -> Result<Self, String> {
        let mut block = Self {
            last_offset,
            usage,
            ..Self::default()
        };
        for (key, state) in &minutes {
            for resolution in [Resolution::Hour, Resolution::Day] {
                let sums = block.rollups[resolution as usize]
                    .states
                    .entry(key.at(resolution))
                    .or_default();
                sums.state.merge(state)?;
                sums.dirty = true;
            }
        }
        block.rollups[Resolution::Minute as usize].states = minutes
            .into_iter()
            .map(|(key, state)| {
                let sums = KeySums {
                    state,
                    dirty: false,
                };
                (key, sums)
            })
            .collect();
        Ok(block)
    }

    /// Says whether it sums nothing.
    pub fn is_empty(&self) -> bool {
        self.rollups.iter().all(|rollups| rollups.states.is_empty()) && self.usage.is_empty()
    }

    /// Adds an event's reading to a rollup key (a minute) and to its hour and day, or says why
    /// it cannot be added (and adds nothing).
    pub fn add_rollup(
        &mut self,
        key: RollupKey,
        reading: &Reading,
        time_ms: i64,
        at: Position,
    ) -> Result<(), String> {
        self.update_rollup(key, |state| state.add(reading, time_ms, at))
    }

    /// Adds the sums of many events to a rollup key (a minute) and to its hour and day, or
    /// says why they cannot be added (and adds nothing).
    pub fn add_rollup_sums(&mut self, key: RollupKey, sums: &RollupState) -> Result<(), String> {
        self.update_rollup(key, |state| state.merge(sums))
    }

    /// Applies `update` to the state of a minute's key and of its hour and day, all or none.
    fn update_rollup(
        &mut self,
        key: RollupKey,
        update: impl Fn(&mut RollupState) -> Result<(), String>,
    ) -> Result<(), String> {
        let keys = Resolution::ALL.map(|resolution| key.at(resolution));
        let mut updated: [RollupState; 3] = Default::default();
        for (index, resolution) in Resolution::ALL.into_iter().enumerate() {
            let state = &mut updated[index];
            if let Some(sums) = self.rollups[resolution as usize].states.get(&keys[index]) {
                state.clone_from(&sums.state);
            }
            update(state)
                .map_err(|_| format!("the sum of its {} would overflow", resolution.name()))?;
        }
        for ((resolution, key), state) in Resolution::ALL.into_iter().zip(keys).zip(updated) {
            let sums = KeySums { state, dirty: true };
            self.rollups[resolution as usize].states.insert(key, sums);
        }
        Ok(())
    }

    /// Adds a metering record's counters to a tenant's hour.
    pub fn add_usage(&mut self, key: UsageKey, counts: UsageCounts) {
        let total = self.usage.entry(key).or_default();
        total.accepted_events += counts.accepted_events;
        total.rejected_events += counts.rejected_events;
        total.accepted_bytes += counts.accepted_bytes;
        total.api_queries += counts.api_queries;
        self.dirty_usage.insert(key);
    }

    /// Returns the rollups of `resolution` changed since the last write, with their sums over
    /// the whole block.
    pub fn dirty_rollups(
        &self,
        resolution: Resolution,
    ) -> impl Iterator<Item = (&RollupKey, &RollupState)> {
        self.rollups[resolution as usize]
            .states
            .iter()
            .filter(|(_, sums)| sums.dirty)
            .map(|(key, sums)| (key, &sums.state))
    }

    /// Returns the usage changed since the last write, with its sums over the whole block.
    pub fn dirty_usage(&self) -> impl Iterator<Item = (&UsageKey, &UsageCounts)> {
        self.dirty_usage
            .iter()
            .filter_map(|key| Some((key, self.usage.get(key)?)))
    }
}

/// The open blocks of one partition.
#[derive(Debug)]
pub struct PartitionBlocks {
    block_records: u64,
    blocks: BTreeMap<u64, Block>,
    last_offset: Option<u64>,
    /// Offsets up to this one are already in the sums written before reading resumed in the
    /// middle of their block ([`Self::resume`]).
    counted_through: Option<u64>,
}

impl PartitionBlocks {
    /// Starts with nothing read; blocks hold `block_records` offsets.
    pub fn new(block_records: u64) -> Self {
        Self {
            block_records,
            blocks: BTreeMap::new(),
            last_offset: None,
            counted_through: None,
        }
    }

    /// Returns the last offset read, if any.
    pub fn last_offset(&self) -> Option<u64> {
        self.last_offset
    }

    /// Resumes reading in the middle of a block, whose sums ClickHouse holds as `written` (empty
    /// when nothing of the block was written): its offsets through `written.last_offset` are
    /// skipped, as they are counted already, and the rest add to those sums. The rows then
    /// written still sum the block from its first offset, so they replace the older ones
    /// exactly, however far either reading went.
    pub fn resume(&mut self, offset: u64, written: Block) {
        self.blocks.clear();
        self.last_offset = None;
        self.counted_through = (!written.is_empty()).then_some(written.last_offset);
        self.blocks.insert(offset / self.block_records, written);
    }

    /// Returns the block of `offset`, which is read now, or `None` when the offset is counted
    /// in sums written before reading resumed. An offset at or before the last one read means
    /// the partition was re-assigned and rewound to a block start: the sums held are dropped,
    /// and rebuilt by reading again.
    pub fn block_for(&mut self, offset: u64) -> Option<(u64, &mut Block)> {
        if self.last_offset.is_some_and(|last| offset <= last) {
            self.blocks.clear();
            self.counted_through = None;
        }
        self.last_offset = Some(offset);
        if self
            .counted_through
            .is_some_and(|through| offset <= through)
        {
            return None;
        }
        let number = offset / self.block_records;
        let block = self.blocks.entry(number).or_default();
        block.last_offset = offset;
        Some((number, block))
    }

    /// Returns every open block.
    pub fn blocks(&self) -> impl Iterator<Item = (u64, &Block)> {
        self.blocks.iter().map(|(number, block)| (*number, block))
    }

    /// Marks everything as written and returns the offset to commit: the start of the block
    /// that the next offset belongs to. Blocks before it are complete and are forgotten.
    pub fn written(&mut self) -> Option<u64> {
        let next = self.last_offset? + 1;
        let commit = next / self.block_records * self.block_records;
        let first_open = next / self.block_records;
        self.blocks.retain(|number, _| *number >= first_open);
        for block in self.blocks.values_mut() {
            for rollups in &mut block.rollups {
                for sums in rollups.states.values_mut() {
                    sums.dirty = false;
                }
            }
            block.dirty_usage.clear();
        }
        Some(commit)
    }
}

#[cfg(test)]
mod tests {
    use foldhash::HashMapExt;

    use super::*;

    fn key(minute: u32) -> RollupKey {
        RollupKey {
            tenant_id: TenantId::generate(),
            meter_id: MeterId::generate(),
            minute,
            subject: String::new(),
            group_values: Vec::new(),
        }
    }

    fn at(offset: u64, index: u32) -> Position {
        Position {
            partition: 0,
            offset,
            index,
        }
    }

    fn number(value: i64) -> Reading {
        Reading::Number(Decimal::from(value))
    }

    #[test]
    fn sums_keep_every_aggregation_exact() {
        let mut state = RollupState::default();
        state.add(&number(5), 2_000, at(1, 0)).expect("adds");
        state.add(&number(-3), 1_000, at(2, 0)).expect("adds");
        state.add(&number(7), 2_000, at(0, 4)).expect("adds");
        assert_eq!(state.events, 3);
        assert_eq!(state.sum, Decimal::from(9));
        assert_eq!(state.min, Some(Decimal::from(-3)));
        assert_eq!(state.max, Some(Decimal::from(7)));
        // Equal times: the later position wins, whatever the order of arrival.
        assert_eq!(
            state.latest.map(|latest| latest.value),
            Some(Decimal::from(5))
        );
    }

    #[test]
    fn a_sum_that_would_overflow_is_refused_and_leaves_the_state_as_it_was() {
        let mut state = RollupState::default();
        state
            .add(&Reading::Number(Decimal::MAX), 1_000, at(0, 0))
            .expect("the first fits");
        let before = state.clone();
        let refused = state.add(&Reading::Number(Decimal::MAX), 2_000, at(1, 0));
        assert_eq!(
            refused,
            Err("the sum of its minute would overflow".to_owned())
        );
        assert_eq!(state, before);
    }

    #[test]
    fn hours_and_days_sum_their_minutes_and_are_rebuilt_from_them_on_resuming() {
        let first = key(7_200);
        let second = RollupKey {
            minute: 7_260,
            ..first.clone()
        };
        let next_day = RollupKey {
            minute: 86_400 + 60,
            ..first.clone()
        };
        let mut block = Block::default();
        for (offset, the_key) in [&first, &second, &second, &next_day]
            .into_iter()
            .enumerate()
        {
            let offset = u64::try_from(offset).expect("small");
            block
                .add_rollup(the_key.clone(), &number(10), 0, at(offset, 0))
                .expect("adds");
        }
        let sums = |block: &Block, resolution| {
            let mut sums: Vec<(u32, u64, Decimal)> = block
                .dirty_rollups(resolution)
                .map(|(key, state)| (key.minute, state.events, state.sum))
                .collect();
            sums.sort_unstable();
            sums
        };
        let ten = Decimal::from(10);
        assert_eq!(
            sums(&block, Resolution::Hour),
            [(7_200, 3, ten * Decimal::from(3)), (86_400, 1, ten)]
        );
        assert_eq!(
            sums(&block, Resolution::Day),
            [(0, 3, ten * Decimal::from(3)), (86_400, 1, ten)]
        );

        // Resuming reads the minutes back: the hours and days are summed again, to be written.
        let minutes = block.rollups[Resolution::Minute as usize]
            .states
            .iter()
            .map(|(key, sums)| (key.clone(), sums.state.clone()))
            .collect();
        let resumed = Block::written(3, minutes, HashMap::new()).expect("small sums");
        assert_eq!(sums(&resumed, Resolution::Minute), []);
        assert_eq!(
            sums(&resumed, Resolution::Hour),
            sums(&block, Resolution::Hour)
        );
        assert_eq!(
            sums(&resumed, Resolution::Day),
            sums(&block, Resolution::Day)
        );
        assert_eq!(
            resumed.rollups[Resolution::Day as usize].states,
            block.rollups[Resolution::Day as usize].states
        );
    }

    #[test]
    fn a_reading_whose_hour_would_overflow_adds_to_no_minute_either() {
        let mut block = Block::default();
        let most = Reading::Number(Decimal::MAX);
        let first = key(0);
        let next_minute = RollupKey {
            minute: 60,
            ..first.clone()
        };
        block
            .add_rollup(first, &most, 0, at(0, 0))
            .expect("the first fits");
        let refused = block.add_rollup(next_minute, &most, 0, at(1, 0));
        assert_eq!(
            refused,
            Err("the sum of its hour would overflow".to_owned())
        );
        assert_eq!(block.dirty_rollups(Resolution::Minute).count(), 1);
    }

    #[test]
    fn commits_stop_at_the_start_of_the_open_block() {
        let mut partition = PartitionBlocks::new(10);
        let the_key = key(60);
        for offset in 5..=23 {
            let (_, block) = partition.block_for(offset).expect("not counted before");
            block
                .add_rollup(the_key.clone(), &Reading::Count, 0, at(offset, 0))
                .expect("adds");
        }
        let open: Vec<u64> = partition.blocks().map(|(number, _)| number).collect();
        assert_eq!(open, vec![0, 1, 2]);
        assert_eq!(partition.written(), Some(20));
        let open: Vec<u64> = partition.blocks().map(|(number, _)| number).collect();
        assert_eq!(open, vec![2]);
        let (_, block) = partition.block_for(29).expect("not counted before");
        block
            .add_rollup(the_key, &Reading::Count, 0, at(29, 0))
            .expect("adds");
        assert_eq!(partition.written(), Some(30));
        assert_eq!(partition.blocks().count(), 0);
    }

    #[test]
    fn a_rewind_rebuilds_the_block_from_its_start() {
        let mut partition = PartitionBlocks::new(10);
        let the_key = key(0);
        for offset in 10..15 {
            let (_, block) = partition.block_for(offset).expect("not counted before");
            block
                .add_rollup(the_key.clone(), &Reading::Count, 0, at(offset, 0))
                .expect("adds");
        }
        let replay: Vec<u64> = (10..13).collect();
        for offset in replay {
            let (_, block) = partition.block_for(offset).expect("not counted before");
            block
                .add_rollup(the_key.clone(), &Reading::Count, 0, at(offset, 0))
                .expect("adds");
        }
        let (number, block) = partition.blocks().next().expect("one block");
        assert_eq!(number, 1);
        assert_eq!(block.last_offset, 12);
        let sums: Vec<u64> = block
            .dirty_rollups(Resolution::Minute)
            .map(|(_, state)| state.events)
            .collect();
        assert_eq!(sums, vec![3]);
    }
}
