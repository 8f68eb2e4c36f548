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
use crate::e2e::support::{TestEnv, eventually, read_events};

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
    eventually(timeout, Duration::from_millis(50), async || {
        let log = log.lock().await;
        let since_then = log
            .answers
            .iter()
            .filter(|(sent_at, _, _, _)| *sent_at >= since);
        if let Some((sent_at, _, _, _)) = since_then
            .clone()
            .find(|(_, answered, _, _)| *answered == status)
        {
            return Ok(*sent_at);
        }
        Err(format!(
            "no {status} within {timeout:?}; answers meanwhile (0 = none): {:?}",
            since_then
                .map(|(sent_at, answered, _, answered_at)| (
                    *answered,
                    answered_at.duration_since(*sent_at)
                ))
                .collect::<Vec<_>>()
        ))
    })
    .await
}

/// A migrated test environment on a broker of its own.
async fn env_with_own_broker() -> (OwnBroker, TestEnv) {
    let broker = OwnBroker::start().await;
    let mut env = TestEnv::named();
    env.kafka.brokers = broker.address.clone();
    env.create_migrated().await;
    (broker, env)
}

/// Sends events to `base` with `key` until some are acknowledged, kills the broker, waits for
/// 503s and 3 s more, resumes it and sends until acknowledged again. Returns what the sender
/// saw, when it sent the first request answered 503, and when the broker was resumed.
async fn outage_under_load(
    broker: &mut OwnBroker,
    base: &str,
    key: &str,
) -> (Log, Instant, Instant) {
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let sender = tokio::spawn(send_until_stopped(
        base.to_owned(),
        key.to_owned(),
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
    let log = std::mem::take(&mut *log.lock().await);
    (log, first_503, resumed_at)
}

#[tokio::test]
async fn a_broker_outage_gives_503s_and_ingest_recovers_without_losing_acknowledged_events() {
    let (mut broker, env) = env_with_own_broker().await;
    let (_, key) = env.tenant_with_key(Scope::Ingest).await;
    let serve = env
        .serve("ingest", &[("TALLY__INGEST__PRODUCE_TIMEOUT_MS", "2000")])
        .await;
    let (log, first_503, resumed_at) = outage_under_load(&mut broker, &serve.base, &key).await;
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

/// `tally slo show --json` of one of the platform tenant's SLOs: its one series, or none before
/// its first observation.
async fn platform_series(env: &TestEnv, platform: &str, slo: &str) -> Option<Value> {
    let text = env
        .run_ok(&["slo", "show", "--tenant", platform, slo, "--json"])
        .await;
    let status: Value = serde_json::from_str(&text).expect("a status");
    status["series"].get(0).cloned()
}

/// Waits until `ready` holds for the budget of a platform SLO's series, and returns the series.
async fn wait_for_budget(
    env: &TestEnv,
    platform: &str,
    slo: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    eventually(
        Duration::from_secs(90),
        Duration::from_millis(500),
        async || match platform_series(env, platform, slo).await {
            Some(series) if ready(&series["budget"]) => Ok(series),
            series => Err(format!("{slo} never got there: {series:?}")),
        },
    )
    .await
}

#[tokio::test]
async fn the_platform_slos_count_a_broker_outage_exactly_and_recover() {
    let (mut broker, env) = env_with_own_broker().await;
    let platform = env
        .run_ok(&["tenant", "create", "--name", "operator", "--platform"])
        .await
        .trim()
        .to_owned();
    let (_, key) = env.tenant_with_key(Scope::Ingest).await;
    let (_, reader) = env.tenant_with_key(Scope::Read).await;
    let serve = env
        .serve(
            "ingest,meter,api",
            &[
                ("TALLY__INGEST__PRODUCE_TIMEOUT_MS", "2000"),
                ("TALLY__METER__CANARY_INTERVAL_SECS", "1"),
            ],
        )
        .await;

    // Five API answers for the API latency SLO.
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let answer = client
            .post(format!("{}/graphql", serve.base))
            .bearer_auth(&reader)
            .json(&json!({"query": "{ meters { key } }"}))
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 200);
    }

    let (log, _, _) = outage_under_load(&mut broker, &serve.base, &key).await;

    // Ingest observed every answer it gave, the 503s of the outage included, and sent them
    // once the broker was back: the SLO counts exactly what the client saw.
    let (answers, failed) = {
        assert!(
            log.answers.iter().all(|(_, status, _, _)| *status != 0),
            "every request was answered"
        );
        let failed = log
            .answers
            .iter()
            .filter(|(_, status, _, _)| *status >= 500)
            .count();
        (log.answers.len() as u64, failed as u64)
    };
    assert!(failed > 0);
    let dropped = wait_for_budget(&env, &platform, "ingest-availability", |budget| {
        budget["total"] == answers
    })
    .await;
    assert_eq!(dropped["budget"]["bad"], failed, "{dropped}");
    // Too few answers for the 28-day budget to be a ratio, but the last 5 minutes burn it.
    let rate: f64 = dropped["burn_rates"][0]["rate"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0.0);
    assert!(rate > 1.0, "the outage burns the budget: {dropped}");

    // Good answers after the outage add to the total and nothing to the bad.
    for n in 0..20 {
        let body = json!([{"specversion": "1.0", "id": format!("after-{n}"), "source": "fault",
                           "type": "tick"}]);
        let answer = client
            .post(format!("{}/v1/events", serve.base))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 202);
    }
    let recovered = wait_for_budget(&env, &platform, "ingest-availability", |budget| {
        budget["total"] == answers + 20
    })
    .await;
    assert_eq!(recovered["budget"]["bad"], failed, "{recovered}");

    // Canaries were lost while the broker was away, and queryable again after.
    let freshness = wait_for_budget(&env, &platform, "ingest-freshness", |budget| {
        budget["bad"].as_u64() > Some(0) && budget["total"].as_u64() > budget["bad"].as_u64()
    })
    .await;
    eprintln!("ingest availability {recovered}, freshness {freshness}");
    let api = wait_for_budget(&env, &platform, "api-latency", |budget| {
        budget["total"] == 5
    })
    .await;
    assert_eq!(api["budget"]["bad"], 0, "{api}");
}
