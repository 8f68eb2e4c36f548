//! The aggregator resuming where it did not stop: in the middle of a block (the group's offset
//! set by hand, a new group, or the log's start moved past the committed offset), and with
//! another block size than the sums were written in. Usage must stay exact.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use crate::e2e::meter::send_all;
use crate::e2e::meter_load::{Fleet, assert_usage_converges, base_time, event, expected_usage};
use crate::e2e::support::{Serve, TestEnv, run_bounded};

/// Records per block: small, so that a few requests fill more than one.
const BLOCK_RECORDS: &str = "50";

/// Each tenant's events numbered `numbers`, in requests of one event, so that every event is a
/// record of its own and offsets are easy to place.
async fn send_singly(
    ingest: &Serve,
    fleet: &Fleet,
    numbers: std::ops::Range<usize>,
) -> Vec<Vec<Value>> {
    let base = base_time();
    let streams: Vec<Vec<Value>> = fleet
        .tenants
        .iter()
        .map(|_| numbers.clone().map(|number| event(base, number)).collect())
        .collect();
    for number in 0..numbers.len() {
        let one: Vec<Vec<Value>> = streams
            .iter()
            .map(|stream| vec![stream[number].clone()])
            .collect();
        send_all(&ingest.base, fleet, &one).await;
    }
    streams
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_stays_exact_when_reading_resumes_in_the_middle_of_a_block() {
    let mut env = TestEnv::named();
    env.kafka.partitions = 1;
    env.create_migrated().await;
    let fleet = Fleet::create(&env, 2).await;
    let settings = [("TALLY__METER__BLOCK_RECORDS", BLOCK_RECORDS)];
    let ingest = env.serve("ingest", &[]).await;
    let mut aggregator = env.serve("meter", &settings).await;
    let base = base_time();

    // 40 events of each tenant, one per record: block 0 is full, block 1 half read.
    let mut sent = send_singly(&ingest, &fleet, 0..40).await;
    let expected = expected_usage(&fleet, &sent);
    assert_usage_converges(
        &env.analytics(),
        &fleet,
        base,
        &expected,
        Duration::from_secs(30),
    )
    .await;
    // SIGTERM, so that it leaves the group (tansu 0.6 keeps a SIGKILLed member in it for good).
    aggregator.terminate().await;

    // The group's offset moves to the middle of the written part of block 1, as when the
    // log's start moved there and the consumer was reset to it.
    let topic = format!("{}events", env.kafka.topic_prefix);
    let consumer: BaseConsumer = env
        .kafka
        .consumer_config(&env.meter_group_id())
        .create()
        .expect("a consumer of the group");
    let (_, end) = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(5))
        .expect("reads the partition's end");
    let block_records: i64 = BLOCK_RECORDS.parse().expect("a number");
    assert!(
        end > block_records + 10 && end < 2 * block_records,
        "the test needs its end in block 1: {end}"
    );
    let middle = block_records + 10;
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(middle))
        .expect("lists the offset");
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("commits the offset by hand");
    drop(consumer);

    // Reading resumes there: what block 1's rows hold before it still counts, what follows
    // adds to it, and block 2 starts afresh.
    let _aggregator = env.serve("meter", &settings).await;
    let more = send_singly(&ingest, &fleet, 40..70).await;
    for (all, stream) in sent.iter_mut().zip(more) {
        all.extend(stream);
    }
    let expected = expected_usage(&fleet, &sent);
    assert_usage_converges(
        &env.analytics(),
        &fleet,
        base,
        &expected,
        Duration::from_secs(30),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregator_with_another_block_size_refuses_to_start_and_counts_nothing_twice() {
    let env = TestEnv::migrated().await;
    let fleet = Fleet::create(&env, 1).await;
    let ingest = env.serve("ingest", &[]).await;
    let mut aggregator = env
        .serve("meter", &[("TALLY__METER__BLOCK_RECORDS", "1000")])
        .await;
    let base = base_time();
    let mut sent = send_singly(&ingest, &fleet, 0..20).await;
    assert_usage_converges(
        &env.analytics(),
        &fleet,
        base,
        &expected_usage(&fleet, &sent),
        Duration::from_secs(30),
    )
    .await;
    // SIGTERM, so that it leaves the group (tansu 0.6 keeps a SIGKILLed member in it for good).
    aggregator.terminate().await;

    // Blocks of 50 would cut the same offsets into other blocks, whose rows would add to the
    // written ones: the aggregator says so and exits.
    let refused = run_bounded(
        env.tally()
            .env("TALLY__METER__BLOCK_RECORDS", "50")
            .args(["serve", "--roles", "meter"]),
    )
    .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "meter.block_records is 50, but the sums in ClickHouse are cut in blocks of 1000 \
             records; it cannot change while they exist, so set it back to 1000"
        ),
        "{stderr}"
    );

    // With the size it was written in, the aggregator goes on counting exactly.
    let _aggregator = env
        .serve("meter", &[("TALLY__METER__BLOCK_RECORDS", "1000")])
        .await;
    let more = send_singly(&ingest, &fleet, 20..40).await;
    for (all, stream) in sent.iter_mut().zip(more) {
        all.extend(stream);
    }
    assert_usage_converges(
        &env.analytics(),
        &fleet,
        base,
        &expected_usage(&fleet, &sent),
        Duration::from_secs(30),
    )
    .await;
}
