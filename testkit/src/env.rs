//! The test services' addresses, from the environment `scripts/services.sh` writes.

/// Reads one of the variables `scripts/services.sh` exports, failing the test with what to do
/// when it is missing.
pub fn service_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with scripts/test.sh, or source the env file \
             of scripts/services.sh start DIR"
        )
    })
}

/// Where the test services listen.
#[derive(Debug, Clone)]
pub struct ServiceEnv {
    /// A superuser URL of the PostgreSQL server's `postgres` database
    /// (`TALLY_TEST_POSTGRES_ADMIN_URL`).
    pub postgres_admin_url: String,
    /// ClickHouse's HTTP interface (`TALLY__CLICKHOUSE__URL`).
    pub clickhouse_url: String,
    /// The Kafka-protocol broker (`TALLY__KAFKA__BROKERS`).
    pub kafka_brokers: String,
}

impl ServiceEnv {
    /// Reads the addresses, panicking with what to do when one is missing.
    pub fn from_env() -> Self {
        Self {
            postgres_admin_url: service_env("TALLY_TEST_POSTGRES_ADMIN_URL"),
            clickhouse_url: service_env("TALLY__CLICKHOUSE__URL"),
            kafka_brokers: service_env("TALLY__KAFKA__BROKERS"),
        }
    }

    /// Returns the URL of another database on the PostgreSQL server.
    pub fn postgres_url(&self, database: &str) -> String {
        let (server, _) = self
            .postgres_admin_url
            .rsplit_once('/')
            .expect("TALLY_TEST_POSTGRES_ADMIN_URL ends with /DATABASE");
        format!("{server}/{database}")
    }
}
