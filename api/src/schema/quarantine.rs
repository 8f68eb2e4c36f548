//! A tenant's quarantined events: `quarantine`, its GraphQL types, and its pages, newest
//! first: what ingest rejected and what the aggregator refused to count, each with its reason,
//! the start of the raw event, and the whole event's length and hash.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tally_meter::analytics::Analytics;
use tally_meter::ids::TenantId;

use super::context::{caller, services};
use super::cursor;
use super::events::time_of;
use crate::cost::{self, CLICKHOUSE_QUERY};
use crate::error::ApiResult;

/// An event that was not counted, and why.
#[derive(SimpleObject, Debug, Clone)]
pub struct QuarantinedEvent {
    /// When ingest received it.
    pub ingest_time: DateTime<Utc>,
    /// Its id, when it had a readable one.
    pub event_id: Option<String>,
    /// Why it was refused, in words a person can act on.
    pub reason: String,
    /// The start of the event as received: at most `ingest.quarantine_raw_bytes` bytes.
    pub raw: String,
    /// Length of the whole event as received, in bytes (0 for events quarantined before
    /// lengths were recorded).
    pub raw_bytes: u64,
    /// SHA-256 of the whole event as received, in lowercase hex (empty for events quarantined
    /// before hashes were recorded).
    pub raw_sha256: String,
    /// Whether `raw` holds less than the whole event.
    pub truncated: bool,
}

/// A page of quarantined events, newest first.
#[derive(SimpleObject, Debug, Clone)]
pub struct QuarantinePage {
    /// The events.
    pub items: Vec<QuarantinedEvent>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Queries of quarantined events.
#[derive(Default)]
pub struct QuarantineQuery;

#[Object]
impl QuarantineQuery {
    /// Recently quarantined events with their reasons, newest first, a page at a time.
    #[graphql(complexity = "CLICKHOUSE_QUERY + cost::page(first, child_complexity)")]
    async fn quarantine(
        &self,
        context: &Context<'_>,
        #[graphql(default = 50)] first: usize,
        after: Option<String>,
    ) -> async_graphql::Result<QuarantinePage> {
        let tenant = caller(context)?.may_read()?;
        Ok(page(
            &services(context).analytics,
            tenant,
            first,
            after.as_deref(),
        )
        .await?)
    }
}

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
async fn page(
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
