//! A tenant's last hour read from the hot tables: per minute of ingest time, the events stored
//! in `events_raw` and the events ingest refused (in `quarantine`, each counted once), and the
//! busiest types of `events_raw`. An event a meter could not count was stored all the same: it
//! is in `quarantine` too (once per such meter, from the events topic), but not refused.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Analytics;
use crate::Result;
use crate::ids::TenantId;
use crate::traffic::{Traffic, TypeCount};
use crate::usage::last_hour_range;

/// Rows of one minute, by minutes since the epoch.
#[derive(clickhouse::Row, Deserialize)]
struct MinuteRow {
    minute: i64,
    events: u64,
}

/// Rows of one event type.
#[derive(clickhouse::Row, Deserialize)]
struct TypeRow {
    event_type: String,
    events: u64,
}

impl Analytics {
    /// Returns the tenant's traffic per minute over the last hour and its `top` busiest types.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, top = top))]
    pub async fn traffic_last_hour(&self, tenant: TenantId, top: u32) -> Result<Traffic> {
        let (from, _) = last_hour_range(Utc::now());
        let accepted = self
            .events_per_minute("events_raw", "count()", tenant, from)
            .await?;
        // Ingest's rejects come from the quarantine topic; the aggregator's, of stored events,
        // from the events topic (`PREFIXevents`).
        let rejected = self
            .events_per_minute(
                "quarantine",
                "uniqExactIf(topic, kafka_partition, kafka_offset, position, \
                 NOT endsWith(topic, 'events'))",
                tenant,
                from,
            )
            .await?;
        let top_types = self
            .client
            .query(
                "SELECT type AS event_type, count() AS events FROM events_raw FINAL
                 WHERE tenant_id = ? AND ingest_time_ms >= ?
                 GROUP BY event_type ORDER BY events DESC, event_type LIMIT ?",
            )
            .bind(tenant.to_string())
            .bind(from.timestamp_millis())
            .bind(top)
            .fetch_all::<TypeRow>()
            .await?
            .into_iter()
            .map(|row| TypeCount {
                event_type: row.event_type,
                events: row.events,
            })
            .collect();
        Ok(Traffic::from_counts(from, &accepted, &rejected, top_types))
    }

    /// Counts, with `count` (an aggregate), a hot table's rows of the tenant per minute of
    /// ingest time since `from`.
    async fn events_per_minute(
        &self,
        table: &str,
        count: &str,
        tenant: TenantId,
        from: DateTime<Utc>,
    ) -> Result<HashMap<i64, u64>> {
        let rows: Vec<MinuteRow> = self
            .client
            .query(&format!(
                "SELECT intDiv(ingest_time_ms, 60000) AS minute, {count} AS events
                 FROM {table} FINAL
                 WHERE tenant_id = ? AND ingest_time_ms >= ? GROUP BY minute"
            ))
            .bind(tenant.to_string())
            .bind(from.timestamp_millis())
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.minute, row.events))
            .collect())
    }
}
