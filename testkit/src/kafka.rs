//! Reading what a test's topics hold, from their first record.

use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use tally_meter::bus::KafkaConfig;
use tally_meter::event::{Event, EventBatch};
use uuid::Uuid;

/// Reads records from the start of `topic` until `expected` arrived, then `settle` longer to
/// catch any extra; panics if fewer arrive within `timeout`. Returns (key, payload) pairs.
pub async fn read_topic(
    kafka: &KafkaConfig,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<(String, Vec<u8>)> {
    let consumer: StreamConsumer = kafka
        .consumer_config(&format!("reader-{}", Uuid::new_v4().simple()))
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribes");
    let mut records = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut settle_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let until = settle_until.unwrap_or(deadline);
        if now >= until {
            break;
        }
        match tokio::time::timeout(until - now, consumer.recv()).await {
            Ok(Ok(message)) => {
                let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
                records.push((key, message.payload().unwrap_or_default().to_vec()));
                if records.len() >= expected && settle_until.is_none() {
                    settle_until = Some(Instant::now() + Duration::from_secs(1));
                }
            }
            Ok(Err(error)) => panic!("cannot read {topic}: {error}"),
            Err(_) => break,
        }
    }
    assert!(
        records.len() >= expected,
        "only {} of {expected} records arrived on {topic} within {timeout:?}",
        records.len()
    );
    records
}

/// Reads every event on the test's events topic (waiting for at least one record).
pub async fn read_events(kafka: &KafkaConfig, timeout: Duration) -> Vec<Event> {
    read_topic(kafka, &kafka.topics().events, 1, timeout)
        .await
        .iter()
        .flat_map(|(_, payload)| {
            serde_json::from_slice::<EventBatch>(payload)
                .expect("an EventBatch")
                .events
        })
        .collect()
}
