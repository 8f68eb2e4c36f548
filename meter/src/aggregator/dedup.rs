//! Deduplication's memory: an event's identity, the hash `event_positions` is ordered by, the
//! lookup of where each identity of a pass first occurred, and the filter that spares that
//! lookup the hashes never seen.

use std::time::{Duration, Instant};

use foldhash::{HashMap, HashMapExt};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::block::Position;
use super::telemetry::HashesFiltered;
use crate::Result;
use crate::analytics::Analytics;

/// An event's identity for deduplication: tenant, source, id.
pub type Identity = (String, String, String);

/// Where identities occurred first, as far as a pass knows.
pub type FirstSeen = HashMap<Identity, Position>;

/// Returns the 64-bit hash `event_positions` is ordered by: the first eight bytes of the SHA-256 of
/// the identity's parts, each followed by a zero byte. Stable across builds and versions.
pub fn key_hash(tenant: &str, source: &str, id: &str) -> u64 {
    let mut hasher = Sha256::new();
    for part in [tenant, source, id] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// Finds where the events of these key hashes first occurred, if they were seen before: the
/// smallest position recorded for each identity. Other identities that share a hash come
/// along; as the pass looks its own up by identity, they are never mistaken for its events.
pub async fn first_occurrences(analytics: &Analytics, hashes: &[u64]) -> Result<FirstSeen> {
    let mut found = FirstSeen::new();
    for row in analytics.event_ids_by_hash(hashes).await? {
        let position = Position {
            partition: row.kafka_partition,
            offset: row.kafka_offset,
            index: row.position,
        };
        found
            .entry((row.tenant_id, row.source, row.id))
            .and_modify(|first| *first = (*first).min(position))
            .or_insert(position);
    }
    Ok(found)
}

/// A Bloom filter of key hashes: it answers "never seen" for most hashes `event_positions`
/// does not hold, and "maybe" for every hash it does. Only the "maybe" hashes are looked up,
/// so a false positive costs a lookup that finds nothing, never a dropped event: the
/// decision stays exact, and the lookup's size follows the pass's resends rather than the
/// table's size.
///
/// It holds every hash of `event_positions` when it was built (in the background, whenever
/// the group assigns the aggregator partitions; see [`Screen`]) and every hash of the passes
/// since. With 7 probes, all in one block of 512 bits, and 10.5 bits per hash, under 1 % of
/// new hashes are false positives; past that many hashes the share grows (12 % at twice as
/// many), and the lookups with it.
pub struct Filter {
    /// Blocks of 512 bits, a cache line each: a hash's probes all fall in one.
    blocks: Vec<[u64; 8]>,
    hashes: u64,
    /// When it was made, empty.
    made: Instant,
}

impl Filter {
    /// Probes per hash, 9 bits of a mixed hash each.
    const PROBES: u32 = 7;

    /// An empty filter of `mib` MiB.
    pub fn with_mib(mib: u64) -> Self {
        Self::with_blocks(usize::try_from(mib.max(1) << 14).unwrap_or(usize::MAX))
    }

    fn with_blocks(blocks: usize) -> Self {
        Self {
            blocks: vec![[0; 8]; blocks],
            hashes: 0,
            made: Instant::now(),
        }
    }

    /// A hash's block (from its high bits, by a multiply) and the bits of its probes there
    /// (from a mix of it). Key hashes are SHA-256 bits already.
    fn locate(&self, hash: u64) -> (usize, impl Iterator<Item = usize> + use<>) {
        // Less than the number of blocks, a `usize`.
        let block = ((u128::from(hash) * self.blocks.len() as u128) >> 64) as usize;
        let mixed = mix(hash);
        let bits = (0..Self::PROBES).map(move |probe| ((mixed >> (probe * 9)) & 511) as usize);
        (block, bits)
    }

    /// Adds a hash.
    pub fn insert(&mut self, hash: u64) {
        let (block, bits) = self.locate(hash);
        let block = &mut self.blocks[block];
        for bit in bits {
            block[bit / 64] |= 1 << (bit % 64);
        }
        self.hashes += 1;
    }

    /// False when the hash was never inserted; true when it was, and for a few others.
    pub fn may_contain(&self, hash: u64) -> bool {
        let (block, mut bits) = self.locate(hash);
        let block = &self.blocks[block];
        bits.all(|bit| block[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// The hashes inserted (repeats included) over [`Self::capacity`].
    pub fn load(&self) -> f64 {
        self.hashes as f64 / self.capacity() as f64
    }

    /// How many distinct hashes it holds with under 1 % false positives: one per 10.5 bits.
    pub fn capacity(&self) -> u64 {
        self.blocks.len() as u64 * 512 * 2 / 21
    }
}

/// How long a full filter is kept before it is built again: the table then holds fewer
/// hashes than the filter if retention dropped old ones.
const REBUILD_FULL_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The dedup filter of one member of the group, as far as it has one.
pub enum Screen {
    /// No filter: every hash is looked up. So it is while other members own partitions,
    /// when `meter.dedup_filter_mib` is 0, and until the group first assigns partitions.
    Off,
    /// A filter being built from `event_positions` in the background; meanwhile every hash
    /// is looked up, and kept to be added once it is built.
    Building {
        /// Reads the table; `None` if shutdown interrupted it.
        task: JoinHandle<Option<Filter>>,
        /// The hashes of the passes since the build started.
        since: Vec<u64>,
    },
    /// A filter holding every hash of the table when it was built and of the passes since.
    Ready(Filter),
}

impl Screen {
    /// Starts building a filter of `mib` MiB from every hash `event_positions` holds,
    /// retrying until ClickHouse answers or shutdown. The passes written before must be in
    /// the table: those after are added by [`Self::screen`].
    pub fn build(analytics: Analytics, mib: u64, shutdown: CancellationToken) -> Self {
        let task = tokio::spawn(async move {
            loop {
                let started = Instant::now();
                let mut filter = Filter::with_mib(mib);
                match analytics.each_key_hash(|hash| filter.insert(hash)).await {
                    Ok(loaded) => {
                        tracing::info!(
                            loaded,
                            capacity = filter.capacity(),
                            elapsed_ms = started.elapsed().as_millis(),
                            "dedup filter built from event_positions"
                        );
                        if loaded > filter.capacity() {
                            tracing::warn!(
                                loaded,
                                capacity = filter.capacity(),
                                "event_positions holds more events than the dedup filter \
                                 answers well; raise meter.dedup_filter_mib"
                            );
                        }
                        return Some(filter);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot read event_positions for the dedup filter; retrying");
                        tokio::select! {
                            () = shutdown.cancelled() => return None,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        });
        Self::Building {
            task,
            since: Vec::new(),
        }
    }

    /// Whether the filter is past its capacity and was made over a day ago: built again,
    /// it holds only what the table still remembers.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Ready(filter)
            if filter.load() > 1.0 && filter.made.elapsed() > REBUILD_FULL_AFTER)
    }

    /// Takes a pass's key hashes (sorted, distinct) and returns those to look up: the ones
    /// the filter may have seen, or all of them without a ready filter. They are added to
    /// the filter, or kept for the one being built.
    pub async fn screen(&mut self, hashes: Vec<u64>) -> Vec<u64> {
        if let Self::Building { task, since } = self
            && task.is_finished()
        {
            let since = std::mem::take(since);
            *self = match task.await {
                Ok(Some(mut filter)) => {
                    for hash in since {
                        filter.insert(hash);
                    }
                    Self::Ready(filter)
                }
                Ok(None) => Self::Off,
                Err(error) => {
                    tracing::error!(%error, "the task building the dedup filter failed");
                    Self::Off
                }
            };
        }
        let (looked_up, load) = match self {
            Self::Ready(filter) => {
                let maybe_seen: Vec<u64> = hashes
                    .iter()
                    .copied()
                    .filter(|hash| filter.may_contain(*hash))
                    .collect();
                for hash in &hashes {
                    filter.insert(*hash);
                }
                (maybe_seen, filter.load())
            }
            Self::Building { since, .. } => {
                since.extend_from_slice(&hashes);
                (hashes.clone(), 0.0)
            }
            Self::Off => (hashes.clone(), 0.0),
        };
        HashesFiltered {
            looked_up: looked_up.len(),
            skipped: hashes.len() - looked_up.len(),
            load,
        }
        .emit();
        looked_up
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if let Self::Building { task, .. } = self {
            task.abort();
        }
    }
}

/// SplitMix64's finalizer.
fn mix(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn a_filter_never_forgets_a_hash(hashes in prop::collection::vec(any::<u64>(), 0..2000)) {
            let mut filter = Filter::with_blocks(8);
            for hash in &hashes {
                filter.insert(*hash);
            }
            for hash in &hashes {
                prop_assert!(filter.may_contain(*hash));
            }
        }
    }

    #[test]
    fn a_filter_at_capacity_has_about_one_percent_false_positives() {
        let mut filter = Filter::with_blocks(1024);
        let capacity = filter.capacity();
        for index in 0..capacity {
            filter.insert(key_hash("t", "s", &index.to_string()));
        }
        let tried = 50_000;
        let false_positives = (0..tried)
            .filter(|index| filter.may_contain(key_hash("t", "other", &index.to_string())))
            .count();
        let rate = false_positives as f64 / f64::from(tried);
        assert!((0.005..0.015).contains(&rate), "{rate}");
    }

    #[test]
    fn key_hashes_are_stable_and_separate_the_parts() {
        assert_eq!(key_hash("t", "s", "1"), key_hash("t", "s", "1"));
        assert_ne!(key_hash("t", "s1", ""), key_hash("t", "s", "1"));
    }
}
