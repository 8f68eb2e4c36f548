//! Property tests of the meter's pure logic through its public API: the aggregator's blocks
//! (offsets are partitioned, and replays never count twice), rollup sums (order does not
//! matter), the token bucket (never above its burst, refilling monotonically at its rate), and
//! usage windows (every instant in exactly one window; windows tile a range and are counted
//! exactly).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_meter::aggregator::Reading;
use tally_meter::aggregator::block::{Block, PartitionBlocks, Position, RollupKey, RollupState};
use tally_meter::ids::{MeterId, TenantId};
use tally_meter::throttle::TokenBucket;
use tally_meter::usage::{Resolution, Tz, UsageLimits, UsageQuery, Window, count_windows};

// ---------------------------------------------------------------------------------------------
// Blocks

fn the_key() -> RollupKey {
    RollupKey {
        tenant_id: TenantId::generate(),
        meter_id: MeterId::generate(),
        minute: 0,
        subject: String::new(),
        group_values: Vec::new(),
    }
}

/// Events a record at `offset` holds: one to three, the same on every read, as dedup makes
/// them.
fn events_at(offset: u64) -> u64 {
    offset % 3 + 1
}

/// Reads one record into the open blocks: its events, each valued at its offset.
fn read(partition: &mut PartitionBlocks, key: &RollupKey, offset: u64) {
    let Some((_, block)) = partition.block_for(offset) else {
        return;
    };
    for index in 0..events_at(offset) {
        let position = Position {
            partition: 0,
            offset,
            index: u32::try_from(index).expect("small"),
        };
        let value = Reading::Number(Decimal::from(offset));
        block
            .add_rollup(key.clone(), &value, 0, position)
            .expect("small values add");
    }
}

/// The exact events and sum of the records at `offsets`.
fn exact(offsets: std::ops::RangeInclusive<u64>) -> (u64, Decimal) {
    offsets.fold((0, Decimal::ZERO), |(events, sum), offset| {
        let count = events_at(offset);
        (events + count, sum + Decimal::from(offset * count))
    })
}

/// What the aggregator does between reads.
#[derive(Debug, Clone)]
enum Step {
    /// Reads this many more records.
    Read(u64),
    /// Writes the changed sums, then commits the start of the open block.
    WriteAndCommit,
    /// Writes the changed sums and crashes before committing.
    WriteOnly,
    /// Crashes: a new aggregator resumes at the committed offset.
    Crash,
    /// The partition moves away and back: the same aggregator rewinds to the committed offset.
    Rewind,
    /// A new aggregator starts where the group's offset was set by hand, or where the log now
    /// starts: anywhere from the start of a block to just past what was written of it.
    Reset(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u64..25).prop_map(Step::Read),
        2 => Just(Step::WriteAndCommit),
        1 => Just(Step::WriteOnly),
        1 => Just(Step::Crash),
        1 => Just(Step::Rewind),
        1 => any::<u64>().prop_map(Step::Reset),
    ]
}

/// ClickHouse's rollup tables as the aggregator sees them: per resolution and block, the row
/// of highest version. The one key's minute starts its hour and day, so every table holds
/// the same sums.
#[derive(Default)]
struct Store {
    rows: BTreeMap<(Resolution, u64), (u64, RollupState)>,
}

impl Store {
    /// Writes every changed sum of the open blocks, checking that each row is the exact sum
    /// of a prefix of its block, and that a row of equal version is the same row.
    fn write(
        &mut self,
        partition: &PartitionBlocks,
        block_records: u64,
    ) -> Result<(), TestCaseError> {
        for (number, block) in partition.blocks() {
            for (resolution, (_, state)) in Resolution::ALL.into_iter().flat_map(|resolution| {
                block
                    .dirty_rollups(resolution)
                    .map(move |dirty| (resolution, dirty))
            }) {
                let version = block.last_offset;
                let (events, sum) = exact(number * block_records..=version);
                prop_assert_eq!((state.events, state.sum), (events, sum));
                match self.rows.get(&(resolution, number)) {
                    Some((stored, row)) if *stored == version => prop_assert_eq!(row, state),
                    Some((stored, _)) if *stored > version => continue,
                    _ => {}
                }
                self.rows
                    .insert((resolution, number), (version, state.clone()));
            }
        }
        Ok(())
    }
}

