//! Deduplication's memory: an event's identity, the hash `event_positions` is ordered by, and the
//! lookup of where each identity of a pass first occurred.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::block::Position;
use crate::Result;
use crate::analytics::Analytics;

/// An event's identity for deduplication: tenant, source, id.
pub type Identity = (String, String, String);

/// Returns the 64-bit hash `event_positions` is ordered by: the first eight bytes of the SHA-256 of
/// the identity's parts, each followed by a zero byte. Stable across builds and versions.
pub fn key_hash((tenant, source, id): &Identity) -> u64 {
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

/// Finds where each of these events first occurred, if it was seen before: the smallest
/// position recorded for it.
pub async fn first_occurrences(
    analytics: &Analytics,
    identities: &[Identity],
) -> Result<HashMap<Identity, Position>> {
    let mut hashes: Vec<u64> = identities.iter().map(key_hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let mut found: HashMap<Identity, Position> = HashMap::new();
    for row in analytics.event_ids_by_hash(&hashes).await? {
        let position = Position {
            partition: row.kafka_partition,
            offset: row.kafka_offset,
            index: row.position,
        };
        // Rows of other identities with the same hash are not ours: the caller asks only
        // about the identities it passed.
        found
            .entry((row.tenant_id, row.source, row.id))
            .and_modify(|first| *first = (*first).min(position))
            .or_insert(position);
    }
    Ok(found)
}

/// Adds to `found` where the pass still being written first saw these identities: its rows
/// may not be readable yet. Of two positions of an identity, the smaller is its first.
pub fn add_unwritten(
    found: &mut HashMap<Identity, Position>,
    identities: &[Identity],
    unwritten: &HashMap<Identity, Position>,
) {
    for identity in identities {
        if let Some(&position) = unwritten.get(identity) {
            found
                .entry(identity.clone())
                .and_modify(|first| *first = (*first).min(position))
                .or_insert(position);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hashes_are_stable_and_separate_the_parts() {
        let identity = |tenant: &str, source: &str, id: &str| {
            (tenant.to_owned(), source.to_owned(), id.to_owned())
        };
        assert_eq!(
            key_hash(&identity("t", "s", "1")),
            key_hash(&identity("t", "s", "1"))
        );
        assert_ne!(
            key_hash(&identity("t", "s1", "")),
            key_hash(&identity("t", "s", "1"))
        );
    }
}
