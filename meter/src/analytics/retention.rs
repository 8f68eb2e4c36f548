//! Partitions for retention: ClickHouse 18.16 has no TTL clause, so old data goes by dropping
//! whole partitions of a table (days written `YYYY-MM-DD`, or months written `YYYYMM`).
//! Which partitions are old is the aggregator's decision.

use super::Analytics;
use crate::{Error, Result};

impl Analytics {
    /// Returns the names of the active partitions of one of Tally's tables.
    #[tracing::instrument(skip_all, fields(table = table))]
    pub async fn active_partitions(&self, table: &str) -> Result<Vec<String>> {
        let partitions = self
            .client
            .query(
                "SELECT DISTINCT partition FROM system.parts \
                 WHERE database = ? AND table = ? AND active",
            )
            .bind(&self.database)
            .bind(table)
            .fetch_all()
            .await?;
        Ok(partitions)
    }

    /// Drops a partition of one of Tally's tables, named as [`Self::active_partitions`]
    /// returns it.
    #[tracing::instrument(skip_all, fields(table = table, partition = partition))]
    pub async fn drop_partition(&self, table: &str, partition: &str) -> Result<()> {
        let partition = crate::aggregator::retention::unquoted(partition);
        if partition.is_empty() || !partition.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return Err(Error::Invalid(format!(
                "{table} has no partition named {partition:?}: retention drops days and months"
            )));
        }
        let expression = if partition.contains('-') {
            format!("'{partition}'")
        } else {
            partition.to_owned()
        };
        self.client
            .query(&format!("ALTER TABLE {table} DROP PARTITION {expression}"))
            .execute()
            .await?;
        Ok(())
    }
}