impl Store {
    /// Where reading may resume at or before `offset` without skipping a record never
    /// written: at most the first offset that no row counts.
    fn resumable(&self, offset: u64, block_records: u64) -> u64 {
        let mut number = 0;
        let frontier = loop {
            match self.rows.get(&(Resolution::Minute, number)) {
                Some((version, _)) if version + 1 == (number + 1) * block_records => number += 1,
                Some((version, _)) => break version + 1,
                None => break number * block_records,
            }
        };
        offset.min(frontier)
    }

    /// Reading starts afresh at `offset`: in the middle of a block, it resumes from the block's
    /// row, as the aggregator does from ClickHouse.
    fn resume(
        &self,
        partition: &mut PartitionBlocks,
        key: &RollupKey,
        offset: u64,
        block_records: u64,
    ) {
        if offset.is_multiple_of(block_records) {
            return;
        }
        let written = self
            .rows
            .get(&(Resolution::Minute, offset / block_records))
            .map_or_else(Block::default, |(version, row)| {
                Block::written(
                    *version,
                    [(key.clone(), row.clone())].into_iter().collect(),
                    Default::default(),
                )
                .expect("small sums add")
            });
        partition.resume(offset, written);
    }
}

proptest! {
    #[test]
    fn blocks_partition_offsets_with_no_gap_or_overlap(
        block_records in 1u64..40,
        start in 0u64..500,
        length in 1u64..300,
    ) {
        let mut partition = PartitionBlocks::new(block_records);
        let mut by_block: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let end = start + length;
        for offset in start..end {
            let (number, block) = partition.block_for(offset).expect("never counted before");
            prop_assert_eq!(block.last_offset, offset);
            by_block.entry(number).or_default().push(offset);
        }
        let mut next = start;
        for (number, offsets) in &by_block {
            let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
            // Each block holds a run of consecutive offsets that starts where the last ended.
            prop_assert_eq!(first, next);
            prop_assert!(offsets.windows(2).all(|pair| pair[1] == pair[0] + 1));
            prop_assert!(number * block_records <= first && last < (number + 1) * block_records);
            // Only the first and last blocks of the range may be partial.
            if first != start {
                prop_assert_eq!(first, number * block_records);
            }
            if last != end - 1 {
                prop_assert_eq!(last, (number + 1) * block_records - 1);
            }
            next = last + 1;
        }
        prop_assert_eq!(next, end);

        // The commit is the start of the block of the next offset; blocks before it are done.
        let commit = partition.written().expect("offsets were read");
        prop_assert_eq!(commit % block_records, 0);
        prop_assert!(commit <= end && end - commit < block_records);
        prop_assert!(partition.blocks().all(|(number, _)| number * block_records >= commit));
        let nothing_dirty = partition.blocks().all(|(_, block)| {
            Resolution::ALL
                .into_iter()
                .all(|resolution| block.dirty_rollups(resolution).count() == 0)
        });
        prop_assert!(nothing_dirty);
    }

    #[test]
    fn replays_after_crashes_and_rewinds_never_count_twice(
        block_records in 1u64..20,
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let key = the_key();
        let mut partition = PartitionBlocks::new(block_records);
        let mut store = Store::default();
        let mut next = 0u64;
        let mut committed = 0u64;
        let mut furthest = None;
        for step in steps {
            match step {
                Step::Read(count) => {
                    for offset in next..next + count {
                        read(&mut partition, &key, offset);
                    }
                    next += count;
                    furthest = furthest.max(Some(next - 1));
                }
                Step::WriteAndCommit => {
                    store.write(&partition, block_records)?;
                    // A commit may go back (after a rewind, the next pass commits where the
                    // re-read has got to): that only means reading again, never counting twice.
                    if let Some(commit) = partition.written() {
                        committed = commit;
                    }
                }
                Step::WriteOnly => store.write(&partition, block_records)?,

                Step::Crash => {
                    partition = PartitionBlocks::new(block_records);
                    store.resume(&mut partition, &key, committed, block_records);
                    next = committed;
                }
                Step::Rewind => {
                    store.resume(&mut partition, &key, committed, block_records);
                    next = committed;
                }
                Step::Reset(pick) => {
                    let Some(furthest) = furthest else { continue };
                    committed = store.resumable(pick % (furthest + 2), block_records);
                    partition = PartitionBlocks::new(block_records);
                    store.resume(&mut partition, &key, committed, block_records);
                    next = committed;
                }
            }
        }
        // Catch up to the furthest record ever read, and write.
        let Some(furthest) = furthest else {
            return Ok(());
        };
        for offset in next..=furthest {
            read(&mut partition, &key, offset);
        }
        store.write(&partition, block_records)?;
        // The commit is a block start no later than the furthest record's next block: after a
        // rewind it may lag, which only means reading again. Only an offset reset with nothing
        // read since leaves the group at an offset that is not a block start.
        match partition.written() {
            Some(commit) => {
                prop_assert!(commit.is_multiple_of(block_records));
                prop_assert!(commit <= (furthest + 1) / block_records * block_records);
            }
            None => prop_assert!(committed <= furthest + 1),
        }
        // Every block holds exactly what its records hold in every table: nothing lost, nothing
        // twice, whichever table a query reads.
        for number in 0..=furthest / block_records {
            let last = ((number + 1) * block_records - 1).min(furthest);
            let (events, sum) = exact(number * block_records..=last);
            for resolution in Resolution::ALL {
                let (_, row) = store
                    .rows
                    .get(&(resolution, number))
                    .expect("every block was written");
                prop_assert_eq!((row.events, row.sum), (events, sum));
            }
        }
        prop_assert_eq!(store.rows.len() as u64, 3 * (furthest / block_records + 1));
    }

    #[test]
    fn rollup_sums_do_not_depend_on_the_order_of_arrival(
        (in_order, shuffled) in proptest::collection::vec((-1000i64..1000, 0i64..5), 1..30)
            .prop_map(|readings| {
                // The n-th reading is at offset n: positions are unique, as in the log.
                readings
                    .into_iter()
                    .zip(0u64..)
                    .map(|((value, time_ms), offset)| (value, time_ms, offset))
                    .collect::<Vec<_>>()
            })
            .prop_flat_map(|readings| (Just(readings.clone()), Just(readings).prop_shuffle())),
    ) {
        let state_of = |readings: &[(i64, i64, u64)]| {
            let mut state = RollupState::default();
            for (value, time_ms, offset) in readings {
                let position = Position { partition: 0, offset: *offset, index: 0 };
                state
                    .add(&Reading::Number(Decimal::from(*value)), *time_ms, position)
                    .expect("small values add");
            }
            state
        };
        let state = state_of(&in_order);
        prop_assert_eq!(&state, &state_of(&shuffled));
        let values: Vec<i64> = in_order.iter().map(|(value, _, _)| *value).collect();
        prop_assert_eq!(state.events, in_order.len() as u64);
        prop_assert_eq!(state.sum, Decimal::from(values.iter().sum::<i64>()));
        prop_assert_eq!(state.min, values.iter().min().map(|min| Decimal::from(*min)));
        prop_assert_eq!(state.max, values.iter().max().map(|max| Decimal::from(*max)));
        // The latest value is the one of the latest time, ties going to the later position.
        let latest = in_order
            .iter()
            .max_by_key(|(_, time_ms, offset)| (*time_ms, *offset))
            .map(|(value, _, _)| Decimal::from(*value));
        prop_assert_eq!(state.latest.map(|latest| latest.value), latest);
    }
}

