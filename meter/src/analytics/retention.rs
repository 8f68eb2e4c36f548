//! Partitions for retention: ClickHouse 18.16 has no TTL clause, so old data goes by dropping
//! whole partitions of a table (days written `YYYY-MM-DD`, or months written `YYYYMM`).
//! Which partitions are old is the aggregator's decision.

use super::Analytics;
use crate::{Error, Result};

impl Analytics {
    /// Returns the names of the active partitions of one of Tally's tables, without the
    /// quotes some ClickHouse versions put around a Date partition (`'2026-11-21'`).
    #[tracing::instrument(skip_all, fields(table = table))]
    pub async fn active_partitions(&self, table: &str) -> Result<Vec<String>> {
        let partitions: Vec<String> = self
            .client
            .query(
                "SELECT DISTINCT partition FROM system.parts \
                 WHERE database = ? AND table = ? AND active",
            )
            .bind(&self.database)
            .bind(table)
            .fetch_all()
            .await?;
        Ok(partitions
            .iter()
            .map(|partition| unquoted(partition).to_owned())
            .collect())
    }

    /// Drops a partition of one of Tally's tables, named as [`Self::active_partitions`]
    /// returns it.
    #[tracing::instrument(skip_all, fields(table = table, partition = partition))]
    pub async fn drop_partition(&self, table: &str, partition: &str) -> Result<()> {
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

/// A partition name without the single quotes around it, if it has them.
fn unquoted(partition: &str) -> &str {
    partition
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap_or(partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_lose_their_quotes() {
        assert_eq!(unquoted("'2026-11-21'"), "2026-11-21");
        assert_eq!(unquoted("2026-11-21"), "2026-11-21");
        assert_eq!(unquoted("202611"), "202611");
        assert_eq!(unquoted("'"), "'");
    }
}
