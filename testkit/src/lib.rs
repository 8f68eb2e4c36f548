//! What Tally's test tiers share, and only tests use (a dev-dependency, never published): the
//! addresses of the services that `scripts/services.sh` started, and a private namespace per
//! test in each of them — a PostgreSQL database copied from a migrated template, a migrated
//! ClickHouse database and a Kafka topic prefix, all with random names — so that tests run in
//! parallel and never depend on order.
//!
//! Every call into Tally's catalog and analytics code sits in [`store`], so that a change of
//! those APIs touches one small module.

mod env;
pub mod http;
pub mod kafka;
mod postgres;
pub mod store;
pub mod stripe;

use tally_meter::analytics::{Analytics, ClickHouseConfig};
use tally_meter::bus::KafkaConfig;
use tally_meter::catalog::{Catalog, PostgresConfig};
use uuid::Uuid;

pub use self::env::{ServiceEnv, service_env};

/// Partitions of each test topic: enough for the aggregator's partition handling to matter.
pub const TEST_PARTITIONS: i32 = 3;

/// A private namespace in each store for one test, with random names.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// Unique suffix of every name.
    pub id: String,
    /// Catalog settings pointing at the test's own database.
    pub postgres: PostgresConfig,
    /// Analytics settings pointing at the test's own database.
    pub clickhouse: ClickHouseConfig,
    /// Bus settings with the test's own topic prefix.
    pub kafka: KafkaConfig,
}

impl Namespace {
    /// Creates an empty PostgreSQL database; the ClickHouse database and the topics do not
    /// exist yet. For tests of migrations themselves.
    pub async fn empty() -> Self {
        let namespace = Self::named();
        namespace.create_empty().await;
        namespace
    }

    /// Creates a namespace with every store ready, as after `tally migrate`: a PostgreSQL
    /// database copied from the migrated template, a migrated ClickHouse database and the
    /// topics, with [`TEST_PARTITIONS`] partitions each.
    pub async fn migrated() -> Self {
        let namespace = Self::named();
        namespace.create_migrated().await;
        namespace
    }

    /// Returns the names of a new namespace on the test services without creating anything,
    /// for a test that changes a setting (say, points the bus at a broker of its own) before
    /// calling [`Self::create_migrated`].
    pub fn named() -> Self {
        let id = random_id();
        let services = ServiceEnv::from_env();
        Self {
            postgres: postgres::config(&services, &id),
            clickhouse: ClickHouseConfig {
                url: services.clickhouse_url.clone(),
                database: format!("tally_test_{id}"),
                ..ClickHouseConfig::default()
            },
            kafka: KafkaConfig {
                brokers: services.kafka_brokers.clone(),
                topic_prefix: format!("test-{id}."),
                partitions: TEST_PARTITIONS,
                ..KafkaConfig::default()
            },
            id,
        }
    }

    /// Creates the namespace's PostgreSQL database, empty.
    pub async fn create_empty(&self) {
        postgres::create_database(&ServiceEnv::from_env(), &self.id, None).await;
    }

    /// Creates every store of the namespace, migrated: the PostgreSQL database as a copy of
    /// the template, the ClickHouse database, and the topics.
    pub async fn create_migrated(&self) {
        let services = ServiceEnv::from_env();
        let template = postgres::template(&services).await;
        tokio::join!(
            postgres::create_database(&services, &self.id, Some(&template)),
            store::migrate_analytics(&self.clickhouse),
            store::create_topics(&self.kafka),
        );
    }

    /// Connects to the test's catalog database.
    pub async fn catalog(&self) -> Catalog {
        store::connect_catalog(&self.postgres).await
    }

    /// Returns a handle on the test's ClickHouse database.
    pub fn analytics(&self) -> Analytics {
        Analytics::new(&self.clickhouse)
    }
}

/// Returns twelve random lowercase hex digits: short enough for database names, unique enough
/// for a test run.
pub fn random_id() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}
