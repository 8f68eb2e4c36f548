//! The aggregator under faults: it is SIGKILLed again and again while events pour in, and two
//! aggregators share the partitions until one of them stops. Usage must still equal the
//! reference exactly: nothing lost, nothing counted twice. The first kill test's SLO counts
//! (good and total events of three tenants) must be exact too.
//!
//! Every test has its own consumer group (see `TestEnv::tally`), with short sessions so that the
//! broker drops a killed aggregator from the group within seconds. The test broker (tansu 0.6)
//! mishandles a new member joining while a dead one is still in the group: the new member can
//! end up with a stale, empty assignment and read nothing, for good. So a killed aggregator is
//! restarted once its session has expired rather than at once; what it left open is the same
//! either way.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use tally_meter::audit::Actor;
use tally_slo::burn::Counts;
use tally_slo::catalog::{self as slos, Slo};
use tally_slo::spec::SloSpec;
use tally_slo::status::status;

use crate::e2e::meter::send_all;
use crate::e2e::meter_load::{
    EVENT_TYPE, FAST_SESSIONS, Fleet, SESSION_EXPIRY, assert_sent_usage_converges, base_time, event,
};
use crate::e2e::support::{Serve, TestEnv, eventually, eventually_holds};

/// Records per aggregator block: small, so that kills land in the middle of blocks.
pub(crate) const BLOCK_RECORDS: &str = "50";

/// The settings of every aggregator of these tests: small blocks and short sessions.
pub(crate) const AGGREGATOR_SETTINGS: [(&str, &str); 2] = [
    ("TALLY__METER__BLOCK_RECORDS", BLOCK_RECORDS),
    ("TALLY__KAFKA__OPTIONS", FAST_SESSIONS),
];

/// Waits until `aggregator` has counted some events and returns how long that took; panics
/// after `timeout`.
async fn await_counting(aggregator: &Serve, timeout: Duration) -> Duration {
    let started = Instant::now();
    eventually_holds(
        timeout,
        Duration::from_millis(100),
        &format!(
            "the aggregator at {} counted nothing within {timeout:?}",
            aggregator.base
        ),
        async || counted(aggregator).await > 0,
    )
    .await;
    started.elapsed()
}

/// Sends `streams` (one per tenant of the fleet) through ingest and adds them to `sent`.
pub(crate) async fn send_more(
    ingest: &Serve,
    fleet: &Fleet,
    sent: &mut [Vec<Value>],
    streams: Vec<Vec<Value>>,
) {
    send_all(&ingest.base, fleet, &streams).await;
    for (all, stream) in sent.iter_mut().zip(streams) {
        all.extend(stream);
    }
}

/// Resends, for every tenant, every 20th event sent to it so far from its 11th on, and adds
/// them to `sent`.
pub(crate) async fn resend_some(ingest: &Serve, fleet: &Fleet, sent: &mut [Vec<Value>]) {
    let resends: Vec<Vec<Value>> = sent
        .iter()
        .map(|events| events.iter().skip(10).step_by(20).cloned().collect())
        .collect();
    send_more(ingest, fleet, sent, resends).await;
}

/// The events an aggregator has counted so far, from its `/metrics` (0 before its first write).
pub(crate) async fn counted(aggregator: &Serve) -> u64 {
    aggregator
        .metric(r#"tally_meter_events_total{outcome="counted"}"#)
        .await as u64
}

/// Each tenant's stream: the events numbered `numbers`, then a resend of every 20th of them.
pub(crate) fn streams_with_resends(
    tenants: usize,
    numbers: std::ops::Range<usize>,
    base: DateTime<Utc>,
) -> Vec<Vec<Value>> {
    (0..tenants)
        .map(|_| {
            let originals: Vec<Value> = numbers.clone().map(|n| event(base, n)).collect();
            let resends: Vec<Value> = originals.iter().step_by(20).cloned().collect();
            originals.into_iter().chain(resends).collect()
        })
        .collect()
}

/// Gives the first `count` tenants of the fleet an SLO whose good events have a value of at
/// least 0.
async fn non_negative_slos(env: &TestEnv, fleet: &Fleet, count: usize) -> Vec<Slo> {
    let spec = SloSpec::parse(&format!(
        r#"{{"name": "non-negative", "objective": "99", "window": "28d",
            "indicator": {{"kind": "ratio", "event_type": "{EVENT_TYPE}", "good": "$.value >= 0"}}}}"#
    ))
    .expect("an SLO");
    let catalog = env.catalog().await;
    let mut applied = Vec::new();
    for tenant in fleet.tenants.iter().take(count) {
        let (slo, _) = slos::apply(&catalog, tenant.id, &spec, Actor::Operator)
            .await
            .expect("applies");
        applied.push(slo);
    }
    applied
}

