//! `POST /v1/events` against the real broker: what is acknowledged is in Kafka with its tenant,
//! bad events are quarantined with their reasons, hot tenants are keyed by subject, and every
//! request-level error has its status.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use axum::http::StatusCode;
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::{Value, json};
use tally_ingest::IngestConfig;
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::{api_keys, event_types, tenants};
use tally_meter::event::{EventBatch, MeteringRecord, Observation, QuarantineRecord};
use tally_meter::ids::TenantId;
use tally_testkit::Namespace;
use tally_testkit::kafka::read_topic;
use tally_testkit::store::tenant_with_key;

use super::support::{BATCH, Node, event};

const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn batches(records: &[(String, Vec<u8>)]) -> Vec<EventBatch> {
    records
        .iter()
        .map(|(_, payload)| serde_json::from_slice(payload).expect("an EventBatch"))
        .collect()
}

#[tokio::test]
async fn a_batch_with_bad_events_is_split_between_events_and_quarantine() {
    // This test's metrics only: the runtime is single-threaded, so every task records here.
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let namespace = Namespace::migrated().await;
    let (tenant_id, key) = tenant_with_key(&namespace.catalog().await, Scope::Ingest).await;
    let node = Node::start(&namespace, IngestConfig::default()).await;

    let mut body: Vec<Value> = (0..100).map(|index| event(&format!("e-{index}"))).collect();
    body[10].as_object_mut().expect("object").remove("id");
    body[50]["time"] = json!("2001-01-01T00:00:00Z");
    body[99]["specversion"] = json!("0.3");
    let answer = node.post_batch(&key, &json!(body)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(
        answer.json(),
        json!({
            "accepted": 97,
            "rejected": [
                { "index": 10, "reason": "missing required attribute id" },
                { "index": 50, "id": "e-50", "reason": "time is more than 7 days in the past" },
                { "index": 99, "id": "e-99", "reason": "specversion must be \"1.0\", got \"0.3\"" }
            ]
        })
    );

    let kafka = &namespace.kafka;
    let topics = kafka.topics();
    let events = batches(&read_topic(kafka, &topics.events, 1, READ_TIMEOUT).await);
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

    let quarantined: Vec<QuarantineRecord> = read_topic(kafka, &topics.quarantine, 3, READ_TIMEOUT)
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
    let metering: Vec<MeteringRecord> = read_topic(kafka, &topics.metering, 1, READ_TIMEOUT)
        .await
        .iter()
        .map(|(_, payload)| serde_json::from_slice(payload).expect("a MeteringRecord"))
        .collect();
    let accepted: u64 = metering.iter().map(|record| record.accepted_events).sum();
    let rejected: u64 = metering.iter().map(|record| record.rejected_events).sum();
    assert_eq!((accepted, rejected), (97, 3));
    // The tenant's records, and the node's observation of its answer for the platform's SLO.
    let (platform, tenant): (Vec<&MeteringRecord>, Vec<&MeteringRecord>) = metering
        .iter()
        .partition(|record| record.tenant_id == TenantId::PLATFORM);
    assert!(tenant.iter().all(|record| record.tenant_id == tenant_id));
    let observed: Vec<&Observation> = platform
        .iter()
        .flat_map(|record| &record.observations)
        .collect();
    assert_eq!(
        observed,
        [&Observation {
            event_type: "tally.ingest.request".to_owned(),
            data: json!({"route": "/v1/events", "status": 202}),
            count: 1,
        }]
    );

    let rendered = metrics.render();
    assert!(
        rendered.contains(r#"tally_ingest_events_total{outcome="accepted"} 97"#),
        "{rendered}"
    );
    assert!(
        rendered.contains(r#"tally_ingest_requests_total{endpoint="/v1/events",status="202"} 1"#),
        "{rendered}"
    );
}

#[tokio::test]
async fn hot_tenants_are_keyed_by_subject_and_registered_types_are_enforced() {
    let namespace = Namespace::migrated().await;
    let catalog = namespace.catalog().await;
    let (tenant_id, key) = tenant_with_key(&catalog, Scope::Ingest).await;
    tenants::set_hot(&catalog, tenant_id, true)
        .await
        .expect("marks hot");
    event_types::register(
        &catalog,
        tenant_id,
        "reading",
        Actor::Operator,
        &Caps::default(),
    )
    .await
    .expect("registers");
    let node = Node::start(&namespace, IngestConfig::default()).await;

    let mut other_room = event("b");
    other_room["subject"] = json!("room-2");
    let mut unregistered = event("c");
    unregistered["type"] = json!("gossip");
    let answer = node
        .post_batch(&key, &json!([event("a"), other_room, unregistered]))
        .await;
    let outcome = answer.json();
    assert_eq!(outcome["accepted"], 2);
    assert_eq!(
        outcome["rejected"][0]["reason"],
        "event type \"gossip\" is not registered for this tenant"
    );
    let kafka = &namespace.kafka;
    let records = read_topic(kafka, &kafka.topics().events, 2, READ_TIMEOUT).await;
    let keys: HashSet<String> = records.into_iter().map(|(key, _)| key).collect();
    assert_eq!(
        keys,
        HashSet::from([format!("{tenant_id}/room-1"), format!("{tenant_id}/room-2")])
    );
}

#[tokio::test]
async fn every_request_level_error_has_its_status_and_reason() {
    let namespace = Namespace::migrated().await;
    let catalog = namespace.catalog().await;
    let (tenant_id, key) = tenant_with_key(&catalog, Scope::Ingest).await;
    let (_, read_key) = tenant_with_key(&catalog, Scope::Read).await;
    let config = IngestConfig {
        max_body_bytes: 10_000,
        max_batch_events: 50,
        refresh_secs: 1,
        ..IngestConfig::default()
    };
    let node = Node::start(&namespace, config).await;
    let batch = json!([event("ok")]);

    let missing = node.post(None, "application/json", batch.to_string()).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    let unknown = node.post_batch("tly_not-a-key", &batch).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let wrong_scope = node.post_batch(&read_key, &batch).await;
    assert_eq!(wrong_scope.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong_scope.json()["error"]["code"], "FORBIDDEN");

    let garbage = node
        .post(Some(&key), "application/json", "[{\"specversion\":")
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    let wrong_type = node.post(Some(&key), "text/csv", "a,b").await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge: Vec<Value> = (0..49)
        .map(|index| event(&format!("big-{index}")))
        .collect();
    let too_large = node.post_batch(&key, &json!(huge)).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    let many: Vec<Value> = (0..51)
        .map(|index| json!({"specversion":"1.0","id":index.to_string(),"source":"s","type":"t"}))
        .collect();
    let too_many = node.post_batch(&key, &json!(many)).await;
    assert_eq!(too_many.status, StatusCode::PAYLOAD_TOO_LARGE);

    // gzip bodies are accepted, and checked against the limit once decompressed.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(batch.to_string().as_bytes())
        .expect("compresses");
    let gzipped = node
        .send(
            axum::http::Request::post("/v1/events")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", BATCH)
                .header("content-encoding", "gzip")
                .body(encoder.finish().expect("compresses").into())
                .expect("a valid request"),
        )
        .await;
    assert_eq!(gzipped.status, StatusCode::ACCEPTED);

    // A single event with its own content type; a revoked key stops working within the
    // refresh interval.
    let single = node
        .post(
            Some(&key),
            "application/cloudevents+json",
            event("single").to_string(),
        )
        .await;
    assert_eq!(single.status, StatusCode::ACCEPTED);
    let key_id = api_keys::list(&catalog, tenant_id).await.expect("lists")[0].id;
    api_keys::revoke(&catalog, tenant_id, key_id, Actor::Operator)
        .await
        .expect("revokes");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        node.post_batch(&key, &batch).await.status,
        StatusCode::UNAUTHORIZED
    );
}
