//! `POST /v1/events` against the real broker: what is acknowledged is in Kafka with its tenant,
//! bad events are quarantined with their reasons, limits are enforced per tenant and follow
//! changes in PostgreSQL, and every request-level error has its status.

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_meter::event::{EventBatch, MeteringRecord, QuarantineRecord};
use tally_meter::quota::{self, Limits, QuotaMode};
use tally_meter::{api_key, event_type, tenant};

use super::support::{TestEnv, read_topic};

const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn event(id: &str) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": "sensor/7",
        "type": "reading",
        "subject": "room-1",
        "time": chrono::Utc::now().to_rfc3339(),
        "data": { "celsius": 21.5, "padding": "x".repeat(180) }
    })
}

async fn post(base: &str, key: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/v1/events"))
        .bearer_auth(key)
        .header("content-type", "application/cloudevents-batch+json")
        .json(body)
        .send()
        .await
        .expect("ingest answers")
}

fn batches(records: &[(String, Vec<u8>)]) -> Vec<EventBatch> {
    records
        .iter()
        .map(|(_, payload)| serde_json::from_slice(payload).expect("an EventBatch"))
        .collect()
}

#[tokio::test]
async fn a_batch_with_bad_events_is_split_between_events_and_quarantine() {
    let env = TestEnv::migrated().await;
    let (tenant_id, key) = env.tenant_with_key(Scope::Ingest).await;
    let serve = env.serve("ingest", &[]).await;

    let mut body: Vec<Value> = (0..100).map(|index| event(&format!("e-{index}"))).collect();
    body[10].as_object_mut().expect("object").remove("id");
    body[50]["time"] = json!("2001-01-01T00:00:00Z");
    body[99]["specversion"] = json!("0.3");
    let response = post(&serve.base, &key, &json!(body)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let outcome: Value = response.json().await.expect("JSON");
    assert_eq!(
        outcome,
        json!({
            "accepted": 97,
            "rejected": [
                { "index": 10, "reason": "missing required attribute id" },
                { "index": 50, "id": "e-50", "reason": "time is more than 7 days in the past" },
                { "index": 99, "id": "e-99", "reason": "specversion must be \"1.0\", got \"0.3\"" }
            ]
        })
    );

    let topics = env.kafka.topics();
    let events = batches(&read_topic(&env.kafka, &topics.events, 1, READ_TIMEOUT).await);
    let ids: HashSet<String> = events
        .iter()
        .flat_map(|batch| {
            assert_eq!(batch.tenant_id, tenant_id);
            batch.events.iter().map(|event| event.id.clone())
        })
        .collect();
    let expected: HashSet<String> = (0..100)
        .filter(|index| ![10, 50, 99].contains(index))
        .map(|index| format!("e-{index}"))
        .collect();
    assert_eq!(
        events.iter().map(|batch| batch.events.len()).sum::<usize>(),
        97
    );
    assert_eq!(ids, expected);

    let quarantined: Vec<QuarantineRecord> =
        read_topic(&env.kafka, &topics.quarantine, 3, READ_TIMEOUT)
            .await
            .iter()
            .map(|(key, payload)| {
                assert_eq!(key, &tenant_id.to_string());
                serde_json::from_slice(payload).expect("a QuarantineRecord")
            })
            .collect();
    assert_eq!(quarantined.len(), 3);
    let mut by_index: Vec<(usize, String)> = quarantined
        .iter()
        .map(|record| (record.index, record.reason.clone()))
        .collect();
    by_index.sort();
    assert_eq!(
        by_index[1],
        (50, "time is more than 7 days in the past".to_owned())
    );
    let raw_of_99: Value = serde_json::from_str(
        &quarantined
            .iter()
            .find(|record| record.index == 99)
            .expect("item 99")
            .raw,
    )
    .expect("raw is the event as sent");
    assert_eq!(raw_of_99, body[99]);

    // Every node reports what it accepted and rejected, per tenant and second.
    let metering: Vec<MeteringRecord> = read_topic(&env.kafka, &topics.metering, 1, READ_TIMEOUT)
        .await
        .iter()
        .map(|(_, payload)| serde_json::from_slice(payload).expect("a MeteringRecord"))
        .collect();
    let accepted: u64 = metering.iter().map(|record| record.accepted_events).sum();
    let rejected: u64 = metering.iter().map(|record| record.rejected_events).sum();
    assert_eq!((accepted, rejected), (97, 3));
    assert!(metering.iter().all(|record| record.tenant_id == tenant_id));

    let metrics = reqwest::get(format!("{}/metrics", serve.base))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"tally_ingest_events_total{outcome="accepted"} 97"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"tally_ingest_requests_total{endpoint="/v1/events",status="202"} 1"#)
    );
}

