//! The aggregator end to end: events through ingest and Kafka into ClickHouse, compared with a
//! reference computed by the test for every aggregation, per tenant and meter.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;
use tally_meter::ids::TenantId;
use tokio::task::JoinSet;

use super::meter_load::{
    FAST_SESSIONS, Fleet, SESSION_EXPIRY, assert_usage_converges, base_time, event, post_batch,
    reference,
};
use super::support::TestEnv;

/// Events per request.
const BATCH: usize = 500;

/// Sends each tenant's events through ingest, several requests at once.
pub async fn send_all(base: &str, fleet: &Fleet, streams: &[Vec<Value>]) {
    let client = reqwest::Client::new();
    let mut requests: Vec<(String, Vec<Value>)> = Vec::new();
    for (tenant, stream) in fleet.tenants.iter().zip(streams) {
        for batch in stream.chunks(BATCH) {
            requests.push((tenant.key.clone(), batch.to_vec()));
        }
    }
    let requests = Arc::new(tokio::sync::Mutex::new(requests));
    let mut senders = JoinSet::new();
    for _ in 0..8 {
        let requests = Arc::clone(&requests);
        let client = client.clone();
        let base = base.to_owned();
        senders.spawn(async move {
            loop {
                let Some((key, batch)) = requests.lock().await.pop() else {
                    return;
                };
                post_batch(&client, &base, &key, &batch).await;
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.expect("a sender finished");
    }
}

/// The reference usage of every tenant for the events sent to it.
pub fn expected_usage(
    fleet: &Fleet,
    sent: &[Vec<Value>],
) -> HashMap<TenantId, BTreeMap<String, Decimal>> {
    fleet
        .tenants
        .iter()
        .zip(sent)
        .map(|(tenant, events)| (tenant.id, reference(events)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_for_every_aggregation_despite_resends_and_a_restart() {
    const TENANTS: usize = 50;
    const EVENTS_PER_TENANT: usize = 2000;
    let env = TestEnv::new().await;
    env.migrate().await;
    let fleet = Fleet::create(&env, TENANTS).await;
    let ingest = env.serve("ingest", &[]).await;
    let aggregator_settings = [("TALLY__KAFKA__OPTIONS", FAST_SESSIONS)];
    let mut aggregator = env.serve("meter", &aggregator_settings).await;
    let base = base_time();

    // 100k distinct events: half before the aggregator crashes, half after it is back, each half
    // followed by resends of 5 % of the events sent so far (10 % in all).
    let originals: Vec<Vec<Value>> = (0..TENANTS)
        .map(|_| (0..EVENTS_PER_TENANT).map(|n| event(base, n)).collect())
        .collect();
    let half = EVENTS_PER_TENANT / 2;
    let first_half: Vec<Vec<Value>> = originals
        .iter()
        .map(|events| events[..half].to_vec())
        .collect();
    let second_half: Vec<Vec<Value>> = originals
        .iter()
        .map(|events| events[half..].to_vec())
        .collect();
    let resends_before: Vec<Vec<Value>> = first_half
        .iter()
        .map(|events| events.iter().step_by(10).cloned().collect())
        .collect();
    send_all(&ingest.base, &fleet, &first_half).await;
    send_all(&ingest.base, &fleet, &resends_before).await;

    aggregator.child.kill().await.expect("kills the aggregator");
    tokio::time::sleep(SESSION_EXPIRY).await;
    aggregator = env.serve("meter", &aggregator_settings).await;
    let resends_after: Vec<Vec<Value>> = originals
        .iter()
        .map(|events| events.iter().skip(5).step_by(20).cloned().collect())
        .collect();
    send_all(&ingest.base, &fleet, &second_half).await;
    send_all(&ingest.base, &fleet, &resends_after).await;

    let sent: Vec<Vec<Value>> = originals
        .iter()
        .zip(&resends_before)
        .zip(&resends_after)
        .map(|((originals, before), after)| {
            originals
                .iter()
                .chain(before)
                .chain(after)
                .cloned()
                .collect()
        })
        .collect();
    let expected = expected_usage(&fleet, &sent);
    assert_usage_converges(
        &env.analytics(),
        &fleet,
        base,
        &expected,
        Duration::from_secs(90),
    )
    .await;
    drop(aggregator);
}
