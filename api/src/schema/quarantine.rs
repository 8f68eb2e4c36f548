//! Pages of a tenant's quarantined events, newest first: what ingest rejected and what the
//! aggregator refused to count, each with its reason, the start of the raw event, and the
//! whole event's length and hash.

use serde::{Deserialize, Serialize};
use tally_meter::analytics::Analytics;
use tally_meter::ids::TenantId;

use super::cursor;
use super::events::time_of;
use super::types::{QuarantinePage, QuarantinedEvent};
use crate::error::ApiResult;

#[derive(Debug, clickhouse::Row, Deserialize)]
struct QuarantineRow {
    ingest_time_ms: i64,
    topic: String,
    kafka_partition: u32,
    kafka_offset: u64,
    position: u32,
    event_id: String,
    reason: String,
    raw: String,
    raw_bytes: u64,
    raw_sha256: String,
}

/// Where a page ended: the key of its last row.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor(i64, String, u32, u64, u32, String);

/// Returns up to `first` quarantined events of the tenant after the cursor.
pub async fn page(
    analytics: &Analytics,
    tenant: TenantId,
    first: usize,
    after: Option<&str>,
) -> ApiResult<QuarantinePage> {
    cursor::check_page_size(first)?;
    let after: Option<Cursor> = after.map(cursor::decode).transpose()?;
    let position = if after.is_some() {
        " AND (ingest_time_ms, topic, kafka_partition, kafka_offset, position, reason) \
         < (?, ?, ?, ?, ?, ?)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT ingest_time_ms, topic, kafka_partition, kafka_offset, position, event_id, reason,
                raw, raw_bytes, raw_sha256
         FROM quarantine FINAL WHERE tenant_id = ?{position}
         ORDER BY ingest_time_ms DESC, topic DESC, kafka_partition DESC, kafka_offset DESC,
                  position DESC, reason DESC
         LIMIT {}",
        first + 1
    );
    let mut query = analytics.client().query(&sql).bind(tenant.to_string());
    if let Some(Cursor(time, topic, partition, offset, index, reason)) = &after {
        query = query
            .bind(time)
            .bind(topic)
            .bind(partition)
            .bind(offset)
            .bind(index)
            .bind(reason);
    }
    let mut rows: Vec<QuarantineRow> = query.fetch_all().await.map_err(tally_meter::Error::from)?;
    let more = rows.len() > first;
    rows.truncate(first);
    let next_cursor = more.then(|| rows.last()).flatten().map(|row| {
        cursor::encode(&Cursor(
            row.ingest_time_ms,
            row.topic.clone(),
            row.kafka_partition,
            row.kafka_offset,
            row.position,
            row.reason.clone(),
        ))
    });
    Ok(QuarantinePage {
        items: rows
            .into_iter()
            .map(|row| QuarantinedEvent {
                ingest_time: time_of(row.ingest_time_ms),
                event_id: (!row.event_id.is_empty()).then_some(row.event_id),
                reason: row.reason,
                truncated: row.raw_bytes > row.raw.len() as u64,
                raw: row.raw,
                raw_bytes: row.raw_bytes,
                raw_sha256: row.raw_sha256,
            })
            .collect(),
        next_cursor,
    })
}