#[tokio::test]
async fn hot_tenants_are_keyed_by_subject_and_registered_types_are_enforced() {
    let env = TestEnv::migrated().await;
    let (tenant_id, key) = env.tenant_with_key(Scope::Ingest).await;
    let pool = env.catalog().await;
    tenant::set_hot(&pool, tenant_id, true)
        .await
        .expect("marks hot");
    event_type::register(&pool, tenant_id, "reading")
        .await
        .expect("registers");
    let serve = env.serve("ingest", &[]).await;

    let mut other_room = event("b");
    other_room["subject"] = json!("room-2");
    let mut unregistered = event("c");
    unregistered["type"] = json!("gossip");
    let response = post(
        &serve.base,
        &key,
        &json!([event("a"), other_room, unregistered]),
    )
    .await;
    let outcome: Value = response.json().await.expect("JSON");
    assert_eq!(outcome["accepted"], 2);
    assert_eq!(
        outcome["rejected"][0]["reason"],
        "event type \"gossip\" is not registered for this tenant"
    );
    let records = read_topic(&env.kafka, &env.kafka.topics().events, 2, READ_TIMEOUT).await;
    let keys: HashSet<String> = records.into_iter().map(|(key, _)| key).collect();
    assert_eq!(
        keys,
        HashSet::from([format!("{tenant_id}/room-1"), format!("{tenant_id}/room-2")])
    );
}

