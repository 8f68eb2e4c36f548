//! Who commits a partition after a rebalance: only its owner. An aggregator that read a
//! partition before the group gave it to another member keeps that partition's open blocks;
//! were it to commit them, it would move the new owner's committed offset back, and after a
//! restart the group would re-read, and rewrite, what the new owner had long finished.

use std::time::Duration;

use serde_json::Value;

use super::aggregator::{
    AGGREGATOR_SETTINGS, EventsOffsets, assert_commits_at_block_starts, counted, send_more,
    streams_with_resends,
};
use crate::e2e::meter_load::{Fleet, assert_sent_usage_converges, base_time, event};
use crate::e2e::support::{Serve, TestEnv, eventually, eventually_holds};

/// Most events ingest puts in one record: few, so that a few hundred events fill blocks.
const EVENTS_PER_RECORD: usize = 10;

/// How long usage may take to match the events sent so far.
const CONVERGES_WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_never_commits_a_partition_the_group_gave_to_another() {
    const TENANTS: usize = 10;
    /// Events per tenant sent in each phase.
    const PHASE: usize = 300;
    let mut env = TestEnv::named();
    env.kafka.partitions = 2;
    env.create_migrated().await;
    let fleet = Fleet::create(&env, TENANTS).await;
    let per_record = EVENTS_PER_RECORD.to_string();
    let ingest = env
        .serve(
            "ingest",
            &[("TALLY__INGEST__EVENTS_PER_RECORD", &per_record)],
        )
        .await;
    let offsets = EventsOffsets::of(&env);
    let base = base_time();
    let mut sent: Vec<Vec<Value>> = vec![Vec::new(); TENANTS];
    let partition_of = partitions_of_tenants(&ingest, &fleet, &offsets, &mut sent, base).await;
    assert!(
        (0..2).all(|partition| partition_of.contains(&partition)),
        "every tenant landed on one partition: {partition_of:?}"
    );
    let streams_on = |partition: i32, numbers: std::ops::Range<usize>| -> Vec<Vec<Value>> {
        streams_with_resends(TENANTS, numbers, base)
            .into_iter()
            .zip(&partition_of)
            .map(|(stream, on)| if *on == partition { stream } else { Vec::new() })
            .collect()
    };

    // The first aggregator alone reads both partitions, and so holds open blocks of both.
    let first = env.serve("meter", &AGGREGATOR_SETTINGS).await;
    let all = streams_with_resends(TENANTS, 1..PHASE, base);
    send_more(&ingest, &fleet, &mut sent, all).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, CONVERGES_WITHIN).await;
    assert_commits_at_block_starts(&env).await;

    // A second one joins and takes one partition.
    let second = env.serve("meter", &AGGREGATOR_SETTINGS).await;
    let (kept, taken) = split_between(&env, &first, &second).await;
    eprintln!("the first aggregator keeps partition {kept}, the second takes {taken}");
    let taken_over_at = offsets
        .committed(taken)
        .expect("the first aggregator committed");
    let taken_end = offsets.end(taken);

    // Only the taken partition gets events; the second aggregator reads and commits them.
    let taken_events = streams_on(taken, PHASE..2 * PHASE);
    let new_originals = PHASE * partition_of.iter().filter(|&&on| on == taken).count();
    send_more(&ingest, &fleet, &mut sent, taken_events).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, CONVERGES_WITHIN).await;
    assert_commits_at_block_starts(&env).await;
    let (second_commit, _) = offsets.last_block_start(taken);
    assert!(
        second_commit > taken_over_at,
        "the taken partition advanced no block: {taken_over_at} → {second_commit}"
    );
    // The second resumed where the first committed: it re-read (and counted again, as the
    // same rows) no more than the records of the one block left open.
    let recounted = counted(&second)
        .await
        .checked_sub(u64::try_from(new_originals).expect("fits"))
        .expect("the second counted every new event");
    let reread_records = taken_end - taken_over_at;
    let most = u64::try_from(reread_records).expect("fits") * EVENTS_PER_RECORD as u64;
    eprintln!("the second re-read {reread_records} records and counted {recounted} events again");
    assert!(
        recounted <= most,
        "the second counted {recounted} events again, more than the {reread_records} records \
         from the first's commit at {taken_over_at} to the end at {taken_end} hold"
    );

    // Only the kept partition gets events: the first aggregator writes and commits, and the
    // second's committed offset must stay as it is.
    let kept_before = offsets.committed(kept);
    send_more(
        &ingest,
        &fleet,
        &mut sent,
        streams_on(kept, 2 * PHASE..3 * PHASE),
    )
    .await;
    let (kept_commit, _) = offsets.last_block_start(kept);
    assert!(
        Some(kept_commit) > kept_before,
        "the kept partition advanced no block: {kept_before:?} → {kept_commit}"
    );
    eventually_holds(
        Duration::from_secs(30),
        Duration::from_millis(200),
        &format!(
            "the first aggregator did not commit {kept_commit} on partition {kept} within 30 s"
        ),
        async || offsets.committed(kept) == Some(kept_commit),
    )
    .await;
    for _ in 0..10 {
        assert_eq!(
            offsets.committed(taken),
            Some(second_commit),
            "the committed offset of partition {taken}, which the second aggregator owns, moved"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_sent_usage_converges(&env, &fleet, &sent, base, CONVERGES_WITHIN).await;
    drop((first, second));
}

/// Sends each tenant's event 0 alone and returns the events partition each one landed on.
async fn partitions_of_tenants(
    ingest: &Serve,
    fleet: &Fleet,
    offsets: &EventsOffsets,
    sent: &mut [Vec<Value>],
    base: chrono::DateTime<chrono::Utc>,
) -> Vec<i32> {
    let mut partition_of = Vec::with_capacity(fleet.tenants.len());
    for tenant in 0..fleet.tenants.len() {
        let before = [offsets.end(0), offsets.end(1)];
        let mut streams = vec![Vec::new(); fleet.tenants.len()];
        streams[tenant].push(event(base, 0));
        send_more(ingest, fleet, sent, streams).await;
        let grown = (0..2).find(|&partition| offsets.end(partition) > before[partition as usize]);
        partition_of.push(grown.expect("the record landed on one of the two partitions"));
    }
    partition_of
}

/// Waits until the events partitions are split between the two aggregators, one each, as their
/// logs say; returns the first's and the second's.
async fn split_between(env: &TestEnv, first: &Serve, second: &Serve) -> (i32, i32) {
    let topic = format!("{}events", env.kafka.topic_prefix);
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            let owned = (assigned(first, &topic), assigned(second, &topic));
            if let ([kept], [taken]) = (owned.0.as_slice(), owned.1.as_slice())
                && kept != taken
            {
                return Ok((*kept, *taken));
            }
            Err(format!(
                "the events partitions were not split within 30 s: {owned:?}"
            ))
        },
    )
    .await
}

/// The partitions of `topic` in an aggregator's latest `kafka partitions assigned` log line.
fn assigned(aggregator: &Serve, topic: &str) -> Vec<i32> {
    let log = std::fs::read_to_string(&aggregator.log).unwrap_or_default();
    let Some(line) = log
        .lines()
        .rfind(|line| line.contains("kafka partitions assigned"))
    else {
        return Vec::new();
    };
    line.split_whitespace()
        .filter_map(|field| field.strip_prefix("partitions="))
        .flat_map(|list| list.split(','))
        .filter_map(|element| element.strip_prefix(topic)?.strip_prefix('/')?.parse().ok())
        .collect()
}
