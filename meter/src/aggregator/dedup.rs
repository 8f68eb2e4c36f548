//! Deduplication's memory: an event's identity, the hash `event_positions` is ordered by, and the
//! lookup of where each identity of a pass first occurred.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hashes_are_stable_and_separate_the_parts() {
        assert_eq!(key_hash("t", "s", "1"), key_hash("t", "s", "1"));
        assert_ne!(key_hash("t", "s1", ""), key_hash("t", "s", "1"));
    }
}
