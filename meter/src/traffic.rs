//! A tenant's traffic over the last hour, read from the hot tables: events stored and events
//! quarantined per minute of ingest time, and the busiest event types. This is what the
//! dashboards show first; it needs no meter.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::Result;
use crate::analytics::Analytics;
use crate::ids::TenantId;
use crate::usage::floor_minute;

/// One minute of a tenant's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteTraffic {
    /// Start of the minute (ingest time).
    pub minute: DateTime<Utc>,
    /// Events stored.
    pub accepted: u64,
    /// Events quarantined: refused by ingest or by the aggregator.
    pub rejected: u64,
}

/// How many events of one type were stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCount {
    /// The CloudEvents `type`.
    pub event_type: String,
    /// Events of that type.
    pub events: u64,
}

/// A tenant's last hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    /// 60 minutes, oldest first, ending with the current one.
    pub minutes: Vec<MinuteTraffic>,
    /// The busiest event types, busiest first.
    pub top_types: Vec<TypeCount>,
}

#[derive(clickhouse::Row, Deserialize)]
struct MinuteRow {
    minute: i64,
    events: u64,
}

#[derive(clickhouse::Row, Deserialize)]
struct TypeRow {
    event_type: String,
    events: u64,
}

/// Returns the tenant's traffic per minute over the last hour and its `top` busiest types.
pub async fn last_hour(analytics: &Analytics, tenant: TenantId, top: u32) -> Result<Traffic> {
    let to = floor_minute(Utc::now()) + Duration::minutes(1);
    let from = to - Duration::hours(1);
    let accepted = per_minute(analytics, "events_raw", tenant, from).await?;
    let rejected = per_minute(analytics, "quarantine", tenant, from).await?;
    let minutes = (0..60)
        .map(|offset| {
            let minute = from + Duration::minutes(offset);
            let index = minute.timestamp() / 60;
            MinuteTraffic {
                minute,
                accepted: accepted.get(&index).copied().unwrap_or(0),
                rejected: rejected.get(&index).copied().unwrap_or(0),
            }
        })
        .collect();
    let top_types = analytics
        .client()
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
    Ok(Traffic { minutes, top_types })
}

/// Counts a hot table's rows of the tenant per minute of ingest time since `from`.
async fn per_minute(
    analytics: &Analytics,
    table: &str,
    tenant: TenantId,
    from: DateTime<Utc>,
) -> Result<HashMap<i64, u64>> {
    let rows: Vec<MinuteRow> = analytics
        .client()
        .query(&format!(
            "SELECT intDiv(ingest_time_ms, 60000) AS minute, count() AS events FROM {table} FINAL
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
