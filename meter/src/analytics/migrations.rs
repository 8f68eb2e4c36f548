//! ClickHouse schema migrations: the ordered `.sql` files under `migrations/clickhouse`,
//! compiled into the binary and recorded, with a checksum, in the `schema_migrations` table of
//! Tally's database. ClickHouse has no locks, so callers serialize concurrent runs with
//! [`crate::catalog::SchemaLock`]; every statement is also written to be safe to repeat.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Analytics;
use crate::{Error, Result};

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Order of application; the number the file name starts with.
    pub version: u32,
    /// What it does; the rest of the file name.
    pub name: &'static str,
    /// Statements separated by `;` at the end of a line.
    pub sql: &'static str,
}

/// The migration in `migrations/clickhouse/<file>_<name>.sql`, read at compile time.
macro_rules! migration {
    ($version:literal, $file:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                "../../../migrations/clickhouse/",
                $file,
                "_",
                $name,
                ".sql"
            )),
        }
    };
}

/// Every migration, in order. A unit test checks that this matches the folder.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001", "events_raw"),
    migration!(2, "0002", "aggregates"),
    migration!(3, "0003", "quarantine_bounds"),
    migration!(4, "0004", "block_layout"),
    migration!(5, "0005", "event_positions"),
    migration!(6, "0006", "coarse_rollups"),
    migration!(7, "0007", "fine_rollups"),
    migration!(8, "0008", "api_queries"),
    migration!(9, "0009", "alert_events"),
];

#[derive(Debug, clickhouse::Row, Serialize, Deserialize)]
struct AppliedMigration {
    version: u32,
    name: String,
    checksum: String,
    /// Seconds since the Unix epoch.
    applied_at: u32,
}

impl Migration {
    fn checksum(&self) -> String {
        Sha256::digest(self.sql.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn statements(&self) -> impl Iterator<Item = String> + '_ {
        let without_comments: String = self
            .sql
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        without_comments
            .split(";\n")
            .map(|statement| statement.trim().trim_end_matches(';').trim().to_owned())
            .filter(|statement| !statement.is_empty())
            .collect::<Vec<_>>()
            .into_iter()
    }
}

impl Analytics {
    /// Creates Tally's database if needed and applies the migrations not yet recorded, in order;
    /// returns how many it applied. A recorded migration whose file changed since is an error.
    pub async fn migrate(&self) -> Result<usize> {
        self.server
            .query(&format!("CREATE DATABASE IF NOT EXISTS {}", self.database))
            .execute()
            .await?;
        self.client
            .query(
                "CREATE TABLE IF NOT EXISTS schema_migrations
                 (version UInt32, name String, checksum String, applied_at DateTime)
                 ENGINE = MergeTree ORDER BY version",
            )
            .execute()
            .await?;
        let applied = self.applied_migrations().await?;
        let mut applied_now = 0;
        for migration in MIGRATIONS {
            if let Some(recorded) = applied.iter().find(|row| row.version == migration.version) {
                if recorded.checksum != migration.checksum() {
                    return Err(Error::Invalid(format!(
                        "clickhouse migration {:04}_{} changed after it was applied",
                        migration.version, migration.name
                    )));
                }
                continue;
            }
            for statement in migration.statements() {
                self.client.query(&statement).execute().await?;
            }
            self.record(migration).await?;
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applied clickhouse migration"
            );
            applied_now += 1;
        }
        Ok(applied_now)
    }

    /// Returns the versions recorded in `schema_migrations`, in order.
    pub async fn applied_versions(&self) -> Result<Vec<u32>> {
        Ok(self
            .applied_migrations()
            .await?
            .into_iter()
            .map(|row| row.version)
            .collect())
    }

    async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>> {
        let rows = self
            .client
            .query("SELECT ?fields FROM schema_migrations ORDER BY version")
            .fetch_all::<AppliedMigration>()
            .await?;
        Ok(rows)
    }

    async fn record(&self, migration: &Migration) -> Result<()> {
        let applied_at = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX);
        let mut insert = self
            .client
            .insert::<AppliedMigration>("schema_migrations")
            .await?;
        insert
            .write(&AppliedMigration {
                version: migration.version,
                name: migration.name.to_owned(),
                checksum: migration.checksum(),
                applied_at,
            })
            .await?;
        insert.end().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_matches_the_folder_in_order() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/clickhouse");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .expect("migrations folder is readable")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|migration| format!("{:04}_{}.sql", migration.version, migration.name))
            .collect();
        assert_eq!(files, listed);
        assert!(
            MIGRATIONS
                .windows(2)
                .all(|pair| pair[0].version < pair[1].version)
        );
    }

    #[test]
    fn statements_split_at_line_ending_semicolons_and_drop_comments() {
        let migration = Migration {
            version: 9,
            name: "two",
            sql: "-- a comment; with a semicolon\nCREATE TABLE a (x String);\n\nALTER TABLE a ADD COLUMN y String;\n",
        };
        let statements: Vec<String> = migration.statements().collect();
        assert_eq!(
            statements,
            [
                "CREATE TABLE a (x String)",
                "ALTER TABLE a ADD COLUMN y String"
            ]
        );
    }
}
