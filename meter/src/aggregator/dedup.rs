//! Deduplication's memory: an event's identity, the hash `event_positions` is ordered by, the
//! lookup of where each identity of a pass first occurred, and the filter that spares that
//! lookup the hashes never seen.

use foldhash::{HashMap, HashMapExt};
use sha2::{Digest, Sha256};

use super::block::Position;
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
/// It holds every hash of `event_positions` when it was built (by the aggregator when the
/// group assigned it partitions) and every hash of the passes since. With 7 probes and
/// 9.6 bits per hash, about 1 % of new hashes are false positives; past that many hashes the
/// share grows (16 % at twice as many), and the lookups with it.
pub struct Filter {
    words: Vec<u64>,
    bits: u64,
    hashes: u64,
}

impl Filter {
    /// Probes per hash.
    const PROBES: u64 = 7;

    /// An empty filter of `mib` MiB.
    pub fn with_mib(mib: u64) -> Self {
        Self::with_words(usize::try_from(mib.max(1) << 17).unwrap_or(usize::MAX))
    }

    fn with_words(words: usize) -> Self {
        Self {
            words: vec![0; words],
            bits: (words as u64) * 64,
            hashes: 0,
        }
    }

    /// The bit indexes of a hash: double hashing, the second hash a mix of the first (key
    /// hashes are SHA-256 bits already), each reduced to the filter's size by a multiply.
    fn probes(&self, hash: u64) -> impl Iterator<Item = usize> + use<> {
        let step = mix(hash) | 1;
        let bits = u128::from(self.bits);
        (0..Self::PROBES).map(move |probe| {
            let spread = hash.wrapping_add(probe.wrapping_mul(step));
            // Less than `bits`, which came from a `usize` count of words times 64.
            ((u128::from(spread) * bits) >> 64) as usize
        })
    }

    /// Adds a hash.
    pub fn insert(&mut self, hash: u64) {
        for bit in self.probes(hash) {
            self.words[bit / 64] |= 1 << (bit % 64);
        }
        self.hashes += 1;
    }

    /// False when the hash was never inserted; true when it was, and for a few others.
    pub fn may_contain(&self, hash: u64) -> bool {
        self.probes(hash)
            .all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// The hashes inserted (repeats included) over [`Self::capacity`].
    pub fn load(&self) -> f64 {
        self.hashes as f64 / self.capacity() as f64
    }

    /// How many distinct hashes it holds with about 1 % false positives.
    pub fn capacity(&self) -> u64 {
        self.bits * 10 / 96
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
            let mut filter = Filter::with_words(64);
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
        let mut filter = Filter::with_words(8192);
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
