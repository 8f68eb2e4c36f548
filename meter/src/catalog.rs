//! The catalog seam: control-plane records (tenants, API keys, and later meters, quotas, plans)
//! in PostgreSQL. This module owns the connection pool and the schema migrations; the records
//! themselves have their query functions next to their types ([`crate::tenant`],
//! [`crate::api_key`]).

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use crate::ids::TenantId;
use crate::{Error, Result};

/// The PostgreSQL pool every catalog query runs on.
pub type Pool = sqlx::PgPool;

/// The migrations under `migrations/postgres`, compiled into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Lock id (any fixed number) that serializes schema changes across processes, for the
/// ClickHouse migrations which have no lock of their own.
const SCHEMA_LOCK_ID: i64 = 0x7461_6c6c_7900;

/// Connection settings for the catalog (`[postgres]` in the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection URL, such as `postgres://tally:secret@db.internal:5432/tally`.
    pub url: SecretString,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for a connection before giving up, in seconds.
    pub connect_timeout_secs: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("postgres://postgres@127.0.0.1:5432/tally"),
            max_connections: 16,
            connect_timeout_secs: 5,
        }
    }
}

impl PostgresConfig {
    /// Parses the URL, refusing a malformed one with a message that never shows the password.
    pub fn connect_options(&self) -> Result<PgConnectOptions> {
        let url = self.url.expose_secret();
        let invalid = || {
            Error::Invalid(
                "postgres.url must look like postgres://USER[:PASSWORD]@HOST:PORT/DATABASE"
                    .to_owned(),
            )
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid());
        }
        PgConnectOptions::from_str(url).map_err(|_| invalid())
    }

    /// Returns `host:port/database` for messages, leaving out credentials.
    pub fn display_target(&self) -> String {
        match self.connect_options() {
            Ok(options) => format!(
                "{}:{}/{}",
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or("")
            ),
            Err(_) => "(invalid url)".to_owned(),
        }
    }
}

/// Opens a pool and checks that the server answers, within the configured timeout. The first
/// connection is made directly so that a failure reports its cause (refused, unknown host, bad
/// password) rather than the pool's timeout.
pub async fn connect(config: &PostgresConfig) -> Result<Pool> {
    let options = config.connect_options()?;
    let timeout = Duration::from_secs(config.connect_timeout_secs);
    let first = tokio::time::timeout(timeout, PgConnection::connect_with(&options))
        .await
        .map_err(|_| Error::Timeout(timeout))??;
    first.close().await?;
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(timeout)
        .connect_lazy_with(options);
    Ok(pool)
}

/// Maps a failed write that referenced a missing tenant to [`Error::NotFound`], and any other
/// failure to [`Error::Postgres`].
pub(crate) fn tenant_must_exist(tenant: TenantId) -> impl FnOnce(sqlx::Error) -> Error {
    move |error| match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            Error::NotFound(format!("tenant {tenant}"))
        }
        _ => Error::Postgres(error),
    }
}

/// Checks that the catalog answers a trivial query.
pub async fn ping(pool: &Pool) -> Result<()> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// Applies the pending PostgreSQL migrations and returns how many were applied. Safe to run
/// twice or from several processes at once: sqlx holds an advisory lock while it migrates.
pub async fn migrate(pool: &Pool) -> Result<usize> {
    let mut connection = pool.acquire().await?;
    let applied_before = applied_migration_count(&mut connection).await?;
    MIGRATOR.run(&mut *connection).await?;
    let applied_after = applied_migration_count(&mut connection).await?;
    Ok(applied_after - applied_before)
}

async fn applied_migration_count(connection: &mut PgConnection) -> Result<usize> {
    let table_exists: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut *connection)
            .await?;
    if !table_exists {
        return Ok(0);
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *connection)
        .await?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Holds a cross-process schema lock (a PostgreSQL session advisory lock) until released; used
/// to serialize schema changes in stores that have no lock of their own.
pub struct SchemaLock {
    /// The session holding the lock; `None` once released.
    connection: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

impl SchemaLock {
    /// Waits for the lock and takes it.
    pub async fn acquire(pool: &Pool) -> Result<Self> {
        let mut connection = pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(SCHEMA_LOCK_ID)
            .execute(&mut *connection)
            .await?;
        Ok(Self {
            connection: Some(connection),
        })
    }

    /// Releases the lock and returns its connection to the pool.
    pub async fn release(mut self) -> Result<()> {
        if let Some(mut connection) = self.connection.take() {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(SCHEMA_LOCK_ID)
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    }
}

impl Drop for SchemaLock {
    /// A lock dropped without [`SchemaLock::release`] (an error path) must not go back to the
    /// pool still held: its connection is detached and closed, which ends the server session
    /// and with it the lock.
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            drop(connection.detach());
        }
    }
}
