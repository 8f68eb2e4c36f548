//! Pages of a tenant's quarantined events read from `quarantine`, newest first: what ingest
//! rejected and what the aggregator refused to count. A page ends at the
//! [`QuarantinePosition`] of its last entry and the next page starts after it; the tenant is
//! always the caller's, never part of a position.

use serde::{Deserialize, Serialize};

use super::{Analytics, Page};
use crate::Result;
use crate::ids::TenantId;

/// Where a page of quarantined events ended: the key of its last row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinePosition {
    /// Ingest time, in milliseconds since the epoch.
    pub ingest_time_ms: i64,
    /// The topic the record was read from.
    pub topic: String,
    /// Its Kafka partition.
    pub kafka_partition: u32,
    /// Its Kafka offset.
    pub kafka_offset: u64,
    /// The event's place within its record.
    pub position: u32,
    /// Why it was refused.
    pub reason: String,
}

/// An event that was not counted, and why: a row of `quarantine`, written by the aggregator's
/// passes and read back in pages.
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// The tenant's id; empty when the record was not readable enough to tell.
    pub tenant_id: String,
    /// The day ingest received it, in days since the epoch (the partition key).
    pub ingest_date: u16,
    /// When ingest received it, in milliseconds since the epoch.
    pub ingest_time_ms: i64,
    /// The topic the record was read from.
    pub topic: String,
    /// Its Kafka partition.
    pub kafka_partition: u32,
    /// Its Kafka offset.
    pub kafka_offset: u64,
    /// The event's place within its record.
    pub position: u32,
    /// Its id; empty when it had no readable one.
    pub event_id: String,
    /// Why it was refused.
    pub reason: String,
    /// The start of the event as received.
    pub raw: String,
    /// Length of the whole event as received, in bytes (0 before lengths were recorded).
    pub raw_bytes: u64,
    /// SHA-256 of the whole event as received, in lowercase hex (empty before hashes were
    /// recorded).
    pub raw_sha256: String,
}

/// A page of quarantined events, newest first.
pub type QuarantineEntryPage = Page<QuarantineEntry, QuarantinePosition>;

impl Analytics {
    /// Returns up to `first` quarantined events of the tenant after `after`, newest first.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, first = first))]
    pub async fn quarantine_page(
        &self,
        tenant: TenantId,
        first: usize,
        after: Option<&QuarantinePosition>,
    ) -> Result<QuarantineEntryPage> {
        let position_filter = if after.is_some() {
            " AND (ingest_time_ms, topic, kafka_partition, kafka_offset, position, reason) \
             < (?, ?, ?, ?, ?, ?)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT tenant_id, ingest_date, ingest_time_ms, topic, kafka_partition, kafka_offset,
                    position, event_id, reason, raw, raw_bytes, raw_sha256
             FROM quarantine FINAL WHERE tenant_id = ?{position_filter}
             ORDER BY ingest_time_ms DESC, topic DESC, kafka_partition DESC, kafka_offset DESC,
                      position DESC, reason DESC
             LIMIT {}",
            first.saturating_add(1)
        );
        let mut query = self.client.query(&sql).bind(tenant.to_string());
        if let Some(position) = after {
            query = query
                .bind(position.ingest_time_ms)
                .bind(&position.topic)
                .bind(position.kafka_partition)
                .bind(position.kafka_offset)
                .bind(position.position)
                .bind(&position.reason);
        }
        let rows = query.fetch_all::<QuarantineEntry>().await?;
        Ok(Page::cut(rows, first, |last| QuarantinePosition {
            ingest_time_ms: last.ingest_time_ms,
            topic: last.topic.clone(),
            kafka_partition: last.kafka_partition,
            kafka_offset: last.kafka_offset,
            position: last.position,
            reason: last.reason.clone(),
        }))
    }
}
