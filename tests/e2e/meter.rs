//! The aggregator end to end: events through ingest and Kafka into ClickHouse, compared with a
//! reference computed by the test for every aggregation, per tenant and meter.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_meter::usage::floor_minute;
use tokio::task::JoinSet;

use super::meter_load::{
    FAST_SESSIONS, Fleet, SESSION_EXPIRY, assert_sent_usage_converges, base_time, event, post_batch,
};
use super::support::{TestEnv, eventually, meter_create};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_for_every_aggregation_despite_resends_and_a_restart() {
    const TENANTS: usize = 50;
    const EVENTS_PER_TENANT: usize = 2000;
    let env = TestEnv::migrated().await;
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
    assert_sent_usage_converges(&env, &fleet, &sent, base, Duration::from_secs(90)).await;

    // The restarted aggregator built its dedup filter from what the first one wrote while it
    // re-read the open blocks, and skipped the lookup of most of the second half's 50,000 new
    // events; the resends of the first half, sent last, went through that filter and still
    // counted once (above).
    let skipped = aggregator
        .metric(r#"tally_meter_dedup_hashes_total{lookup="skipped"}"#)
        .await;
    assert!(skipped >= 25_000.0, "hashes skipped {skipped}");

    // Platform usage counts what ingest carried, resends included, once per metering record
    // even though the aggregator crashed while reading them.
    let carried: Vec<u64> = sent.iter().map(|events| events.len() as u64).collect();
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(500),
        async || {
            let mut accepted = Vec::with_capacity(TENANTS);
            for tenant in &fleet.tenants {
                let hours = env
                    .analytics()
                    .platform_hourly(
                        tenant.id,
                        base - chrono::Duration::hours(1),
                        Utc::now() + chrono::Duration::hours(1),
                    )
                    .await
                    .expect("platform usage answers");
                accepted.push(hours.iter().map(|hour| hour.accepted_events).sum::<u64>());
            }
            if accepted == carried {
                Ok(())
            } else {
                Err(format!(
                    "platform usage {accepted:?} is not what ingest accepted {carried:?}"
                ))
            }
        },
    )
    .await;
    drop(aggregator);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_events_and_missing_values_are_quarantined_and_the_rest_lands_in_its_minute() {
    let env = TestEnv::migrated().await;
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let tenant = tenant.to_string();
    create_tokens_meter(
        &env,
        &tenant,
        &["--group-by", "model=$.model", "--lateness-secs", "3600"],
    )
    .await;
    let ingest = env.serve("ingest", &[]).await;
    let _aggregator = env.serve("meter", &[]).await;

    let minute = Utc::now().timestamp().div_euclid(60) * 60 - 600;
    let at = |seconds: i64| {
        Utc.timestamp_opt(seconds, 0)
            .single()
            .expect("a valid time")
            .to_rfc3339()
    };
    let event = |id: &str, time: String, subject: &str, data: Value| {
        json!({ "specversion": "1.0", "id": id, "source": "test", "type": "llm",
                "time": time, "subject": subject, "data": data })
    };
    let batch = vec![
        event(
            "1",
            at(minute + 5),
            "alice",
            json!({ "tokens": 1.5, "model": "a" }),
        ),
        event(
            "2",
            at(minute + 50),
            "bob",
            json!({ "tokens": 2, "model": "b" }),
        ),
        event(
            "3",
            at(minute + 70),
            "alice",
            json!({ "tokens": 4, "model": "a" }),
        ),
        event(
            "late",
            at(minute - 7200),
            "alice",
            json!({ "tokens": 100, "model": "a" }),
        ),
        event("novalue", at(minute + 5), "alice", json!({ "model": "a" })),
    ];
    post_batch(&reqwest::Client::new(), &ingest.base, &key, &batch).await;

    let from = at(minute - 60);
    let to = at(minute + 180);
    let usage = |extra: &'static [&'static str]| usage_json(&env, &tenant, &from, &to, extra);
    let per_minute = eventually(
        Duration::from_secs(30),
        Duration::from_millis(300),
        async || {
            let points = usage(&[]).await;
            if points.as_array().is_some_and(|points| points.len() == 2) {
                Ok(points)
            } else {
                Err(format!("usage never showed: {points}"))
            }
        },
    )
    .await;
    // Each event lands in its own event-time minute; the late one and the one without a
    // value count nowhere.
    assert_eq!(
        per_minute[0]["window_start"],
        json!(at(minute).replace("+00:00", "Z"))
    );
    assert_eq!(per_minute[0]["value"], json!("3.5"));
    assert_eq!(per_minute[1]["value"], json!("4"));

    let by_model = usage(&["--window", "hour", "--group-by", "model"]).await;
    // Windows are summed over, in case the range crosses an hour or a day.
    let total = |points: &Value, model: Option<&str>| -> Decimal {
        points
            .as_array()
            .expect("a list")
            .iter()
            .filter(|point| model.is_none_or(|model| point["groups"]["model"] == json!(model)))
            .map(|point| {
                point["value"]
                    .as_str()
                    .and_then(|value| value.parse::<Decimal>().ok())
                    .expect("a decimal value")
            })
            .sum()
    };
    assert_eq!(
        total(&by_model, Some("a")),
        Decimal::new(55, 1),
        "{by_model}"
    );
    assert_eq!(total(&by_model, Some("b")), Decimal::from(2), "{by_model}");
    let alice = usage(&["--window", "day", "--subject", "alice"]).await;
    assert_eq!(total(&alice, None), Decimal::new(55, 1), "{alice}");

    // Ranges on whole minutes tile: split at the minute after the first two events, the two
    // halves add up to the whole. A bound off the minute is refused, saying why.
    let split = at(minute + 60);
    let before = usage_json(&env, &tenant, &from, &split, &[]).await;
    let after = usage_json(&env, &tenant, &split, &to, &[]).await;
    assert_eq!(total(&before, None), Decimal::new(35, 1), "{before}");
    assert_eq!(total(&after, None), Decimal::from(4), "{after}");
    // Days in a zone are written with its offset.
    let kolkata = usage(&["--window", "day", "--timezone", "Asia/Kolkata"]).await;
    assert_eq!(total(&kolkata, None), Decimal::new(75, 1), "{kolkata}");
    assert!(
        kolkata[0]["window_start"]
            .as_str()
            .is_some_and(|start| start.ends_with("+05:30")),
        "{kolkata}"
    );
    let off = at(minute + 30);
    let refused = env
        .run(&[
            "usage", "--tenant", &tenant, "tokens", "--from", &off, "--to", &to,
        ])
        .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr.contains("`from` must be a whole minute, since usage is counted per minute"),
        "{stderr}"
    );

    let reasons: Vec<String> = env
        .analytics()
        .client()
        .query("SELECT reason FROM quarantine FINAL WHERE tenant_id = ? ORDER BY event_id")
        .bind(&tenant)
        .fetch_all()
        .await
        .expect("reads the quarantine");
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("too late for meter tokens"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("needs a number at $.tokens"),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_larger_than_one_query_can_hold_is_counted_exactly() {
    // 60k events wait in Kafka before the aggregator starts, so that its first passes carry
    // the largest batches it takes (meter.max_batch_events) and their dedup lookups must be
    // split to fit ClickHouse's limits on one query.
    const TENANTS: usize = 12;
    const EVENTS_PER_TENANT: usize = 5000;
    let env = TestEnv::migrated().await;
    let fleet = Fleet::create(&env, TENANTS).await;
    let ingest = env.serve("ingest", &[]).await;
    let base = base_time();
    let streams: Vec<Vec<Value>> = (0..TENANTS)
        .map(|_| (0..EVENTS_PER_TENANT).map(|n| event(base, n)).collect())
        .collect();
    send_all(&ingest.base, &fleet, &streams).await;
    let _aggregator = env.serve("meter", &[]).await;
    assert_sent_usage_converges(&env, &fleet, &streams, base, Duration::from_secs(90)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_no_sum_can_hold_is_quarantined_and_every_other_tenant_is_still_counted() {
    let env = TestEnv::migrated().await;
    let (poisoner, poisoner_key) = env.tenant_with_key(Scope::Ingest).await;
    let (bystander, bystander_key) = env.tenant_with_key(Scope::Ingest).await;
    for tenant in [poisoner, bystander] {
        create_tokens_meter(&env, &tenant.to_string(), &[]).await;
    }
    let ingest = env.serve("ingest", &[]).await;
    let mut aggregator = env.serve("meter", &[]).await;

    // rust_decimal's largest value, twice in one minute: summing them overflowed and
    // panicked the aggregator, for every tenant.
    let now = Utc::now().to_rfc3339();
    let event = |id: String, tokens: Value| {
        json!({ "specversion": "1.0", "id": id, "source": "test", "type": "llm",
                "time": now, "data": { "tokens": tokens } })
    };
    let client = reqwest::Client::new();
    let poison: Vec<Value> = (0..2)
        .map(|n| {
            event(
                format!("poison-{n}"),
                json!("79228162514264337593543950335"),
            )
        })
        .collect();
    post_batch(&client, &ingest.base, &poisoner_key, &poison).await;
    let fine: Vec<Value> = (0..10)
        .map(|n| event(format!("fine-{n}"), json!(2)))
        .collect();
    post_batch(&client, &ingest.base, &bystander_key, &fine).await;

    // The other tenant is counted, exactly, and stays so.
    assert_tokens_settle_at(&env, &bystander.to_string(), 20).await;
    assert!(aggregator.is_running(), "the aggregator exited");
    let ready = client
        .get(format!("{}/readyz", aggregator.base))
        .send()
        .await
        .expect("the aggregator answers");
    assert_eq!(ready.status(), 200);

    let reasons: Vec<String> = env
        .analytics()
        .client()
        .query("SELECT reason FROM quarantine FINAL WHERE tenant_id = ?")
        .bind(poisoner.to_string())
        .fetch_all()
        .await
        .expect("reads the quarantine");
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|reason| reason.contains("values beyond ±1000000000000000000 are refused")),
        "{reasons:?}"
    );
}

/// Five events of type `llm` with `tokens` 1, ids `PREFIX-N`, timed now.
fn five_llm_events(prefix: &str) -> Vec<Value> {
    let now = Utc::now().to_rfc3339();
    (0..5)
        .map(|n| {
            json!({ "specversion": "1.0", "id": format!("{prefix}-{n}"), "source": "test",
                    "type": "llm", "time": now, "data": { "tokens": 1 } })
        })
        .collect()
}

/// Creates the SUM meter `tokens` of the `$.tokens` of `llm` events with `tally meter create`
/// and the `extra` flags.
async fn create_tokens_meter(env: &TestEnv, tenant: &str, extra: &[&str]) {
    let mut args = meter_create(tenant, "tokens", "llm", "sum", &["--value", "$.tokens"]);
    args.extend_from_slice(extra);
    env.run_ok(&args).await;
}

/// Runs `tally usage --json` for the tenant's `tokens` meter over `[from, to)`.
async fn usage_json(env: &TestEnv, tenant: &str, from: &str, to: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "usage", "--tenant", tenant, "tokens", "--from", from, "--to", to, "--json",
    ];
    args.extend_from_slice(extra);
    let printed = env.run_ok(&args).await;
    serde_json::from_str(&printed).expect("usage prints JSON")
}