#[tokio::test]
async fn every_request_level_error_has_its_status_and_reason() {
    let env = TestEnv::migrated().await;
    let (tenant_id, key) = env.tenant_with_key(Scope::Ingest).await;
    let (_, read_key) = env.tenant_with_key(Scope::Read).await;
    let serve = env
        .serve(
            "ingest",
            &[
                ("TALLY__INGEST__MAX_BODY_BYTES", "10000"),
                ("TALLY__INGEST__MAX_BATCH_EVENTS", "50"),
                ("TALLY__INGEST__REFRESH_SECS", "1"),
            ],
        )
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/events", serve.base);
    let batch = json!([event("ok")]);

    let missing = client
        .post(&url)
        .json(&batch)
        .send()
        .await
        .expect("answers");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let unknown = post(&serve.base, "tly_not-a-key", &batch).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let wrong_scope = post(&serve.base, &read_key, &batch).await;
    assert_eq!(wrong_scope.status(), StatusCode::FORBIDDEN);
    let body: Value = wrong_scope.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "FORBIDDEN");

    let garbage = client
        .post(&url)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("[{\"specversion\":")
        .send()
        .await
        .expect("answers");
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    let wrong_type = client
        .post(&url)
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body("a,b")
        .send()
        .await
        .expect("answers");
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge: Vec<Value> = (0..49)
        .map(|index| event(&format!("big-{index}")))
        .collect();
    let too_large = post(&serve.base, &key, &json!(huge)).await;
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let many: Vec<Value> = (0..51)
        .map(|index| json!({"specversion":"1.0","id":index.to_string(),"source":"s","type":"t"}))
        .collect();
    let too_many = post(&serve.base, &key, &json!(many)).await;
    assert_eq!(too_many.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // gzip bodies are accepted, and checked against the limit once decompressed.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(batch.to_string().as_bytes())
        .expect("compresses");
    let gzipped = client
        .post(&url)
        .bearer_auth(&key)
        .header("content-type", "application/cloudevents-batch+json")
        .header("content-encoding", "gzip")
        .body(encoder.finish().expect("compresses"))
        .send()
        .await
        .expect("answers");
    assert_eq!(gzipped.status(), StatusCode::ACCEPTED);

    // A single event with its own content type; a revoked key stops working within the
    // refresh interval.
    let single = client
        .post(&url)
        .bearer_auth(&key)
        .header("content-type", "application/cloudevents+json")
        .body(event("single").to_string())
        .send()
        .await
        .expect("answers");
    assert_eq!(single.status(), StatusCode::ACCEPTED);
    let pool = env.catalog().await;
    let key_id = api_key::list(&pool, tenant_id).await.expect("lists")[0].id;
    api_key::revoke(&pool, tenant_id, key_id)
        .await
        .expect("revokes");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        post(&serve.base, &key, &batch).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_tenant_over_its_rate_is_throttled_without_hurting_others() {
    let env = TestEnv::migrated().await;
    let (noisy, noisy_key) = env.tenant_with_key(Scope::Ingest).await;
    let (_, quiet_key) = env.tenant_with_key(Scope::Ingest).await;
    let pool = env.catalog().await;
    let slow = Limits {
        rate_per_sec: 2,
        burst: 10,
        monthly_events: None,
        monthly_mode: QuotaMode::Hard,
    };
    quota::set(&pool, noisy, &slow).await.expect("sets limits");
    let serve = env
        .serve("ingest", &[("TALLY__INGEST__REFRESH_SECS", "1")])
        .await;

    let ten: Vec<Value> = (0..10).map(|index| event(&format!("n-{index}"))).collect();
    assert_eq!(
        post(&serve.base, &noisy_key, &json!(ten)).await.status(),
        StatusCode::ACCEPTED
    );
    let throttled = post(&serve.base, &noisy_key, &json!(ten)).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("whole seconds");
    assert!((1..=5).contains(&retry_after), "retry after {retry_after}");
    let body: Value = throttled.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(
        body["error"]["limit"],
        json!({ "kind": "rate", "rate_per_sec": 2, "burst": 10 })
    );

    let fifty: Vec<Value> = (0..50).map(|index| event(&format!("q-{index}"))).collect();
    for _ in 0..3 {
        assert_eq!(
            post(&serve.base, &quiet_key, &json!(fifty)).await.status(),
            StatusCode::ACCEPTED
        );
    }

    // Raising the limit in PostgreSQL applies within 5 s, without a restart.
    let fast = Limits {
        rate_per_sec: 10_000,
        burst: 10_000,
        ..slow
    };
    quota::set(&pool, noisy, &fast)
        .await
        .expect("raises limits");
    let changed_at = Instant::now();
    loop {
        let status = post(&serve.base, &noisy_key, &json!(fifty)).await.status();
        if status == StatusCode::ACCEPTED {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            changed_at.elapsed() < Duration::from_secs(5),
            "the new limit did not apply within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn monthly_quotas_refuse_when_hard_and_warn_when_soft() {
    let env = TestEnv::migrated().await;
    let (hard, hard_key) = env.tenant_with_key(Scope::Ingest).await;
    let (soft, soft_key) = env.tenant_with_key(Scope::Ingest).await;
    let pool = env.catalog().await;
    let capped = |mode| Limits {
        rate_per_sec: 1000,
        burst: 1000,
        monthly_events: Some(20),
        monthly_mode: mode,
    };
    quota::set(&pool, hard, &capped(QuotaMode::Hard))
        .await
        .expect("sets");
    quota::set(&pool, soft, &capped(QuotaMode::Soft))
        .await
        .expect("sets");
    let serve = env.serve("ingest", &[]).await;

    let fifteen: Vec<Value> = (0..15).map(|index| event(&format!("m-{index}"))).collect();
    assert_eq!(
        post(&serve.base, &hard_key, &json!(fifteen)).await.status(),
        StatusCode::ACCEPTED
    );
    let refused = post(&serve.base, &hard_key, &json!(fifteen)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "QUOTA_EXHAUSTED");
    assert_eq!(
        body["error"]["limit"],
        json!({ "kind": "monthly_quota", "events": 20 })
    );

    assert_eq!(
        post(&serve.base, &soft_key, &json!(fifteen)).await.status(),
        StatusCode::ACCEPTED
    );
    let over = post(&serve.base, &soft_key, &json!(fifteen)).await;
    assert_eq!(over.status(), StatusCode::ACCEPTED);
    let body: Value = over.json().await.expect("JSON");
    assert_eq!(body["accepted"], 15);
    assert_eq!(
        body["warnings"][0],
        "soft monthly quota of 20 events exceeded (15 used before this request)"
    );
}
