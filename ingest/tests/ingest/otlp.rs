//! OTLP/HTTP without an exporter: OTLP/JSON is read into events with their resource, a bad
//! item is a partial success, a broken body gets 400 and a missing key 401. (A real
//! OpenTelemetry exporter's protobuf is in the end-to-end tests, `tests/e2e/otlp.rs`.)

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use tally_ingest::IngestConfig;
use tally_meter::api_key::Scope;
use tally_testkit::Namespace;
use tally_testkit::kafka::read_events;
use tally_testkit::store::tenant_with_key;

use super::support::Node;

#[tokio::test]
async fn otlp_json_is_read_and_a_broken_body_gets_400() {
    let namespace = Namespace::migrated().await;
    let (_, key) = tenant_with_key(&namespace.catalog().await, Scope::Ingest).await;
    let node = Node::start(&namespace, IngestConfig::default()).await;
    let now_nanos = (chrono::Utc::now().timestamp_millis() * 1_000_000).to_string();
    let body = json!({
        "resourceSpans": [{
            "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "checkout" } }] },
            "scopeSpans": [{
                "scope": { "name": "manual" },
                "spans": [
                    {
                        "traceId": "5B8EFFF798038103D269B633813FC60C",
                        "spanId": "EEE19B7EC3C1B174",
                        "name": "GET /cart",
                        "kind": 2,
                        "startTimeUnixNano": now_nanos,
                        "endTimeUnixNano": now_nanos
                    },
                    {
                        "traceId": "5b8efff798038103d269b633813fc60c",
                        "spanId": "",
                        "name": "no span id",
                        "startTimeUnixNano": now_nanos
                    }
                ]
            }]
        }]
    });
    let answer = node
        .post_to(
            "/v1/traces",
            Some(&key),
            "application/json",
            body.to_string(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let outcome = answer.json();
    assert_eq!(outcome["partialSuccess"]["rejectedSpans"], 1, "{outcome}");
    assert!(
        outcome["partialSuccess"]["errorMessage"]
            .as_str()
            .expect("message")
            .starts_with("item 1: ")
    );

    let events = read_events(&namespace.kafka, Duration::from_secs(30)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].id,
        "5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"
    );
    assert_eq!(events[0].source, "checkout");

    let broken = node
        .post_to(
            "/v1/metrics",
            Some(&key),
            "application/x-protobuf",
            vec![0xff, 0xff, 0xff],
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    let unauthenticated = node
        .post_to("/v1/logs", None, "application/json", "{}")
        .await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
}