// ---------------------------------------------------------------------------------------------
// Token bucket

/// One request on a bucket: how long after the previous one, and how many tokens it wants.
fn takes() -> impl Strategy<Value = Vec<(u64, u64)>> {
    proptest::collection::vec((0u64..2_000, 1u64..40), 1..60)
}

/// Takes from a copy of the bucket, leaving the bucket as it was.
fn probe(
    mut bucket: TokenBucket,
    wanted: u64,
    rate: u64,
    burst: u64,
    now: Instant,
) -> Result<(), Duration> {
    bucket.take(wanted, rate, burst, now)
}

proptest! {
    #[test]
    fn a_bucket_never_grants_more_than_its_burst_plus_what_its_rate_refilled(
        rate in 1u64..200,
        burst in 1u64..100,
        requests in takes(),
    ) {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(burst, start);
        let mut now = start;
        let mut granted = 0u64;
        for (gap_ms, wanted) in requests {
            now += Duration::from_millis(gap_ms);
            let wanted = wanted.min(burst);
            if bucket.take(wanted, rate, burst, now).is_ok() {
                granted += wanted;
            }
            // Over any stretch from the start: the burst, plus the rate times the time elapsed.
            let allowed = burst as f64 + rate as f64 * (now - start).as_secs_f64();
            prop_assert!(granted as f64 <= allowed + 1e-6, "{granted} > {allowed}");
        }
        // However long it rests, the bucket holds at most its burst: it grants that many
        // single tokens at one instant, and no more.
        let rested = now + Duration::from_secs(3_600);
        let mut singles = 0;
        while bucket.take(1, rate, burst, rested).is_ok() {
            singles += 1;
            prop_assert!(singles <= burst, "granted more than the burst at once");
        }
        prop_assert_eq!(singles, burst);
    }

    #[test]
    fn a_bucket_refills_monotonically_and_retry_after_is_enough(
        rate in 1u64..1_000,
        burst in 1u64..100,
        requests in takes(),
        later_ms in proptest::collection::vec(0u64..5_000, 1..8).prop_map(|mut later| {
            later.sort_unstable();
            later
        }),
    ) {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(burst, start);
        let mut now = start;
        for (gap_ms, wanted) in requests {
            now += Duration::from_millis(gap_ms);
            let wanted = wanted.min(burst);
            // `is_full` says exactly whether a whole burst could be taken now.
            prop_assert_eq!(
                bucket.is_full(rate, burst, now),
                probe(bucket, burst, rate, burst, now).is_ok()
            );
            match probe(bucket, wanted, rate, burst, now) {
                Ok(()) => {
                    // A take that passes now passes at every later instant.
                    for later in &later_ms {
                        let at = now + Duration::from_millis(*later);
                        prop_assert!(probe(bucket, wanted, rate, burst, at).is_ok());
                    }
                }
                Err(wait) => {
                    // Waiting as long as it says is enough, and the wait only shrinks as time
                    // passes.
                    let at = now + wait + Duration::from_micros(1);
                    prop_assert!(probe(bucket, wanted, rate, burst, at).is_ok());
                    let mut previous = wait;
                    for later in &later_ms {
                        let at = now + Duration::from_millis(*later);
                        if let Err(remaining) = probe(bucket, wanted, rate, burst, at) {
                            prop_assert!(remaining <= previous, "{remaining:?} > {previous:?}");
                            previous = remaining;
                        }
                    }
                }
            }
            let _ = bucket.take(wanted, rate, burst, now);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Usage windows

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        Just(Window::Minute),
        Just(Window::Hour),
        Just(Window::Day),
        Just(Window::Month),
    ]
}

/// An instant between 1900 and 2100, with nanoseconds.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (-2_208_988_800i64..4_102_444_800, 0u32..1_000_000_000).prop_map(|(seconds, nanos)| {
        DateTime::from_timestamp(seconds, nanos).expect("within the calendar")
    })
}

