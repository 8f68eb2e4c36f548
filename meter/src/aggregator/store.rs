//! What the aggregator writes to ClickHouse, and the lookup of events seen before. Rows of one
//! pass are gathered in [`Writes`] and written table by table; every table tolerates a repeat of
//! any write (see the migration `0002_aggregates.sql`), so a failed pass is simply written again.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::block::Position;
use crate::Result;
use crate::analytics::Analytics;

/// Decimal places of values in ClickHouse (`Decimal128(9)`).
pub const VALUE_SCALE: u32 = 9;

/// Converts a value to the integer ClickHouse stores for `Decimal128(9)`, rounding past nine
/// decimal places (banker's rounding).
pub fn to_stored(value: Decimal) -> i128 {
    let rounded = value.round_dp(VALUE_SCALE);
    rounded.mantissa() * 10_i128.pow(VALUE_SCALE - rounded.scale())
}

/// Days since the Unix epoch, as ClickHouse stores a `Date`.
pub fn date_of_ms(time_ms: i64) -> u16 {
    u16::try_from(time_ms.div_euclid(86_400_000)).unwrap_or(0)
}

/// A row of `events_raw`.
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct RawRow {
    pub tenant_id: String,
    pub ingest_date: u16,
    pub ingest_time_ms: i64,
    pub event_time_ms: i64,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: String,
    pub data: String,
}

/// A row of `event_ids`: the first occurrence of an event.
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct EventIdRow {
    pub key_hash: u64,
    pub tenant_id: String,
    pub source: String,
    pub id: String,
    pub seen_date: u16,
    pub kafka_partition: u32,
    pub kafka_offset: u64,
    pub position: u32,
}

/// A row of `rollup_minute`.
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
pub struct RollupRow {
    pub tenant_id: String,
    pub meter_id: String,
    pub minute: u32,
    pub subject: String,
    pub group_values: Vec<String>,
    pub kafka_partition: u32,
    pub block: u64,
    pub version: u64,
    pub events: u64,
    pub value_sum: i128,
    pub value_min: i128,
    pub value_max: i128,
    pub latest_time_ms: i64,
    pub latest_position: u64,
    pub latest_value: i128,
}

/// A row of `rollup_unique`.
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
pub struct UniqueRow {
    pub tenant_id: String,
    pub meter_id: String,
    pub minute: u32,
    pub subject: String,
    pub group_values: Vec<String>,
    pub value: String,
}

/// A row of `usage_hour`.
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
pub struct UsageRow {
    pub tenant_id: String,
    pub hour: u32,
    pub kafka_partition: u32,
    pub block: u64,
    pub version: u64,
    pub accepted_events: u64,
    pub rejected_events: u64,
    pub accepted_bytes: u64,
}

/// A row of `quarantine`.
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
pub struct QuarantineRow {
    pub tenant_id: String,
    pub ingest_date: u16,
    pub ingest_time_ms: i64,
    pub topic: String,
    pub kafka_partition: u32,
    pub kafka_offset: u64,
    pub position: u32,
    pub event_id: String,
    pub reason: String,
    pub raw: String,
    pub raw_bytes: u64,
    pub raw_sha256: String,
}

/// Everything one pass of the aggregator writes, in the order it is written: the first
/// occurrences before anything counted from them, the sums last.
#[derive(Debug, Default)]
pub struct Writes {
    pub event_ids: Vec<EventIdRow>,
    pub raw: Vec<RawRow>,
    pub quarantine: Vec<QuarantineRow>,
    pub unique: Vec<UniqueRow>,
    pub rollups: Vec<RollupRow>,
    pub usage: Vec<UsageRow>,
}

impl Writes {
    /// Writes every table; on error some tables may hold their rows, which a retry rewrites.
    pub async fn write(&self, analytics: &Analytics) -> Result<()> {
        insert(analytics, "event_ids", &self.event_ids).await?;
        insert(analytics, "events_raw", &self.raw).await?;
        insert(analytics, "quarantine", &self.quarantine).await?;
        insert(analytics, "rollup_unique", &self.unique).await?;
        insert(analytics, "rollup_minute", &self.rollups).await?;
        insert(analytics, "usage_hour", &self.usage).await?;
        Ok(())
    }
}

async fn insert<T>(analytics: &Analytics, table: &str, rows: &[T]) -> Result<()>
where
    T: clickhouse::RowOwned + clickhouse::RowWrite,
{
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = analytics.client().insert::<T>(table).await?;
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await?;
    Ok(())
}

/// An event's identity for deduplication: tenant, source, id.
pub type Identity = (String, String, String);

/// Returns the 64-bit hash `event_ids` is ordered by: the first eight bytes of the SHA-256 of
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

/// How many identities one lookup query carries (about 21 bytes of SQL each). ClickHouse
/// refuses queries of more than 50,000 syntax elements (`max_ast_elements`), and each hash in
/// the list is one.
const LOOKUP_CHUNK: usize = 10_000;

/// The query size a lookup allows itself (ClickHouse's default is 256 KiB).
const MAX_QUERY_BYTES: &str = "4194304";

/// Finds where each of these events first occurred, if it was seen before.
pub async fn first_occurrences(
    analytics: &Analytics,
    identities: &[Identity],
) -> Result<HashMap<Identity, Position>> {
    let mut found: HashMap<Identity, Position> = HashMap::new();
    for chunk in identities.chunks(LOOKUP_CHUNK) {
        let mut hashes: Vec<u64> = chunk.iter().map(key_hash).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let list = hashes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let rows = analytics
            .client()
            .query(&format!(
                "SELECT ?fields FROM event_ids WHERE key_hash IN ({list})"
            ))
            .with_setting("max_query_size", MAX_QUERY_BYTES)
            .fetch_all::<EventIdRow>()
            .await?;
        for row in rows {
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
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_stored(stored: i128) -> Option<Decimal> {
        Decimal::try_from_i128_with_scale(stored, VALUE_SCALE)
            .ok()
            .map(|value| value.normalize())
    }

    #[test]
    fn values_round_trip_at_nine_decimal_places() {
        for text in [
            "0",
            "0.1",
            "-12.5",
            "123456789.123456789",
            "79228162514.264337593",
        ] {
            let value: Decimal = text.parse().expect("a decimal");
            assert_eq!(
                from_stored(to_stored(value)),
                Some(value.normalize()),
                "{text}"
            );
        }
        let rounded: Decimal = "0.0000000015".parse().expect("a decimal");
        assert_eq!(to_stored(rounded), 2);
    }

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
