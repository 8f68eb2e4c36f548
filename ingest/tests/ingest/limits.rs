//! Per-tenant limits at ingest: a noisy tenant is throttled without hurting others, limits
//! follow changes in PostgreSQL without a restart, and monthly quotas refuse or warn.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use tally_ingest::IngestConfig;
use tally_meter::api_key::Scope;
use tally_meter::quota::{Limits, QuotaMode};
use tally_testkit::Namespace;
use tally_testkit::store::{set_limits, tenant_with_key};

use super::support::{Node, event};

#[tokio::test]
async fn a_tenant_over_its_rate_is_throttled_without_hurting_others() {
    let namespace = Namespace::migrated().await;
    let catalog = namespace.catalog().await;
    let (noisy, noisy_key) = tenant_with_key(&catalog, Scope::Ingest).await;
    let (_, quiet_key) = tenant_with_key(&catalog, Scope::Ingest).await;
    let slow = Limits {
        rate_per_sec: 2,
        burst: 10,
        monthly_events: None,
        monthly_mode: QuotaMode::Hard,
    };
    set_limits(&catalog, noisy, &slow).await;
    let config = IngestConfig {
        refresh_secs: 1,
        ..IngestConfig::default()
    };
    let node = Node::start(&namespace, config).await;

    let ten: Vec<Value> = (0..10).map(|index| event(&format!("n-{index}"))).collect();
    assert_eq!(
        node.post_batch(&noisy_key, &json!(ten)).await.status,
        StatusCode::ACCEPTED
    );
    let throttled = node.post_batch(&noisy_key, &json!(ten)).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = throttled.headers["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("whole seconds");
    assert!((1..=5).contains(&retry_after), "retry after {retry_after}");
    let body = throttled.json();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(
        body["error"]["limit"],
        json!({ "kind": "rate", "rate_per_sec": 2, "burst": 10 })
    );

    let fifty: Vec<Value> = (0..50).map(|index| event(&format!("q-{index}"))).collect();
    for _ in 0..3 {
        assert_eq!(
            node.post_batch(&quiet_key, &json!(fifty)).await.status,
            StatusCode::ACCEPTED
        );
    }

    // Raising the limit in PostgreSQL applies within 5 s, without a restart.
    let fast = Limits {
        rate_per_sec: 10_000,
        burst: 10_000,
        ..slow
    };
    set_limits(&catalog, noisy, &fast).await;
    let changed_at = Instant::now();
    loop {
        let status = node.post_batch(&noisy_key, &json!(fifty)).await.status;
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
    let namespace = Namespace::migrated().await;
    let catalog = namespace.catalog().await;
    let (hard, hard_key) = tenant_with_key(&catalog, Scope::Ingest).await;
    let (soft, soft_key) = tenant_with_key(&catalog, Scope::Ingest).await;
    let capped = |mode| Limits {
        rate_per_sec: 1000,
        burst: 1000,
        monthly_events: Some(20),
        monthly_mode: mode,
    };
    set_limits(&catalog, hard, &capped(QuotaMode::Hard)).await;
    set_limits(&catalog, soft, &capped(QuotaMode::Soft)).await;
    let node = Node::start(&namespace, IngestConfig::default()).await;

    let fifteen: Vec<Value> = (0..15).map(|index| event(&format!("m-{index}"))).collect();
    assert_eq!(
        node.post_batch(&hard_key, &json!(fifteen)).await.status,
        StatusCode::ACCEPTED
    );
    let refused = node.post_batch(&hard_key, &json!(fifteen)).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers.contains_key("retry-after"));
    let body = refused.json();
    assert_eq!(body["error"]["code"], "QUOTA_EXHAUSTED");
    assert_eq!(
        body["error"]["limit"],
        json!({ "kind": "monthly_quota", "events": 20 })
    );

    assert_eq!(
        node.post_batch(&soft_key, &json!(fifteen)).await.status,
        StatusCode::ACCEPTED
    );
    let over = node.post_batch(&soft_key, &json!(fifteen)).await;
    assert_eq!(over.status, StatusCode::ACCEPTED);
    let body = over.json();
    assert_eq!(body["accepted"], 15);
    assert_eq!(
        body["warnings"][0],
        "soft monthly quota of 20 events exceeded (15 used before this request)"
    );
}