/// The longest range whose windows a test walks one by one, per window size.
fn span(window: Window) -> TimeDelta {
    match window {
        Window::Minute => TimeDelta::days(3),
        Window::Hour => TimeDelta::days(90),
        Window::Day => TimeDelta::days(3 * 365),
        Window::Month => TimeDelta::days(60 * 365),
    }
}

/// The start of the window holding `time`, by the definition (UTC-aligned), independent of
/// the code under test.
fn window_start(time: DateTime<Utc>, window: Window) -> DateTime<Utc> {
    let aligned = |size: i64| {
        DateTime::from_timestamp(time.timestamp().div_euclid(size) * size, 0).expect("valid")
    };
    match window {
        Window::Minute => aligned(60),
        Window::Hour => aligned(3_600),
        Window::Day => aligned(86_400),
        Window::Month => Utc
            .with_ymd_and_hms(time.year(), time.month(), 1, 0, 0, 0)
            .single()
            .expect("valid"),
    }
}

/// The windows that `[from, to)` touches, walked with [`Window::next`].
fn walk(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: Window,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut windows = Vec::new();
    let mut start = window_start(from, window);
    while start < to {
        let end = window.next(start, Tz::UTC);
        windows.push((start, end));
        start = end;
    }
    windows
}

/// A range of `window`s that the tests can walk: `from` and a length within [`span`], in
/// whole minutes as usage ranges are.
fn range() -> impl Strategy<Value = (Window, DateTime<Utc>, DateTime<Utc>)> {
    (window(), instant(), 0.0f64..1.0).prop_map(|(window, instant, fraction)| {
        let from = window_start(instant, Window::Minute);
        let minutes = (span(window).num_minutes() as f64 * fraction) as i64;
        (window, from, from + TimeDelta::minutes(minutes + 1))
    })
}

