//! Fault tests: the broker dies under load. Ingest must answer 503 with Retry-After while it is
//! away, never 2xx for events it could not make durable, and recover by itself when it is back;
//! every event acknowledged with 2xx must be in Kafka.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tokio::sync::Mutex;

use super::own_broker::OwnBroker;
use crate::e2e::support::{TestEnv, read_events};

#[derive(Default)]
struct Log {
    /// (when the request was sent, status, had Retry-After, when it was answered)
    answers: Vec<(Instant, u16, bool, Instant)>,
    acknowledged: HashSet<String>,
}

async fn send_until_stopped(
    base: String,
    key: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut sequence = 0;
    while !stop.load(Ordering::Relaxed) {
        let ids: Vec<String> = (0..10)
            .map(|offset| format!("ev-{}", sequence + offset))
            .collect();
        sequence += 10;
        let body: Vec<Value> = ids
            .iter()
            .map(|id| json!({"specversion": "1.0", "id": id, "source": "fault", "type": "tick"}))
            .collect();
        let sent_at = Instant::now();
        let response = client
            .post(format!("{base}/v1/events"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await;
        // A request that got no answer at all is logged as status 0.
        let (status, retry_after) = response.map_or((0, false), |response| {
            (
                response.status().as_u16(),
                response.headers().contains_key("retry-after"),
            )
        });
        let mut log = log.lock().await;
        log.answers
            .push((sent_at, status, retry_after, Instant::now()));
        if status == 202 {
            log.acknowledged.extend(ids);
        }
        drop(log);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for(log: &Mutex<Log>, since: Instant, status: u16, timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        let log = log.lock().await;
        let since_then = log
            .answers
            .iter()
            .filter(|(sent_at, _, _, _)| *sent_at >= since);
        if let Some((sent_at, _, _, _)) = since_then
            .clone()
            .find(|(_, answered, _, _)| *answered == status)
        {
            return *sent_at;
        }
        assert!(
            Instant::now() < deadline,
            "no {status} within {timeout:?}; answers meanwhile (0 = none): {:?}",
            since_then
                .map(|(sent_at, answered, _, answered_at)| (
                    *answered,
                    answered_at.duration_since(*sent_at)
                ))
                .collect::<Vec<_>>()
        );
        drop(log);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_broker_outage_gives_503s_and_ingest_recovers_without_losing_acknowledged_events() {
    let mut broker = OwnBroker::start().await;
    let mut env = TestEnv::named();
    env.kafka.brokers = broker.address.clone();
    env.create_migrated().await;
    let (_, key) = env.tenant_with_key(Scope::Ingest).await;
    let serve = env
        .serve("ingest", &[("TALLY__INGEST__PRODUCE_TIMEOUT_MS", "2000")])
        .await;

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let sender = tokio::spawn(send_until_stopped(
        serve.base.clone(),
        key,
        Arc::clone(&stop),
        Arc::clone(&log),
    ));
    let started = Instant::now();
    wait_for(&log, started, 202, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    broker.kill().await;
    let killed_at = Instant::now();
    let first_503 = wait_for(&log, killed_at, 503, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resumed_at = Instant::now();
    broker.resume().await;
    wait_for(&log, resumed_at, 202, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    sender.await.expect("sender finishes");

    let log = log.lock().await;
    // Requests sent after the first 503 and answered before the broker was back.
    let during_outage: Vec<&(Instant, u16, bool, Instant)> = log
        .answers
        .iter()
        .filter(|(sent_at, _, _, answered_at)| *sent_at >= first_503 && *answered_at < resumed_at)
        .collect();
    assert!(!during_outage.is_empty());
    assert!(
        during_outage
            .iter()
            .all(|(_, status, retry_after, _)| *status == 503 && *retry_after),
        "while the broker was away every answer is 503 with Retry-After: {:?}",
        during_outage
            .iter()
            .map(|(_, status, _, _)| status)
            .collect::<Vec<_>>()
    );

    let acknowledged = log.acknowledged.clone();
    let stored: HashSet<String> = read_events(&env.kafka, Duration::from_secs(30))
        .await
        .into_iter()
        .map(|event| event.id)
        .collect();
    let missing: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events are not in Kafka: {missing:?}",
        missing.len()
    );
    eprintln!(
        "acknowledged {} events, {} stored, {} answers during the outage",
        acknowledged.len(),
        stored.len(),
        during_outage.len()
    );
}
