//! What the aggregator writes to ClickHouse, and the lookup of events seen before. Rows of one
//! pass are gathered in [`Writes`] and written table by table; every table tolerates a repeat of
//! any write (see the migration `0002_aggregates.sql`), so a failed pass is simply written again.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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

/// An event's identity for deduplication.
pub type Identity = (String, String, String);

/// How many identities one lookup query carries, to stay within ClickHouse's query size.
const LOOKUP_CHUNK: usize = 2000;

/// Finds where each of these events first occurred, if it was seen before.
pub async fn first_occurrences(
    analytics: &Analytics,
    identities: &[Identity],
) -> Result<HashMap<Identity, Position>> {
    let mut found: HashMap<Identity, Position> = HashMap::new();
    for chunk in identities.chunks(LOOKUP_CHUNK) {
        let mut list = String::with_capacity(chunk.len() * 64);
        for (number, (tenant, source, id)) in chunk.iter().enumerate() {
            if number > 0 {
                list.push(',');
            }
            list.push('(');
            push_literal(&mut list, tenant);
            list.push(',');
            push_literal(&mut list, source);
            list.push(',');
            push_literal(&mut list, id);
            list.push(')');
        }
        let sql =
            format!("SELECT ?fields FROM event_ids WHERE (tenant_id, source, id) IN ({list})");
        let rows = analytics
            .client()
            .query(&sql)
            .fetch_all::<EventIdRow>()
            .await?;
        for row in rows {
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
    }
    Ok(found)
}

/// Appends `text` as a quoted ClickHouse string literal.
fn push_literal(sql: &mut String, text: &str) {
    sql.push('\'');
    for character in text.chars() {
        match character {
            '\\' => sql.push_str("\\\\"),
            '\'' => sql.push_str("\\'"),
            '?' => sql.push_str("\\x3F"),
            other => sql.push(other),
        }
    }
    sql.push('\'');
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
    fn literals_escape_quotes_backslashes_and_placeholders() {
        let mut sql = String::new();
        push_literal(&mut sql, r"it's \ ?");
        assert_eq!(sql, r"'it\'s \\ \x3F'");
    }
}
