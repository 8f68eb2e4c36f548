//! A tenant's quarantined events: `quarantine`, its GraphQL types, and its pages, newest
//! first, read by [`Analytics::quarantine_page`]: what ingest rejected and what the aggregator
//! refused to count, each with its reason, the start of the raw event, and the whole event's
//! length and hash.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tally_meter::analytics::Analytics;
use tally_meter::analytics::quarantine::QuarantinePosition;
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
    ) -> ApiResult<QuarantinePage> {
        let tenant = caller(context)?.may_read()?;
        page(
            &services(context).analytics,
            tenant,
            first,
            after.as_deref(),
        )
        .await
    }
}

/// Where a page ended: the key of its last row.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor(i64, String, u32, u64, u32, String);

impl From<Cursor> for QuarantinePosition {
    fn from(
        Cursor(ingest_time_ms, topic, kafka_partition, kafka_offset, position, reason): Cursor,
    ) -> Self {
        Self {
            ingest_time_ms,
            topic,
            kafka_partition,
            kafka_offset,
            position,
            reason,
        }
    }
}

impl From<QuarantinePosition> for Cursor {
    fn from(position: QuarantinePosition) -> Self {
        Self(
            position.ingest_time_ms,
            position.topic,
            position.kafka_partition,
            position.kafka_offset,
            position.position,
            position.reason,
        )
    }
}

/// Returns up to `first` quarantined events of the tenant after the cursor.
async fn page(
    analytics: &Analytics,
    tenant: TenantId,
    first: usize,
    after: Option<&str>,
) -> ApiResult<QuarantinePage> {
    cursor::check_page_size(first)?;
    let after: Option<QuarantinePosition> = after
        .map(cursor::decode::<Cursor>)
        .transpose()?
        .map(QuarantinePosition::from);
    let page = analytics
        .quarantine_page(tenant, first, after.as_ref())
        .await?;
    Ok(QuarantinePage {
        items: page
            .items
            .into_iter()
            .map(|entry| QuarantinedEvent {
                ingest_time: time_of(entry.ingest_time_ms),
                event_id: (!entry.event_id.is_empty()).then_some(entry.event_id),
                reason: entry.reason,
                truncated: entry.raw_bytes > entry.raw.len() as u64,
                raw: entry.raw,
                raw_bytes: entry.raw_bytes,
                raw_sha256: entry.raw_sha256,
            })
            .collect(),
        next_cursor: page
            .next
            .map(|position| cursor::encode(&Cursor::from(position))),
    })
}