proptest! {
    #[test]
    fn every_instant_falls_in_exactly_one_window(time in instant(), window in window()) {
        let start = window_start(time, window);
        let end = window.next(start, Tz::UTC);
        prop_assert!(start <= time && time < end);
        // The next window starts where this one ends, aligned, and the one before ends here:
        // neighbours neither overlap nor leave a gap.
        prop_assert_eq!(window_start(end, window), end);
        let before = window_start(start - TimeDelta::nanoseconds(1), window);
        prop_assert_eq!(window.next(before, Tz::UTC), start);
        let length = end - start;
        match window {
            Window::Minute => prop_assert_eq!(length, TimeDelta::minutes(1)),
            Window::Hour => prop_assert_eq!(length, TimeDelta::hours(1)),
            Window::Day => prop_assert_eq!(length, TimeDelta::days(1)),
            Window::Month => prop_assert!((28..=31).contains(&length.num_days())),
        }
    }

    #[test]
    fn windows_tile_a_range_and_are_counted_exactly(
        (window, from, to) in range(),
        probe in 0.0f64..1.0,
    ) {
        let windows = walk(from, to, window);
        let counted = count_windows(from, to, window, Tz::UTC).expect("a valid range");
        prop_assert_eq!(counted, windows.len() as u64);
        // Consecutive windows meet; the first holds `from`, the last reaches past `to`.
        prop_assert!(windows.windows(2).all(|pair| pair[0].1 == pair[1].0));
        prop_assert!(windows[0].0 <= from && from < windows[0].1);
        prop_assert!(windows[windows.len() - 1].1 >= to);
        // Any instant of the range lies in exactly one of them.
        let offset = ((to - from).num_milliseconds() as f64 * probe) as i64;
        let inside = from + TimeDelta::milliseconds(offset);
        let holding = windows
            .iter()
            .filter(|(start, end)| *start <= inside && inside < *end)
            .count();
        prop_assert_eq!(holding, 1);
    }

    #[test]
    fn splitting_a_range_counts_the_split_window_twice_and_no_other(
        (window, from, to) in range(),
        split in 0.0f64..1.0,
    ) {
        let (start, end) = (from, to);
        let minutes = (end - start).num_minutes();
        prop_assume!(minutes >= 2);
        let middle = start + TimeDelta::minutes(1 + ((minutes - 1) as f64 * split) as i64);
        prop_assert!(start < middle && middle < end);
        let whole = count_windows(from, to, window, Tz::UTC).expect("a valid range");
        let left = count_windows(from, middle, window, Tz::UTC).expect("a valid range");
        let right = count_windows(middle, to, window, Tz::UTC).expect("a valid range");
        let on_boundary = window_start(middle, window) == middle;
        prop_assert_eq!(left + right, whole + u64::from(!on_boundary));
    }

    #[test]
    fn limits_refuse_bounds_off_the_minute_and_exactly_past_the_cap(
        (window, from, to) in range(),
        off in 1i64..60_000,
    ) {
        let query = UsageQuery { from, to, window, time_zone: Tz::UTC, group_by: Vec::new(), subject: None };
        let count = count_windows(from, to, window, Tz::UTC).expect("a valid range");
        let exact = UsageLimits { max_windows: count, max_rows: 1 };
        prop_assert!(exact.check(&query).is_ok(), "a range at the cap passes");
        let below = UsageLimits { max_windows: count - 1, max_rows: 1 };
        prop_assert!(below.check(&query).is_err());
        // A bound off the minute by any number of milliseconds is refused, whatever the cap.
        let off = TimeDelta::milliseconds(off);
        for (from, to) in [(from + off, to + TimeDelta::minutes(1)), (from, to + off)] {
            let query = UsageQuery { from, to, window, time_zone: Tz::UTC, group_by: Vec::new(), subject: None };
            prop_assert!(UsageLimits::EXPORT.check(&query).is_err());
        }
    }
}
