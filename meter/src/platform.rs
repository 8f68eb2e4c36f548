//! Platform usage: what ingest accepted and rejected for a tenant, per hour, summed over ingest
//! nodes by the aggregator from the metering topic. It counts every accepted event, resends
//! included (ingest does not know them), which is what the platform carried.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::analytics::Analytics;
use crate::ids::TenantId;

/// One hour of a tenant's platform usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourUsage {
    /// Start of the hour (UTC).
    pub hour: DateTime<Utc>,
    /// Events accepted by ingest.
    pub accepted_events: u64,
    /// Events rejected by ingest (quarantined or throttled).
    pub rejected_events: u64,
    /// Bytes of the accepted events, as received.
    pub accepted_bytes: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct HourRow {
    hour: u32,
    accepted_events: u64,
    rejected_events: u64,
    accepted_bytes: u64,
}

/// Returns a tenant's platform usage for the hours starting in `[from, to)`, oldest first;
/// hours without traffic are left out.
pub async fn hourly(
    analytics: &Analytics,
    tenant: TenantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<HourUsage>> {
    let seconds = |time: DateTime<Utc>| u32::try_from(time.timestamp().max(0)).unwrap_or(u32::MAX);
    let rows: Vec<HourRow> = analytics
        .client()
        .query(
            "SELECT hour, sum(accepted_events) AS accepted_events,
                    sum(rejected_events) AS rejected_events, sum(accepted_bytes) AS accepted_bytes
             FROM usage_hour FINAL
             WHERE tenant_id = ? AND hour >= ? AND hour < ?
             GROUP BY hour ORDER BY hour",
        )
        .bind(tenant.to_string())
        .bind(seconds(from))
        .bind(seconds(to))
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| HourUsage {
            hour: Utc
                .timestamp_opt(i64::from(row.hour), 0)
                .single()
                .unwrap_or(from),
            accepted_events: row.accepted_events,
            rejected_events: row.rejected_events,
            accepted_bytes: row.accepted_bytes,
        })
        .collect())
}
