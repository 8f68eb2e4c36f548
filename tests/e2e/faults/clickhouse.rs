//! The aggregator through a ClickHouse outage: events keep arriving through ingest while the
//! test's own ClickHouse is down for 30 s; the aggregator must back off without crashing or
//! committing, resume by itself once ClickHouse is back, and end with exact usage. The outage
//! outlasts the consumer's `max.poll.interval.ms` (shortened to 10 s), so the broker evicts the
//! aggregator from its group while it retries, and it must rejoin and re-read.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tally_meter::analytics::Analytics;

use super::own_clickhouse::OwnClickHouse;
use crate::e2e::meter::send_all;
use crate::e2e::meter_load::{
    Fleet, assert_usage_converges, base_time, event, expected_usage, measured,
};
use crate::e2e::support::{TestEnv, eventually_holds};

/// How long ClickHouse stays down.
const OUTAGE: Duration = Duration::from_secs(30);

/// Short sessions, and a poll interval the outage outlasts: librdkafka leaves the group when
/// the aggregator has not read for 10 s.
const EVICTING_SESSIONS: &str = r#"{"session.timeout.ms"="6000","heartbeat.interval.ms"="1000","max.poll.interval.ms"="10000"}"#;

/// The events of every tenant's stream numbered within `range`.
fn part(fleet: &Fleet, base: DateTime<Utc>, range: std::ops::Range<usize>) -> Vec<Vec<Value>> {
    fleet
        .tenants
        .iter()
        .map(|_| range.clone().map(|number| event(base, number)).collect())
        .collect()
}

/// Waits until some usage is visible, which shows the aggregator has joined its group and is
/// writing; panics after 30 s.
async fn wait_until_counting(analytics: &Analytics, fleet: &Fleet, base: DateTime<Utc>) {
    eventually_holds(
        Duration::from_secs(30),
        Duration::from_millis(200),
        "the aggregator counted nothing within 30 s",
        async || {
            let usage = measured(analytics, fleet, base).await;
            !usage.totals.values().all(BTreeMap::is_empty)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_after_clickhouse_is_down_for_30_seconds() {
    const TENANTS: usize = 20;
    const BEFORE: usize = 1000;
    const DURING: usize = 1000;
    const AFTER: usize = 500;
    let started = Instant::now();
    let mut clickhouse = OwnClickHouse::start().await;
    let mut env = TestEnv::named();
    env.clickhouse.url.clone_from(&clickhouse.url);
    env.create_migrated().await;
    let fleet = Fleet::create(&env, TENANTS).await;
    let ingest = env.serve("ingest", &[]).await;
    let mut aggregator = env
        .serve("meter", &[("TALLY__KAFKA__OPTIONS", EVICTING_SESSIONS)])
        .await;
    let analytics = env.analytics();
    let base = base_time();

    // 50k distinct events: 20k with ClickHouse up, then ClickHouse dies once the aggregator
    // has started writing them; 20k more, and resends of 5 % of the first ones, during the
    // outage; the last 10k once ClickHouse is back.
    let before = part(&fleet, base, 0..BEFORE);
    let resends: Vec<Vec<Value>> = before
        .iter()
        .map(|events| events.iter().step_by(20).cloned().collect())
        .collect();
    let during = part(&fleet, base, BEFORE..BEFORE + DURING);
    let after = part(&fleet, base, BEFORE + DURING..BEFORE + DURING + AFTER);

    send_all(&ingest.base, &fleet, &before).await;
    wait_until_counting(&analytics, &fleet, base).await;
    clickhouse.stop().await;
    let down_since = Instant::now();
    send_all(&ingest.base, &fleet, &during).await;
    send_all(&ingest.base, &fleet, &resends).await;
    let sending = down_since.elapsed();
    tokio::time::sleep(OUTAGE.saturating_sub(down_since.elapsed())).await;
    assert!(
        aggregator.is_running(),
        "the aggregator exited during the outage"
    );
    clickhouse.resume().await;
    let outage = down_since.elapsed();
    send_all(&ingest.base, &fleet, &after).await;

    let sent: Vec<Vec<Value>> = before
        .iter()
        .zip(&resends)
        .zip(&during)
        .zip(&after)
        .map(|(((before, resends), during), after)| {
            before
                .iter()
                .chain(resends)
                .chain(during)
                .chain(after)
                .cloned()
                .collect()
        })
        .collect();
    let expected = expected_usage(&fleet, &sent);
    let recovering = Instant::now();
    assert_usage_converges(&analytics, &fleet, base, &expected, Duration::from_secs(60)).await;
    eprintln!(
        "sent during the outage in {sending:?}; ClickHouse down for {outage:?}; usage exact \
         {:?} after the last events; {:?} in all",
        recovering.elapsed(),
        started.elapsed()
    );

    // It backed off and recovered by itself: still the same process, and it saw the outage.
    assert!(
        aggregator.is_running(),
        "the aggregator exited after the outage"
    );
    let log = std::fs::read_to_string(&aggregator.log).expect("reads the aggregator's log");
    assert!(
        log.contains("clickhouse write failed"),
        "the aggregator's log ({}) shows no failed write during the outage",
        aggregator.log.display()
    );
    assert!(
        log.contains("maximum poll interval"),
        "the aggregator's log ({}) shows no eviction from its group during the outage",
        aggregator.log.display()
    );
    drop(ingest);
}
