//! The error type of the domain core: one variant per store plus the domain's own refusals.

/// Everything that can go wrong in the domain core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value did not have the expected form; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The record does not exist (or belongs to another tenant).
    #[error("{0} not found")]
    NotFound(String),
    /// The record conflicts with an existing one, such as a duplicate name.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this, whatever the input; the message says why.
    #[error("{0}")]
    Forbidden(String),
    /// A per-tenant cap on definitions (meters, keys, event types…) is reached.
    #[error("{0}")]
    LimitReached(String),
    /// A store did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// PostgreSQL (the catalog) failed.
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// A PostgreSQL migration failed.
    #[error("postgres migration: {0}")]
    PostgresMigration(#[from] sqlx::migrate::MigrateError),
    /// ClickHouse (the analytics store) failed.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// The Kafka-protocol broker (the bus) failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The broker refused to create a topic.
    #[error("kafka: cannot create topic {topic}: {code}")]
    TopicCreation {
        /// The topic's name.
        topic: String,
        /// The broker's error code.
        code: rdkafka::types::RDKafkaErrorCode,
    },
}

/// The result type of the domain core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
