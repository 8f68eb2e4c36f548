//! A tenant's platform usage read from `usage_hour`: per hour, the sums over every block of
//! every partition the aggregator wrote.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

use super::Analytics;
use crate::Result;
use crate::ids::TenantId;
use crate::platform::HourUsage;
use crate::usage::epoch_seconds;

/// One hour's sums.
#[derive(Debug, clickhouse::Row, Deserialize)]
struct HourRow {
    hour: u32,
    accepted_events: u64,
    rejected_events: u64,
    accepted_bytes: u64,
}

impl Analytics {
    /// Returns a tenant's platform usage for the hours starting in `[from, to)`, oldest
    /// first; hours without traffic are left out.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn platform_hourly(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HourUsage>> {
        let rows: Vec<HourRow> = self
            .client
            .query(
                "SELECT hour, sum(accepted_events) AS accepted_events,
                        sum(rejected_events) AS rejected_events,
                        sum(accepted_bytes) AS accepted_bytes
                 FROM usage_hour FINAL
                 WHERE tenant_id = ? AND hour >= ? AND hour < ?
                 GROUP BY hour ORDER BY hour",
            )
            .bind(tenant.to_string())
            .bind(epoch_seconds(from))
            .bind(epoch_seconds(to))
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
}