/// Waits until each of `slos` (those of the fleet's first tenants, in order) counts the
/// distinct events of its tenant's stream, and those with a value of at least 0 as good.
async fn assert_slo_counts_converge(
    env: &TestEnv,
    slos: &[Slo],
    streams: &[Vec<Value>],
    timeout: Duration,
) {
    let expected: Vec<Counts> = streams
        .iter()
        .take(slos.len())
        .map(|stream| {
            let mut seen = HashSet::new();
            stream
                .iter()
                .filter(|event| seen.insert(event["id"].to_string()))
                .map(|event| Counts {
                    good: u64::from(event["data"]["value"].as_f64().expect("a value") >= 0.0),
                    total: 1,
                })
                .sum()
        })
        .collect();
    eventually(timeout, Duration::from_millis(500), async || {
        let measured: Vec<Counts> = status(&env.analytics(), slos, Utc::now())
            .await
            .expect("measures the SLOs")
            .iter()
            .map(|slo| {
                slo.series
                    .first()
                    .map_or(Counts::default(), |series| Counts {
                        good: series.budget.total - series.budget.bad,
                        total: series.budget.total,
                    })
            })
            .collect();
        if measured == expected {
            Ok(())
        } else {
            Err(format!("SLO counts {measured:?}, not {expected:?}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_when_the_aggregator_is_killed_five_times() {
    const TENANTS: usize = 40;
    const EVENTS_PER_TENANT: usize = 5000;
    const KILLS: usize = 5;
    let env = TestEnv::migrated().await;
    let fleet = Arc::new(Fleet::create(&env, TENANTS).await);
    let settings = AGGREGATOR_SETTINGS;
    let ingest = env.serve("ingest", &[]).await;
    let mut aggregator = env.serve("meter", &settings).await;
    let base = base_time();
    // Three tenants keep an SLO on their stream, whose counts must be as exact as usage.
    let slos = non_negative_slos(&env, &fleet, 3).await;

    // 200k distinct events and 10k resends, sent while the aggregator keeps dying.
    let streams = Arc::new(streams_with_resends(TENANTS, 0..EVENTS_PER_TENANT, base));
    let sender = tokio::spawn({
        let fleet = Arc::clone(&fleet);
        let streams = Arc::clone(&streams);
        let base = ingest.base.clone();
        async move { send_all(&base, &fleet, &streams).await }
    });
    let started = Instant::now();
    let mut kills = 0;
    while kills < KILLS || !sender.is_finished() {
        // Each aggregator is killed at a random moment once it aggregates, with blocks open.
        let joined = await_counting(&aggregator, Duration::from_secs(30)).await;
        let delay = rand::rng().random_range(0..=1500);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let before = counted(&aggregator).await;
        aggregator.child.kill().await.expect("kills the aggregator");
        kills += 1;
        eprintln!(
            "kill {kills} at {:.1} s: counting after {:.1} s, killed {delay} ms later with {before} counted (sender done: {})",
            started.elapsed().as_secs_f64(),
            joined.as_secs_f64(),
            sender.is_finished()
        );
        // The broker mishandles a member joining while a dead one is still in the group (see
        // the module doc), so the new aggregator starts once the dead one is out.
        tokio::time::sleep(SESSION_EXPIRY).await;
        aggregator = env.serve("meter", &settings).await;
    }
    sender.await.expect("the sender finished");
    assert!(kills >= KILLS, "only {kills} kills");

    assert_sent_usage_converges(&env, &fleet, &streams, base, Duration::from_secs(90)).await;
    eprintln!("converged at {:.1} s", started.elapsed().as_secs_f64());
    assert_slo_counts_converge(&env, &slos, &streams, Duration::from_secs(30)).await;
    drop(aggregator);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_aggregators_split_partitions_and_one_takes_over_when_the_other_stops() {
    const TENANTS: usize = 24;
    const EVENTS_PER_TENANT: usize = 4000;
    /// Events per tenant sent at a time until both aggregators count.
    const STEP: usize = 100;
    let mut env = TestEnv::named();
    env.kafka.partitions = 4;
    env.create_migrated().await;
    let fleet = Fleet::create(&env, TENANTS).await;
    let settings = AGGREGATOR_SETTINGS;
    let ingest = env.serve("ingest", &[]).await;
    let first = env.serve("meter", &settings).await;
    let mut second = env.serve("meter", &settings).await;
    let base = base_time();
    let started = Instant::now();
    let mut sent: Vec<Vec<Value>> = vec![Vec::new(); TENANTS];

    // Both aggregators count: each owns some of the partitions, as each counts only what it
    // reads. Events go in small steps until both have counted some.
    let half = EVENTS_PER_TENANT / 2;
    let mut next = 0;
    loop {
        send_more(
            &ingest,
            &fleet,
            &mut sent,
            streams_with_resends(TENANTS, next..next + STEP, base),
        )
        .await;
        next += STEP;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (by_first, by_second) = (counted(&first).await, counted(&second).await);
        if by_first > 0 && by_second > 0 {
            eprintln!("both count after {next} events per tenant: {by_first} and {by_second}");
            break;
        }
        assert!(
            next < half,
            "the two aggregators did not both count within {next} events per tenant: {by_first} and {by_second}"
        );
    }
    send_more(
        &ingest,
        &fleet,
        &mut sent,
        streams_with_resends(TENANTS, next..half, base),
    )
    .await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, Duration::from_secs(60)).await;
    let (by_first, by_second) = (counted(&first).await, counted(&second).await);
    eprintln!(
        "first half converged at {:.1} s: {by_first} + {by_second} counted",
        started.elapsed().as_secs_f64()
    );
    assert!(by_first > 0 && by_second > 0, "{by_first} and {by_second}");
    // Once all is read, every partition's committed offset is the start of its last block.
    assert_commits_at_block_starts(&env).await;

    // The second stops; the first must take over its partitions, re-reading their open blocks.
    // It is stopped with SIGTERM, so that it leaves the group: tansu 0.6 keeps a SIGKILLed
    // member in the group after its session expired, and never hands its partitions over (a
    // Kafka broker does). Crashes are the other test's business.
    second.terminate().await;
    resend_some(&ingest, &fleet, &mut sent).await;
    send_more(
        &ingest,
        &fleet,
        &mut sent,
        streams_with_resends(TENANTS, half..EVENTS_PER_TENANT, base),
    )
    .await;
    let before_first = counted(&first).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, Duration::from_secs(90)).await;
    eprintln!(
        "all converged at {:.1} s; the first counted {} after the kill",
        started.elapsed().as_secs_f64(),
        counted(&first).await - before_first
    );
    drop(first);
}

/// Waits until the group has committed, for every partition of the events topic, the start of
/// the block that holds the partition's last record (what its owner commits once it has read
/// everything); panics with the partitions that differ after 15 s.
pub(crate) async fn assert_commits_at_block_starts(env: &TestEnv) {
    let offsets = EventsOffsets::of(env);
    eventually(
        Duration::from_secs(15),
        Duration::from_millis(500),
        async || {
            let mut differing = Vec::new();
            for partition in 0..env.kafka.partitions {
                let committed = offsets.committed(partition);
                let (block_start, end) = offsets.last_block_start(partition);
                if committed != Some(block_start) {
                    differing.push(format!(
                        "partition {partition}: committed {committed:?}, its last block starts at \
                     {block_start} (end {end})"
                    ));
                }
            }
            if differing.is_empty() {
                Ok(())
            } else {
                Err(differing.join("; "))
            }
        },
    )
    .await;
}

/// The test's events topic as its aggregators' consumer group sees it: partition ends and
/// committed offsets.
pub(crate) struct EventsOffsets {
    consumer: BaseConsumer,
    topic: String,
}

/// How long one offset request may take.
const OFFSETS_TIMEOUT: Duration = Duration::from_secs(5);

impl EventsOffsets {
    /// A reader of the offsets of the test's events topic and consumer group; it joins no group.
    pub(crate) fn of(env: &TestEnv) -> Self {
        Self {
            consumer: env
                .kafka
                .consumer_config(&env.meter_group_id())
                .create()
                .expect("a consumer of the group"),
            topic: format!("{}events", env.kafka.topic_prefix),
        }
    }

    /// The end of `partition`: the offset its next record gets.
    pub(crate) fn end(&self, partition: i32) -> i64 {
        let (_, end) = self
            .consumer
            .fetch_watermarks(&self.topic, partition, OFFSETS_TIMEOUT)
            .expect("reads the partition's end");
        end
    }

    /// The start of the block that holds the last record of `partition` (what its owner
    /// commits once it has read everything), and the partition's end.
    pub(crate) fn last_block_start(&self, partition: i32) -> (i64, i64) {
        let block_records: i64 = BLOCK_RECORDS.parse().expect("a number");
        let end = self.end(partition);
        (end / block_records * block_records, end)
    }

    /// Sets the group's offset of `partition` by hand, as an operator or an offset reset
    /// would; the group must have no member.
    pub(crate) fn commit(&self, partition: i32, offset: i64) {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
            .expect("lists the offset");
        self.consumer
            .commit(&list, CommitMode::Sync)
            .expect("commits the offset by hand");
    }

    /// The offset the group committed for `partition`, if any.
    pub(crate) fn committed(&self, partition: i32) -> Option<i64> {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topic, partition);
        let committed = self
            .consumer
            .committed_offsets(list, OFFSETS_TIMEOUT)
            .expect("reads the committed offsets");
        committed
            .find_partition(&self.topic, partition)
            .and_then(|element| match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            })
    }
}
