//! Platform usage read from `usage_hour`: per tenant and hour, the sums over every block of
//! every partition the aggregator wrote.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

use super::Analytics;
use crate::Result;
use crate::ids::TenantId;
use crate::platform::HourUsage;
use crate::usage::epoch_seconds;

/// One tenant's hour of sums.
#[derive(Debug, clickhouse::Row, Deserialize)]
struct TenantHourRow {
    tenant_id: String,
    hour: u32,
    accepted_events: u64,
    rejected_events: u64,
    accepted_bytes: u64,
    api_queries: u64,
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
        let hours = self.usage_hours(Some(tenant), from, to).await?;
        Ok(hours.into_iter().map(|(_, hour)| hour).collect())
    }

    /// Returns every tenant's platform usage for the hours starting in `[from, to)`, by tenant
    /// and hour; hours without traffic are left out.
    pub async fn platform_hours(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(TenantId, HourUsage)>> {
        self.usage_hours(None, from, to).await
    }

    /// The sums of `usage_hour` of one tenant, or of all, per tenant and hour starting in
    /// `[from, to)`, by tenant and hour.
    async fn usage_hours(
        &self,
        tenant: Option<TenantId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(TenantId, HourUsage)>> {
        let tenant_filter = if tenant.is_some() {
            "tenant_id = ? AND "
        } else {
            ""
        };
        let sql = format!(
            "SELECT tenant_id, hour, sum(accepted_events) AS accepted_events,
                    sum(rejected_events) AS rejected_events,
                    sum(accepted_bytes) AS accepted_bytes,
                    sum(api_queries) AS api_queries
             FROM usage_hour FINAL WHERE {tenant_filter}hour >= ? AND hour < ?
             GROUP BY tenant_id, hour ORDER BY tenant_id, hour"
        );
        let mut query = self.client.query(&sql);
        if let Some(tenant) = tenant {
            query = query.bind(tenant.to_string());
        }
        let rows: Vec<TenantHourRow> = query
            .bind(epoch_seconds(from))
            .bind(epoch_seconds(to))
            .fetch_all()
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok((
                    row.tenant_id.parse()?,
                    HourUsage {
                        hour: hour_start(row.hour, from),
                        accepted_events: row.accepted_events,
                        rejected_events: row.rejected_events,
                        accepted_bytes: row.accepted_bytes,
                        api_queries: row.api_queries,
                    },
                ))
            })
            .collect()
    }
}

/// The start of an hour stored as seconds since the Unix epoch (`fallback` if out of range).
fn hour_start(seconds: u32, fallback: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(i64::from(seconds), 0)
        .single()
        .unwrap_or(fallback)
}
