//! SLOs through GraphQL against the real PostgreSQL and ClickHouse: an admin key applies one
//! from OpenSLO YAML (with its alert rule) and deletes it, a read key reads it and where it
//! stands, and another tenant sees none of it.

use serde_json::{Value, json};
use tally_api::ApiConfig;
use tally_meter::api_key::Scope;
use tally_testkit::Namespace;
use tally_testkit::store::{key_for, tenant_with_key};

use super::support::{Node, first_error};

const OPENSLO: &str = "apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout
spec:
  service: shop
  budgetingMethod: Occurrences
  timeWindow:
    - duration: 28d
      isRolling: true
  objectives:
    - target: 0.999
  indicator:
    metadata:
      name: checkout
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: tally
            spec: {eventType: http.request, good: \"$.status < 500\"}
        total:
          metricSource:
            type: tally
            spec: {eventType: http.request}
";

async fn data(node: &Node, key: &str, query: &str) -> Value {
    let answer = node.graphql(key, query, json!({})).await.json();
    assert!(answer["errors"].is_null(), "{query}: {answer}");
    answer["data"].clone()
}

#[tokio::test]
async fn a_tenant_applies_reads_and_deletes_its_slos_and_no_one_else_sees_them() {
    let namespace = Namespace::migrated().await;
    let catalog = namespace.catalog().await;
    let node = Node::start(&namespace, ApiConfig::default()).await;
    let (tenant, admin) = tenant_with_key(&catalog, Scope::Admin).await;
    let reader = key_for(&catalog, tenant, Scope::Read).await;
    let (_, stranger) = tenant_with_key(&catalog, Scope::Admin).await;

    let apply = "mutation($yaml: String) { applySlo(openslo: $yaml) }";
    let applied = node
        .graphql(&admin, apply, json!({ "yaml": OPENSLO }))
        .await
        .json();
    assert_eq!(
        applied["data"]["applySlo"],
        json!(["created checkout"]),
        "{applied}"
    );
    let again = node
        .graphql(&admin, apply, json!({ "yaml": OPENSLO }))
        .await
        .json();
    assert_eq!(
        again["data"]["applySlo"],
        json!(["unchanged checkout"]),
        "{again}"
    );
    let refused = node
        .graphql(&reader, apply, json!({ "yaml": OPENSLO }))
        .await
        .json();
    assert_eq!(first_error(&refused).0, Some("FORBIDDEN"), "{refused}");
    let bad = node
        .graphql(
            &admin,
            apply,
            json!({ "yaml": OPENSLO.replace("Occurrences", "Timeslices") }),
        )
        .await
        .json();
    assert_eq!(first_error(&bad).0, Some("BAD_USER_INPUT"), "{bad}");

    let read = data(
        &node,
        &reader,
        "{ slos { name objective window }
           slo(name: \"checkout\") { name spec series { budgetRemaining } }
           alertRules { name kind } }",
    )
    .await;
    assert_eq!(
        read["slos"],
        json!([{"name": "checkout", "objective": "99.9", "window": "28d"}])
    );
    assert_eq!(read["slo"]["series"], json!([]), "no events yet");
    assert_eq!(read["slo"]["spec"]["indicator"]["good"], "$.status < 500");
    assert_eq!(
        read["alertRules"],
        json!([{"name": "checkout", "kind": "slo"}])
    );

    // Another tenant sees nothing, and cannot read or delete it by name.
    assert_eq!(
        data(&node, &stranger, "{ slos { name } }").await["slos"],
        json!([])
    );
    let hidden = node
        .graphql(&stranger, "{ slo(name: \"checkout\") { name } }", json!({}))
        .await
        .json();
    assert_eq!(first_error(&hidden).0, Some("NOT_FOUND"), "{hidden}");
    let delete = "mutation { deleteSlo(name: \"checkout\") }";
    let not_theirs = node.graphql(&stranger, delete, json!({})).await.json();
    assert_eq!(
        first_error(&not_theirs).0,
        Some("NOT_FOUND"),
        "{not_theirs}"
    );

    let deleted = data(&node, &admin, delete).await;
    assert_eq!(deleted["deleteSlo"], true);
    let after = data(&node, &reader, "{ slos { name } alertRules { name } }").await;
    assert_eq!(after, json!({"slos": [], "alertRules": []}));
}
