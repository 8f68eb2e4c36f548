//! Retention: ClickHouse 18.16 has no TTL clause, so the aggregator drops whole partitions
//! once an hour: days of raw and quarantined events after `meter.raw_retention_days`, months of
//! remembered event ids once their last day is older than `meter.dedup_window_days` (so ids are
//! kept at least that long). Rollups and usage are kept. This module decides which
//! partitions are old; [`Analytics::drop_partition`] drops them.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::AggregatorConfig;
use crate::Result;
use crate::analytics::Analytics;

/// How often old partitions are looked for.
const INTERVAL: Duration = Duration::from_secs(3600);

/// Starts the hourly drop of old partitions.
pub fn spawn(
    config: &AggregatorConfig,
    analytics: Analytics,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let config = config.clone();
    tokio::spawn(async move {
        loop {
            for (table, outcome) in drop_expired(&config, &analytics).await {
                if let Err(error) = outcome {
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

/// Drops, once, the expired partitions of every table retention covers; returns, per table,
/// how many were dropped or why they could not be.
pub async fn drop_expired(
    config: &AggregatorConfig,
    analytics: &Analytics,
) -> Vec<(&'static str, Result<usize>)> {
    let tables = [
        ("events_raw", config.raw_retention_days),
        ("quarantine", config.raw_retention_days),
        ("event_positions", config.dedup_window_days),
    ];
    let mut outcomes = Vec::with_capacity(tables.len());
    for (table, days) in tables {
        outcomes.push((table, drop_old_days(analytics, table, days).await));
    }
    outcomes
}

/// Drops the partitions of `table` (days written `YYYY-MM-DD`, or months written `YYYYMM`)
/// whose last day is older than `days` days; returns how many.
async fn drop_old_days(analytics: &Analytics, table: &str, days: u32) -> Result<usize> {
    let partitions = analytics.active_partitions(table).await?;
    let oldest_kept = Utc::now().date_naive() - chrono::Days::new(u64::from(days));
    let mut dropped = 0;
    for partition in partitions {
        let Some(last_day) = last_day_of(&partition) else {
            continue;
        };
        if last_day >= oldest_kept {
            continue;
        }
        analytics.drop_partition(table, &partition).await?;
        tracing::info!(table, %partition, "dropped expired partition");
        dropped += 1;
    }
    Ok(dropped)
}

/// The last day a partition holds, from its name: `2026-11-21` or `202611`.
fn last_day_of(partition: &str) -> Option<NaiveDate> {
    if let Ok(day) = NaiveDate::parse_from_str(partition, "%Y-%m-%d") {
        return Some(day);
    }
    let first = NaiveDate::parse_from_str(&format!("{partition}01"), "%Y%m%d").ok()?;
    first.checked_add_months(chrono::Months::new(1))?.pred_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_end_on_their_last_day() {
        let day = |text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
        assert_eq!(last_day_of("2026-11-21"), day("2026-11-21"));
        assert_eq!(last_day_of("202602"), day("2026-02-28"));
        assert_eq!(last_day_of("202612"), day("2026-12-31"));
        assert_eq!(last_day_of("tuple()"), None);
    }
}
