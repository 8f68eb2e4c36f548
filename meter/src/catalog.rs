//! The catalog seam: control-plane records (tenants, API keys, meters, quotas, event types, web
//! sessions and the audit log) in PostgreSQL. This module owns the connection, the [`Catalog`]
//! handle every caller holds, the schema migrations and the schema lock; the SQL of each table
//! family lives in its own submodule, apart from the domain types it reads and writes (which
//! live in [`crate::tenant`], [`crate::api_key`], [`crate::quota`], [`crate::meter`],
//! [`crate::event_type`], [`crate::web_session`] and [`crate::audit`]).
//!
//! Query functions take the catalog as `impl Acquire<'_, Database = Postgres>` first, so that
//! one function runs on the handle (`&catalog`) or inside a caller's transaction (`&mut *tx`);
//! the ones that write several statements begin their own (nested) transaction on it. Helpers
//! that a query function calls inside its own transaction (the tenant lock, audit records) take
//! the transaction's `&mut PgConnection` instead: an `impl Acquire` instantiated with a
//! `&mut PgConnection` inside a future that must be `Send` (every HTTP handler's) fails with
//! "implementation of `Acquire` is not general enough", a known limit of the compiler.
//!
//! A table whose row several queries read keeps its column list once, in a small macro of its
//! file built on [`query_rows!`](crate::query_rows).

/// `sqlx::query_as!` into `$row`, with the row's `$columns` between the statement's own `$head`
/// (`SELECT`, or a write ending in `RETURNING`) and `$tail` (`FROM …`, or nothing), followed by
/// the statement's arguments. sqlx joins string literals added with `+` before it reads a query,
/// so the query is checked at compile time like any other. A catalog file wraps it once with its
/// row type and columns, as `meters` does with `query_meters!`.
#[macro_export]
macro_rules! query_rows {
    ($row:ident, $columns:literal, $head:literal, $tail:literal, $($arguments:tt)*) => {
        ::sqlx::query_as!($row, $head + " " + $columns + " " + $tail, $($arguments)*)
    };
}

pub mod api_keys;
pub mod audit;
pub mod event_types;
pub mod indicators;
pub mod meters;
pub mod quotas;
pub mod tenants;
pub mod web_sessions;

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Acquire, Connection, PgPool, Postgres, Transaction};

use crate::ids::TenantId;
use crate::{Error, Result};

/// The migrations under `migrations/postgres`, compiled into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The PostgreSQL migrations compiled into Tally: the version and checksum of each, in order.
pub fn migration_checksums() -> impl Iterator<Item = (i64, &'static [u8])> {
    MIGRATOR
        .iter()
        .map(|migration| (migration.version, migration.checksum.as_ref()))
}

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

/// The handle on the catalog that every caller holds: a pool of PostgreSQL connections, cheap
/// to clone. Query functions take `&catalog` (or a transaction begun on it) as their first
/// argument.
#[derive(Clone, Debug)]
pub struct Catalog {
    pool: PgPool,
}

impl Catalog {
    /// Opens a pool and checks that the server answers, within the configured timeout. The
    /// first connection is made directly so that a failure reports its cause (refused, unknown
    /// host, bad password) rather than the pool's timeout.
    pub async fn connect(config: &PostgresConfig) -> Result<Self> {
        let options = config.connect_options()?;
        let timeout = Duration::from_secs(config.connect_timeout_secs);
        let first = tokio::time::timeout(timeout, PgConnection::connect_with(&options))
            .await
            .map_err(|_| Error::Timeout(timeout))??;
        first.close().await?;
        Self::connect_lazy(config)
    }

    /// Opens a pool without contacting the server: connections are made on first use.
    pub fn connect_lazy(config: &PostgresConfig) -> Result<Self> {
        let options = config.connect_options()?;
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(config.connect_timeout_secs))
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// Applies the pending PostgreSQL migrations and returns how many were applied. Safe to run
    /// twice or from several processes at once: sqlx holds an advisory lock while it migrates.
    pub async fn migrate(&self) -> Result<usize> {
        let mut connection = self.pool.acquire().await?;
        let applied_before = applied_migration_count(&mut connection).await?;
        MIGRATOR.run(&mut *connection).await?;
        let applied_after = applied_migration_count(&mut connection).await?;
        Ok(applied_after - applied_before)
    }

    /// Checks that the catalog answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query_scalar!("SELECT 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    /// Begins a transaction; pass `&mut *transaction` to query functions to run them in it.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Returns the underlying pool: the escape hatch for tests that check stored rows (or set
    /// up databases) with raw SQL. Production code goes through the query functions instead.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The boxed future of [`Acquire`]'s methods.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Lets query functions take `&catalog` wherever they take a connection or a transaction, by
/// delegating to the pool. Like the pool's own implementation it holds for any lifetime `'c`,
/// since the futures borrow nothing from the handle.
impl<'c> Acquire<'c> for &Catalog {
    type Database = Postgres;
    type Connection = PoolConnection<Postgres>;

    fn acquire(self) -> BoxFuture<'c, sqlx::Result<Self::Connection>> {
        <&PgPool as Acquire<'c>>::acquire(&self.pool)
    }

    fn begin(self) -> BoxFuture<'c, sqlx::Result<Transaction<'c, Postgres>>> {
        <&PgPool as Acquire<'c>>::begin(&self.pool)
    }
}

/// Maps a failed write that referenced a missing tenant to [`Error::NotFound`], and any other
/// failure to [`Error::Postgres`].
fn tenant_must_exist(tenant: TenantId) -> impl FnOnce(sqlx::Error) -> Error {
    move |error| match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            Error::NotFound(format!("tenant {tenant}"))
        }
        _ => Error::Postgres(error),
    }
}

async fn applied_migration_count(connection: &mut PgConnection) -> Result<usize> {
    let table_exists = sqlx::query_scalar!(
        r#"SELECT to_regclass('_sqlx_migrations') IS NOT NULL AS "table_exists!""#
    )
    .fetch_one(&mut *connection)
    .await?;
    if !table_exists {
        return Ok(0);
    }
    // Not checked at compile time: `_sqlx_migrations` is the migrator's own table, which the
    // schema that `scripts/sqlx-prepare.sh` checks queries against does not have.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *connection)
        .await?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Holds a cross-process schema lock (a PostgreSQL session advisory lock) until released; used
/// to serialize schema changes in stores that have no lock of their own.
pub struct SchemaLock {
    /// The session holding the lock; `None` once released.
    connection: Option<PoolConnection<Postgres>>,
}

impl SchemaLock {
    /// Waits for the lock and takes it.
    pub async fn acquire(catalog: &Catalog) -> Result<Self> {
        let mut connection = catalog.pool.acquire().await?;
        sqlx::query!("SELECT pg_advisory_lock($1)", SCHEMA_LOCK_ID)
            .execute(&mut *connection)
            .await?;
        Ok(Self {
            connection: Some(connection),
        })
    }

    /// Releases the lock and returns its connection to the pool.
    pub async fn release(mut self) -> Result<()> {
        if let Some(mut connection) = self.connection.take() {
            sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", SCHEMA_LOCK_ID)
                .fetch_one(&mut *connection)
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