/// Waits until the tenant's `tokens` meter shows `want` over the day, never more, and checks
/// that it stays there for 2 s.
async fn assert_tokens_settle_at(env: &TestEnv, tenant: &str, want: u32) {
    let from = floor_minute(Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = floor_minute(Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let total = || async {
        usage_json(env, tenant, &from, &to, &["--window", "day"])
            .await
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|point| point["value"].as_str()?.parse::<Decimal>().ok())
            .sum::<Decimal>()
    };
    let want = Decimal::from(want);
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(500),
        async || {
            let counted = total().await;
            assert!(
                counted <= want,
                "the meter counted {counted}, more than {want}"
            );
            if counted == want {
                Ok(())
            } else {
                Err(format!("the meter counted {counted} of {want}"))
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(total().await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_counts_what_ingest_accepted_from_its_creation_on_however_late_it_is_read() {
    let env = TestEnv::migrated().await;
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let tenant = tenant.to_string();
    let ingest = env.serve("ingest", &[]).await;
    let client = reqwest::Client::new();
    // Accepted before the meter exists: in the log, but not the meter's to count.
    post_batch(&client, &ingest.base, &key, &five_llm_events("before")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    create_tokens_meter(&env, &tenant, &[]).await;
    post_batch(&client, &ingest.base, &key, &five_llm_events("after")).await;
    // The aggregator starts only now and reads both batches as one backlog.
    let _aggregator = env.serve("meter", &[]).await;
    assert_tokens_settle_at(&env, &tenant, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_deleted_and_created_again_starts_afresh_while_events_flow() {
    let env = TestEnv::migrated().await;
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let tenant = tenant.to_string();
    let ingest = env.serve("ingest", &[]).await;
    let _aggregator = env.serve("meter", &[]).await;
    let client = reqwest::Client::new();
    create_tokens_meter(&env, &tenant, &[]).await;
    post_batch(&client, &ingest.base, &key, &five_llm_events("first")).await;
    assert_tokens_settle_at(&env, &tenant, 5).await;

    env.run_ok(&["meter", "delete", "--tenant", &tenant, "tokens"])
        .await;
    post_batch(&client, &ingest.base, &key, &five_llm_events("between")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    create_tokens_meter(&env, &tenant, &[]).await;
    post_batch(&client, &ingest.base, &key, &five_llm_events("second")).await;
    // The new meter counts only what came after it: neither the old meter's events nor
    // those sent while no meter existed.
    assert_tokens_settle_at(&env, &tenant, 5).await;
}
