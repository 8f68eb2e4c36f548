//! Test databases in PostgreSQL, copied from a template migrated once per migration set.
//!
//! The template is named by a hash of the migrations compiled into Tally, so a changed or added
//! migration makes a new one. Test processes run in parallel, so a template is checked and
//! built under a session advisory lock on the admin database: the first process builds it
//! while the others wait, then finds it ready. A template is only marked `IS_TEMPLATE` once
//! fully migrated; one left half-built by a crashed process is dropped and built again.
//! Copying it (`CREATE DATABASE … TEMPLATE …`) is much faster than migrating a database per
//! test.

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use tally_meter::catalog::PostgresConfig;
use tokio::sync::OnceCell;

use crate::env::ServiceEnv;
use crate::store;

/// Advisory lock id (any fixed number) serializing template builds across test processes.
const TEMPLATE_LOCK_ID: i64 = 0x7461_6c6c_7974;

/// This process's template, once checked or built.
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Returns the name of the migrated template database, building it if no process did yet.
pub async fn template(services: &ServiceEnv) -> String {
    TEMPLATE
        .get_or_init(|| ensure_template(services))
        .await
        .clone()
}

/// Returns the settings of the database `tally_test_ID`.
pub fn config(services: &ServiceEnv, id: &str) -> PostgresConfig {
    PostgresConfig {
        url: SecretString::from(services.postgres_url(&database_name(id))),
        ..PostgresConfig::default()
    }
}

fn database_name(id: &str) -> String {
    format!("tally_test_{id}")
}

/// Creates `tally_test_ID`, empty or as a copy of `template`.
pub async fn create_database(services: &ServiceEnv, id: &str, template: Option<&str>) {
    let database = database_name(id);
    let mut admin = connect_admin(services).await;
    let sql = match template {
        Some(template) => format!("CREATE DATABASE {database} TEMPLATE {template}"),
        None => format!("CREATE DATABASE {database}"),
    };
    execute(&mut admin, &sql).await;
    let _ = admin.close().await;
}

/// Returns `tally_template_HASH`, having built it under the lock if it was not ready.
async fn ensure_template(services: &ServiceEnv) -> String {
    let name = format!("tally_template_{}", migrations_hash());
    let mut admin = connect_admin(services).await;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK_ID)
        .execute(&mut admin)
        .await
        .expect("takes the template lock");
    let ready: Option<bool> =
        sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&mut admin)
            .await
            .expect("reads pg_database");
    match ready {
        Some(true) => {}
        Some(false) => {
            execute(&mut admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
            build_template(&mut admin, services, &name).await;
        }
        None => build_template(&mut admin, services, &name).await,
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK_ID)
        .execute(&mut admin)
        .await
        .expect("releases the template lock");
    let _ = admin.close().await;
    name
}

/// Creates and migrates the template, then marks it as one that nobody connects to.
async fn build_template(admin: &mut PgConnection, services: &ServiceEnv, name: &str) {
    execute(admin, &format!("CREATE DATABASE {name}")).await;
    store::migrate_catalog(&services.postgres_url(name)).await;
    execute(
        admin,
        &format!("ALTER DATABASE {name} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"),
    )
    .await;
}

/// Hashes the versions and checksums of the migrations compiled into Tally, in order: 16 hex
/// digits. The compiled set, not the folder, since it is what the template is migrated with.
fn migrations_hash() -> String {
    let mut hasher = Sha256::new();
    for (version, checksum) in tally_meter::catalog::migration_checksums() {
        hasher.update(version.to_le_bytes());
        hasher.update(checksum);
    }
    hasher.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn connect_admin(services: &ServiceEnv) -> PgConnection {
    PgConnection::connect(&services.postgres_admin_url)
        .await
        .expect("the test PostgreSQL server answers")
}

async fn execute(connection: &mut PgConnection, sql: &str) {
    sqlx::query(sql)
        .execute(connection)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}
