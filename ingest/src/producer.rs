//! Appends accepted events and quarantined items to the bus and waits for the broker's
//! acknowledgement: a request is answered 2xx only when every one of its records is in Kafka
//! (idempotent producer, `acks=all`). Records are JSON, compressed by the producer in batches.
//!
//! An idempotent producer can be left unusable by an outage: a fatal idempotence error, or,
//! after records timed out, an epoch bump for its producer id that a restarted broker may not
//! handle (tansu 0.6 fails every later write). So after any failed delivery the producer is
//! replaced by a fresh one, at most every few seconds; the next one starts with a new producer
//! id. Requests that failed meanwhile got 503 and are retried by their senders; records that
//! were in fact stored are deduplicated downstream by `(tenant, source, id)`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use tally_meter::bus::{KafkaConfig, Topics};
use tally_meter::event::{EventBatch, MeteringRecord, QuarantineRecord};

use crate::telemetry::{
    ProducerNotCreated, ProducerReplaced, RecordNotEnqueued, RecordsUndeliveredAtShutdown,
};

/// Why records could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The local queue is full: the broker is slow or away.
    #[error("the producer queue is full")]
    QueueFull,
    /// The broker did not acknowledge in time, or refused.
    #[error("kafka did not acknowledge: {0}")]
    NotAcknowledged(KafkaError),
    /// The delivery report was lost (the producer is shutting down).
    #[error("the delivery report was lost")]
    Canceled,
    /// No delivery report came within the delivery timeout and its grace.
    #[error("no delivery report within {0:?}")]
    NoReport(Duration),
}

/// A record about to be sent.
pub struct OutRecord {
    topic: Topic,
    key: String,
    payload: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Topic {
    Events,
    Quarantine,
    Metering,
}

impl OutRecord {
    /// An events record, under the given key.
    pub fn events(key: String, batch: &EventBatch) -> Self {
        Self::json(Topic::Events, key, batch)
    }

    /// A quarantine record, keyed by tenant.
    pub fn quarantine(record: &QuarantineRecord) -> Self {
        Self::json(Topic::Quarantine, record.tenant_id.to_string(), record)
    }

    /// A metering record, keyed by tenant.
    pub fn metering(record: &MeteringRecord) -> Self {
        Self::json(Topic::Metering, record.tenant_id.to_string(), record)
    }

    fn json(topic: Topic, key: String, value: &impl serde::Serialize) -> Self {
        // Serializing these plain structs to a Vec cannot fail.
        let payload = serde_json::to_vec(value).unwrap_or_default();
        Self {
            topic,
            key,
            payload,
        }
    }
}

/// Least time between two producer replacements.
const MIN_REBUILD_INTERVAL: Duration = Duration::from_secs(3);

/// How long past the delivery timeout a request waits for its reports before it gives up: the
/// client library should have failed the records by then, and a request must get its answer.
const REPORT_GRACE: Duration = Duration::from_secs(1);

/// The ingest tier's Kafka producer.
pub struct Producer {
    client: ClientConfig,
    inner: RwLock<Arc<FutureProducer>>,
    rebuilt_at: Mutex<Instant>,
    topics: Topics,
    delivery_timeout: Duration,
}

impl Producer {
    /// Creates the producer; `delivery_timeout` bounds how long a record may wait for its ack.
    pub fn new(config: &KafkaConfig, delivery_timeout: Duration) -> tally_meter::Result<Self> {
        let mut client = config.producer_config();
        client
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().to_string(),
            )
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("queue.buffering.max.kbytes", "262144");
        Ok(Self {
            inner: RwLock::new(Arc::new(client.create()?)),
            client,
            rebuilt_at: Mutex::new(Instant::now()),
            topics: config.topics(),
            delivery_timeout,
        })
    }

    fn current(&self) -> Arc<FutureProducer> {
        Arc::clone(&self.inner.read())
    }

    /// Replaces the producer after a failed delivery, unless it was replaced recently.
    fn rebuild(&self, cause: &dyn std::fmt::Display) {
        let mut rebuilt_at = self.rebuilt_at.lock();
        if rebuilt_at.elapsed() < MIN_REBUILD_INTERVAL {
            return;
        }
        match self.client.create::<FutureProducer>() {
            Ok(fresh) => {
                ProducerReplaced { error: cause }.emit();
                let old = std::mem::replace(&mut *self.inner.write(), Arc::new(fresh));
                *rebuilt_at = Instant::now();
                drop_off_runtime(old);
            }
            Err(error) => ProducerNotCreated { error: &error }.emit(),
        }
    }

    /// Sends every record and waits until the broker acknowledged all of them.
    pub async fn send_all(&self, records: Vec<OutRecord>) -> Result<(), ProduceError> {
        let producer = self.current();
        let mut deliveries: Vec<DeliveryFuture> = Vec::with_capacity(records.len());
        for record in &records {
            let topic = match record.topic {
                Topic::Events => &self.topics.events,
                Topic::Quarantine => &self.topics.quarantine,
                Topic::Metering => &self.topics.metering,
            };
            let future_record = FutureRecord::to(topic)
                .key(&record.key)
                .payload(&record.payload);
            match producer.send_result(future_record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((error, _)) => {
                    RecordNotEnqueued { error: &error }.emit();
                    return Err(ProduceError::QueueFull);
                }
            }
        }
        let wait = self.delivery_timeout + REPORT_GRACE;
        let outcome = tokio::time::timeout(wait, first_failure(deliveries))
            .await
            .unwrap_or(Err(ProduceError::NoReport(wait)));
        if let Err(error @ (ProduceError::NotAcknowledged(_) | ProduceError::NoReport(_))) =
            &outcome
        {
            self.rebuild(error);
        }
        drop_off_runtime(producer);
        outcome
    }

    /// Waits up to `timeout` for queued records to be delivered, at shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.current().flush(Timeout::After(timeout)) {
            RecordsUndeliveredAtShutdown { error: &error }.emit();
        }
    }
}

/// Waits for every delivery report, and gives the first failure.
async fn first_failure(deliveries: Vec<DeliveryFuture>) -> Result<(), ProduceError> {
    let mut first_error = None;
    for delivery in deliveries {
        let outcome = match delivery.await {
            Ok(Ok(_)) => continue,
            Ok(Err((error, _))) => ProduceError::NotAcknowledged(error),
            Err(_) => ProduceError::Canceled,
        };
        first_error.get_or_insert(outcome);
    }
    first_error.map_or(Ok(()), Err)
}

/// Drops a reference to a producer; the last one destroys it, which purges, flushes and joins
/// its threads, so that runs on a blocking thread rather than an async worker.
fn drop_off_runtime(producer: Arc<FutureProducer>) {
    if let Some(last) = Arc::into_inner(producer) {
        tokio::task::spawn_blocking(move || drop(last));
    }
}
