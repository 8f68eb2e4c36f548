//! What the aggregator writes to ClickHouse, and its lookup of events seen before. Rows of one
//! pass are gathered in [`Writes`] and written table by table; every table tolerates a repeat of
//! any write (see the migration `0002_aggregates.sql`), so a failed pass is simply written again.
//! How values are encoded in these rows is the aggregator's business (`aggregator::encoding`).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::Analytics;
use super::events::RawEvent;
use super::quarantine::QuarantineEntry;
use crate::Result;
use crate::aggregator::crash_point::{self, CrashPoint};
use crate::aggregator::telemetry::TableInserted;
use crate::usage::Resolution;

/// A row of `event_positions`: a position where an event was first seen.
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct EventIdRow {
    pub key_hash: u64,
    pub tenant_id: String,
    pub source: String,
    pub id: String,
    pub seen_date: u16,
    pub kafka_partition: u32,
    pub kafka_offset: u64,
    pub position: u32,
}

/// A row of `rollup_writes`: one of `rollup_minute_v2`, `rollup_hour_v2` or `rollup_day_v2`,
/// as its `resolution` says (its [`Resolution::name`]).
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct RollupRow {
    pub resolution: String,
    pub tenant_id: String,
    pub meter_id: String,
    pub minute: u32,
    pub subject: String,
    pub group_values: Vec<String>,
    pub kafka_partition: u32,
    pub block: u64,
    pub version: u64,
    pub events: u64,
    pub value_sum: i128,
    pub value_min: i128,
    pub value_max: i128,
    pub latest_time_ms: i64,
    pub latest_position: u64,
    pub latest_value: i128,
}

/// A row of `rollup_unique`.
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
pub struct RollupUniqueRow {
    pub tenant_id: String,
    pub meter_id: String,
    pub minute: u32,
    pub subject: String,
    pub group_values: Vec<String>,
    pub value: String,
}

/// A row of `usage_hour`.
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct UsageHourRow {
    pub tenant_id: String,
    pub hour: u32,
    pub kafka_partition: u32,
    pub block: u64,
    pub version: u64,
    pub accepted_events: u64,
    pub rejected_events: u64,
    pub accepted_bytes: u64,
    pub api_queries: u64,
}

/// A row of `block_layout`.
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
struct BlockLayoutRow {
    block_records: u64,
    recorded_ms: i64,
}

/// Everything one pass of the aggregator writes. The tables are written at once: nothing
/// depends on their order, because the next pass's dedup adds this pass's first occurrences
/// from memory and a replay rewrites whatever a failed pass left.
#[derive(Debug, Default)]
pub struct Writes {
    pub event_ids: Vec<EventIdRow>,
    pub raw: Vec<RawEvent>,
    pub quarantine: Vec<QuarantineEntry>,
    pub unique: Vec<RollupUniqueRow>,
    pub rollups: Vec<RollupRow>,
    pub usage: Vec<UsageHourRow>,
}

/// How many hashes one lookup query carries (about 21 bytes of SQL each). They go as one array
/// literal, which ClickHouse parses as a single syntax element: a pass's worth fits in one
/// query.
const LOOKUP_CHUNK: usize = 50_000;

/// The query size a lookup allows itself (ClickHouse's default is 256 KiB).
const MAX_QUERY_BYTES: &str = "4194304";

impl Analytics {
    /// Writes every table of a pass, all at once; on error some tables may hold their rows,
    /// which a retry rewrites.
    #[tracing::instrument(skip_all, fields(raw = writes.raw.len(), rollups = writes.rollups.len()))]
    pub(crate) async fn write_pass(&self, writes: &Writes) -> Result<()> {
        tokio::try_join!(
            async {
                self.insert("event_positions", &writes.event_ids).await?;
                crash_point::reach(CrashPoint::AfterEventIds);
                Ok(())
            },
            self.insert("events_raw", &writes.raw),
            self.insert("quarantine", &writes.quarantine),
            self.insert("rollup_unique", &writes.unique),
            async {
                // One insert for the minute, hour and day rows, which views route to their
                // tables (see the migrations `0006_coarse_rollups.sql` and
                // `0007_fine_rollups.sql`).
                self.insert("rollup_writes", &writes.rollups).await?;
                crash_point::reach(CrashPoint::AfterRollups);
                Ok(())
            },
            self.insert("usage_hour", &writes.usage),
        )?;
        Ok(())
    }

