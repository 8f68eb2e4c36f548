//! The bus seam: Tally's event log on a Kafka-protocol broker. This module owns the broker
//! settings, the topic names, the client configurations every producer and consumer starts
//! from, and topic creation (brokers such as tansu do not create topics on first use).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use serde::Deserialize;

use crate::{Error, Result};

/// Broker settings (`[kafka]` in the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of bootstrap brokers.
    pub brokers: String,
    /// Prefix of every topic name: `tally.` gives `tally.events`, `tally.quarantine`, ….
    pub topic_prefix: String,
    /// Partitions of topics created by `tally migrate`.
    pub partitions: i32,
    /// Replication factor of topics created by `tally migrate`.
    pub replication_factor: i32,
    /// Extra librdkafka properties for every client, such as `security.protocol`.
    pub options: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".to_owned(),
            topic_prefix: "tally.".to_owned(),
            partitions: 12,
            replication_factor: 1,
            options: BTreeMap::new(),
        }
    }
}

/// The names of Tally's topics, derived from the configured prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Accepted events, keyed by tenant.
    pub events: String,
    /// Rejected events with their reasons and raw bytes.
    pub quarantine: String,
    /// Per-tenant, per-second counters from every ingest node.
    pub metering: String,
}

impl Topics {
    /// Returns every topic name.
    pub fn all(&self) -> [&str; 3] {
        [&self.events, &self.quarantine, &self.metering]
    }
}

impl KafkaConfig {
    /// Returns the topic names under the configured prefix.
    pub fn topics(&self) -> Topics {
        let prefix = &self.topic_prefix;
        Topics {
            events: format!("{prefix}events"),
            quarantine: format!("{prefix}quarantine"),
            metering: format!("{prefix}metering"),
        }
    }

    /// Returns the settings every client shares: the brokers and the extra options.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }

    /// Returns the settings for a producer that never loses or duplicates an acknowledged
    /// record: idempotent, acknowledged by all in-sync replicas. Batching and compression
    /// defaults (`linger.ms` 5, `compression.type` lz4) give way to `kafka.options`; the
    /// guarantees do not.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("linger.ms", "5").set("compression.type", "lz4");
        let shared = self.client_config();
        for (key, value) in shared.config_map() {
            config.set(key, value);
        }
        config.set("enable.idempotence", "true").set("acks", "all");
        config
    }

    /// Returns the settings for a member of a consumer group that commits offsets itself, only
    /// after what it read is stored. A fetch waits at most 10 ms for data (librdkafka's default
    /// of 500 ms made up half of ingest-to-queryable: see the README's "Where the time goes");
    /// `kafka.options` may change that, not the commits.
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("fetch.wait.max.ms", "10");
        for (key, value) in self.client_config().config_map() {
            config.set(key, value);
        }
        config
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        config
    }
}

/// How long topic creation may take before the brokers count as unreachable.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether [`ensure_topics`] created a topic or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicOutcome {
    /// The topic was created now.
    Created,
    /// The topic already existed.
    Existed,
}

/// Creates Tally's topics that do not exist yet, and says for each whether it was created.
pub async fn ensure_topics(config: &KafkaConfig) -> Result<Vec<(String, TopicOutcome)>> {
    let admin: AdminClient<DefaultClientContext> = config.client_config().create()?;
    let topics = config.topics();
    let new_topics: Vec<NewTopic<'_>> = topics
        .all()
        .into_iter()
        .map(|name| {
            NewTopic::new(
                name,
                config.partitions,
                TopicReplication::Fixed(config.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(ADMIN_TIMEOUT))
        .request_timeout(Some(ADMIN_TIMEOUT));
    let results = tokio::time::timeout(ADMIN_TIMEOUT, admin.create_topics(&new_topics, &options))
        .await
        .map_err(|_| Error::Timeout(ADMIN_TIMEOUT))??;
    results
        .into_iter()
        .map(|result| match result {
            Ok(name) => Ok((name, TopicOutcome::Created)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => Ok((name, TopicOutcome::Existed)),
            Err((topic, code)) => Err(Error::TopicCreation { topic, code }),
        })
        .collect()
}

/// A long-lived client that checks whether the brokers answer, for readiness probes.
#[derive(Clone)]
pub struct BusProbe {
    consumer: Arc<BaseConsumer>,
}

impl BusProbe {
    /// Creates the client; this does not contact the brokers yet.
    pub fn new(config: &KafkaConfig) -> Result<Self> {
        let consumer: BaseConsumer = config.client_config().create()?;
        Ok(Self {
            consumer: Arc::new(consumer),
        })
    }

    /// Asks the brokers for cluster metadata, failing after `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<()> {
        let consumer = Arc::clone(&self.consumer);
        tokio::task::spawn_blocking(move || consumer.fetch_metadata(None, timeout))
            .await
            .map_err(|join_error| Error::Invalid(format!("kafka probe failed: {join_error}")))??;
        Ok(())
    }
}
