//! Retention: ClickHouse 18.16 has no TTL clause, so the aggregator drops whole day partitions
//! once an hour: raw and quarantined events after `meter.raw_retention_days`, remembered event
//! ids after `meter.dedup_window_days`. Rollups and usage are kept.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::MeterConfig;
use crate::Result;
use crate::analytics::Analytics;

/// How often old partitions are looked for.
const INTERVAL: Duration = Duration::from_secs(3600);

/// Starts the hourly drop of old partitions.
pub fn spawn(
    config: &MeterConfig,
    analytics: Analytics,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let tables = [
        ("events_raw", config.raw_retention_days),
        ("quarantine", config.raw_retention_days),
        ("event_ids", config.dedup_window_days),
    ];
    tokio::spawn(async move {
        loop {
            for (table, days) in tables {
                if let Err(error) = drop_old_days(&analytics, table, days).await {
                    tracing::warn!(%error, table, "cannot drop old partitions");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(INTERVAL) => {}
            }
        }
    })
}

/// Drops the day partitions of `table` older than `days` days; returns how many.
pub async fn drop_old_days(analytics: &Analytics, table: &str, days: u32) -> Result<usize> {
    let partitions: Vec<String> = analytics
        .client()
        .query(
            "SELECT DISTINCT partition FROM system.parts \
             WHERE database = ? AND table = ? AND active",
        )
        .bind(analytics.database())
        .bind(table)
        .fetch_all()
        .await?;
    let oldest_kept = Utc::now().date_naive() - chrono::Days::new(u64::from(days));
    let mut dropped = 0;
    for partition in partitions {
        let Ok(day) = NaiveDate::parse_from_str(&partition, "%Y-%m-%d") else {
            continue;
        };
        if day >= oldest_kept {
            continue;
        }
        analytics
            .client()
            .query(&format!("ALTER TABLE {table} DROP PARTITION '{day}'"))
            .execute()
            .await?;
        tracing::info!(table, %day, "dropped expired partition");
        dropped += 1;
    }
    Ok(dropped)
}