    /// Returns the block size that the sums are cut in: the earliest recorded, after recording
    /// `proposed` when none is.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn block_records_in_effect(&self, proposed: u64) -> Result<u64> {
        if let Some(recorded) = self.recorded_block_records().await? {
            return Ok(recorded);
        }
        let row = BlockLayoutRow {
            block_records: proposed,
            recorded_ms: chrono::Utc::now().timestamp_millis(),
        };
        self.insert("block_layout", &[row]).await?;
        // Another aggregator may have recorded its size at the same moment: the earliest wins.
        Ok(self.recorded_block_records().await?.unwrap_or(proposed))
    }

    async fn recorded_block_records(&self) -> Result<Option<u64>> {
        let recorded = self
            .client
            .query("SELECT block_records FROM block_layout ORDER BY recorded_ms, block_records LIMIT 1")
            .fetch_all::<u64>()
            .await?;
        Ok(recorded.first().copied())
    }

    /// Returns the newest minute row of every key in one block of a partition of the events
    /// topic.
    #[tracing::instrument(skip_all, fields(partition, block))]
    pub(crate) async fn rollup_block(&self, partition: u32, block: u64) -> Result<Vec<RollupRow>> {
        Ok(self
            .client
            .query(
                "SELECT ?fields FROM (SELECT *, ? AS resolution FROM rollup_minute_v2 FINAL
                                      WHERE kafka_partition = ? AND block = ?)",
            )
            .bind(Resolution::Minute.name())
            .bind(partition)
            .bind(block)
            .fetch_all()
            .await?)
    }

    /// Returns the newest row of every key in one block of a partition of the metering topic.
    #[tracing::instrument(skip_all, fields(partition, block))]
    pub(crate) async fn usage_block(
        &self,
        partition: u32,
        block: u64,
    ) -> Result<Vec<UsageHourRow>> {
        Ok(self
            .client
            .query("SELECT ?fields FROM usage_hour FINAL WHERE kafka_partition = ? AND block = ?")
            .bind(partition)
            .bind(block)
            .fetch_all()
            .await?)
    }

    /// Hands every key hash `event_positions` holds to `add`, as they stream in; returns how
    /// many there were. Reads the table's smallest column once: about 8 bytes per event of
    /// the dedup window.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn each_key_hash(&self, mut add: impl FnMut(u64)) -> Result<u64> {
        let mut cursor = self
            .client
            .query("SELECT key_hash FROM event_positions")
            .fetch::<u64>()?;
        let mut count = 0;
        while let Some(hash) = cursor.next().await? {
            add(hash);
            count += 1;
        }
        Ok(count)
    }

    /// Returns the rows of `event_positions` whose key hash is one of `hashes`, a query per
    /// [`LOOKUP_CHUNK`] hashes. The hashes go in as an array, not an `IN` list, which 18.16
    /// parses far more slowly. A first query reads only the `key_hash` column to find which
    /// hashes are known, usually a few (resends) or none; a second reads their rows. Each
    /// hash reads a granule (256 rows) of each part, so a lookup reads at most the pass's
    /// hashes times the granule times the parts, and less while the table is smaller.
    #[tracing::instrument(skip_all, fields(hashes = hashes.len()))]
    pub(crate) async fn event_ids_by_hash(&self, hashes: &[u64]) -> Result<Vec<EventIdRow>> {
        let mut found = Vec::new();
        for chunk in hashes.chunks(LOOKUP_CHUNK) {
            let known: Vec<u64> = self
                .client
                .query(
                    "SELECT DISTINCT key_hash FROM event_positions
                     PREWHERE key_hash IN (SELECT arrayJoin(?))",
                )
                .bind(chunk)
                .with_setting("max_query_size", MAX_QUERY_BYTES)
                .fetch_all()
                .await?;
            if known.is_empty() {
                continue;
            }
            let rows = self
                .client
                .query(
                    "SELECT ?fields FROM event_positions
                     PREWHERE key_hash IN (SELECT arrayJoin(?))",
                )
                .bind(&known)
                .with_setting("max_query_size", MAX_QUERY_BYTES)
                .fetch_all::<EventIdRow>()
                .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    async fn insert<T>(&self, table: &str, rows: &[T]) -> Result<()>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut insert = self.client.insert::<T>(table).await?;
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await?;
        TableInserted {
            table,
            elapsed: started.elapsed(),
        }
        .emit();
        Ok(())
    }
}
