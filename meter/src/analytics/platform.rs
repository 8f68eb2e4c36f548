//! A tenant's platform usage read from `usage_hour`: per hour, the sums over every block of
//! every partition the aggregator wrote.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
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

/// A tenant's accepted events and bytes over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformTotals {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Events accepted.
    pub accepted_events: u64,
    /// Their bytes.
    pub accepted_bytes: u64,
}

/// One tenant's row of [`Analytics::platform_totals`].
#[derive(Debug, clickhouse::Row, Deserialize)]
struct TotalsRow {
    tenant_id: String,
    accepted_events: u64,
    accepted_bytes: u64,
}

/// One tenant's day of [`Analytics::raw_bytes_by_day`].
#[derive(Debug, clickhouse::Row, Deserialize)]
struct RawDayRow {
    tenant_id: String,
    day: u16,
    bytes: u64,
}

impl Analytics {
    /// Returns every tenant's accepted events and bytes over the hours starting in
    /// `[from, to)`; tenants without traffic are left out.
    pub async fn platform_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<PlatformTotals>> {
        let rows: Vec<TotalsRow> = self
            .client
            .query(
                "SELECT tenant_id, sum(accepted_events) AS accepted_events,
                        sum(accepted_bytes) AS accepted_bytes
                 FROM usage_hour FINAL WHERE hour >= ? AND hour < ?
                 GROUP BY tenant_id ORDER BY tenant_id",
            )
            .bind(epoch_seconds(from))
            .bind(epoch_seconds(to))
            .fetch_all()
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(PlatformTotals {
                    tenant_id: row.tenant_id.parse()?,
                    accepted_events: row.accepted_events,
                    accepted_bytes: row.accepted_bytes,
                })
            })
            .collect()
    }

    /// Returns the bytes of raw events (their id, source, type, subject and data) each tenant
    /// keeps in `events_raw`, per ingest day before `until`.
    pub async fn raw_bytes_by_day(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<(TenantId, NaiveDate, u64)>> {
        let rows: Vec<RawDayRow> = self
            .client
            .query(
                "SELECT tenant_id, toUInt16(ingest_date) AS day,
                        sum(length(id) + length(source) + length(type) + length(subject)
                            + length(data)) AS bytes
                 FROM events_raw FINAL WHERE ingest_date < toDate(?)
                 GROUP BY tenant_id, day",
            )
            .bind(until.format("%Y-%m-%d").to_string())
            .fetch_all()
            .await?;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        rows.into_iter()
            .map(|row| {
                Ok((
                    row.tenant_id.parse()?,
                    epoch + chrono::Days::new(u64::from(row.day)),
                    row.bytes,
                ))
            })
            .collect()
    }
}
