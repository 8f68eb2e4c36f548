//! Each API key's request rate: a key past it gets 429 with Retry-After, other keys do not.

use serde_json::json;
use tally_api::ApiConfig;
use tally_meter::api_key::Scope;
use tally_testkit::Namespace;
use tally_testkit::store::tenant_with_key;

use super::support::{Node, first_error};

#[tokio::test]
async fn a_key_past_its_request_rate_gets_429_with_retry_after_and_others_do_not() {
    let namespace = Namespace::migrated().await;
    let config = ApiConfig {
        rate_per_key_per_sec: 1,
        burst_per_key: 2,
        ..ApiConfig::default()
    };
    let node = Node::start(&namespace, config).await;
    let catalog = namespace.catalog().await;
    let (_, busy) = tenant_with_key(&catalog, Scope::Read).await;
    let (_, quiet) = tenant_with_key(&catalog, Scope::Read).await;
    let query = "{ me { scope } }";
    for _ in 0..2 {
        assert_eq!(node.graphql(&busy, query, json!({})).await.status, 200);
    }
    let refused = node.graphql(&busy, query, json!({})).await;
    assert_eq!(refused.status, 429);
    let retry_after = refused
        .headers
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    assert_eq!(retry_after, Some(1));
    let body = refused.json();
    assert_eq!(first_error(&body).0, Some("RATE_LIMITED"), "{body}");
    let other = node.graphql(&quiet, query, json!({})).await;
    assert_eq!(other.status, 200, "another key is not held back");
}
