//! The aggregator resuming where it did not stop: in the middle of a block (the group's offset
//! set by hand, a new group, or the log's start moved past the committed offset), with another
//! block size than the sums were written in, and replaying after ClickHouse merged the dedup
//! memory. Usage must stay exact.

use std::time::Duration;

use serde_json::Value;

use super::aggregator::{AGGREGATOR_SETTINGS, BLOCK_RECORDS, EventsOffsets, send_more};
use crate::e2e::meter_load::{Fleet, assert_sent_usage_converges, base_time, event};
use crate::e2e::support::{Serve, TestEnv, run_bounded};

/// Each tenant's events numbered `numbers`, in requests of one event, so that every event is a
/// record of its own and offsets are easy to place; adds them to `sent`.
async fn send_singly(
    ingest: &Serve,
    fleet: &Fleet,
    sent: &mut [Vec<Value>],
    numbers: std::ops::Range<usize>,
) {
    let base = base_time();
    for number in numbers {
        let one = fleet
            .tenants
            .iter()
            .map(|_| vec![event(base, number)])
            .collect();
        send_more(ingest, fleet, sent, one).await;
    }
}

/// A test's topic of one partition, with its ingest node and an aggregator of small blocks.
async fn one_partition(tenants: usize) -> (TestEnv, Fleet, Serve, Serve) {
    let mut env = TestEnv::named();
    env.kafka.partitions = 1;
    env.create_migrated().await;
    let fleet = Fleet::create(&env, tenants).await;
    let ingest = env.serve("ingest", &[]).await;
    let aggregator = env.serve("meter", &AGGREGATOR_SETTINGS).await;
    (env, fleet, ingest, aggregator)
}

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_stays_exact_when_reading_resumes_in_the_middle_of_a_block() {
    let (env, fleet, ingest, mut aggregator) = one_partition(2).await;
    let base = base_time();
    let mut sent = vec![Vec::new(); fleet.tenants.len()];

    // 40 events of each tenant, one per record: block 0 is full, block 1 half read.
    send_singly(&ingest, &fleet, &mut sent, 0..40).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, SETTLE).await;
    // SIGTERM, so that it leaves the group (tansu 0.6 keeps a SIGKILLed member in it for good).
    aggregator.terminate().await;

    // The group's offset moves to the middle of the written part of block 1, as when the
    // log's start moved there and the consumer was reset to it.
    let offsets = EventsOffsets::of(&env);
    let block_records: i64 = BLOCK_RECORDS.parse().expect("a number");
    let end = offsets.end(0);
    assert!(
        end > block_records + 10 && end < 2 * block_records,
        "the test needs its end in block 1: {end}"
    );
    offsets.commit(0, block_records + 10);

    // Reading resumes there: what block 1's rows hold before it still counts, what follows
    // adds to it, and block 2 starts afresh.
    let _aggregator = env.serve("meter", &AGGREGATOR_SETTINGS).await;
    send_singly(&ingest, &fleet, &mut sent, 40..70).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, SETTLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_clickhouse_merged_the_dedup_memory_decides_as_before() {
    let (env, fleet, ingest, mut aggregator) = one_partition(1).await;
    let base = base_time();
    let mut sent = vec![Vec::new(); fleet.tenants.len()];
    send_singly(&ingest, &fleet, &mut sent, 0..20).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, SETTLE).await;
    aggregator.terminate().await;

    // As if a copy of e3 in another partition had been recorded as first by another
    // aggregator at the same moment, and ClickHouse then merged the rows.
    let tenant = fleet.tenants[0].id;
    let client = env.analytics().client().clone();
    for sql in [
        format!(
            "INSERT INTO event_positions SELECT key_hash, tenant_id, source, id, seen_date, 1, \
             kafka_offset, position FROM event_positions WHERE tenant_id = '{tenant}' AND id = 'e3'"
        ),
        "OPTIMIZE TABLE event_positions FINAL".to_owned(),
    ] {
        client
            .query(&sql)
            .execute()
            .await
            .expect("ClickHouse runs it");
    }

    // The partition is read again from its start: e3's first occurrence is still its own, so
    // it counts as before.
    EventsOffsets::of(&env).commit(0, 0);
    let _aggregator = env.serve("meter", &AGGREGATOR_SETTINGS).await;
    send_singly(&ingest, &fleet, &mut sent, 20..25).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, SETTLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregator_with_another_block_size_refuses_to_start_and_counts_nothing_twice() {
    let env = TestEnv::migrated().await;
    let fleet = Fleet::create(&env, 1).await;
    let ingest = env.serve("ingest", &[]).await;
    let blocks_of_1000 = [("TALLY__METER__BLOCK_RECORDS", "1000")];
    let mut aggregator = env.serve("meter", &blocks_of_1000).await;
    let base = base_time();
    let mut sent = vec![Vec::new(); fleet.tenants.len()];
    send_singly(&ingest, &fleet, &mut sent, 0..20).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, SETTLE).await;
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
    let _aggregator = env.serve("meter", &blocks_of_1000).await;
    send_singly(&ingest, &fleet, &mut sent, 20..40).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, SETTLE).await;
}
