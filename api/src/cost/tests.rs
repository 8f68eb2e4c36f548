//! The cost limits on the real schema (with stores that are never reached: requests without a
//! caller stop at UNAUTHENTICATED in their resolvers, after the limits passed) and on a small
//! schema that measures how many top-level fields run at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
use tally_meter::analytics::{Analytics, ClickHouseConfig};
use tally_meter::caps::Caps;
use tally_meter::catalog::{Catalog, PostgresConfig};
use tally_meter::quota::{Limits, QuotaMode};

use super::*;
use crate::schema::{self, Services, TallySchema};

fn schema() -> TallySchema {
    let catalog = Catalog::connect_lazy(&PostgresConfig {
        url: "postgres://nobody@127.0.0.1:9/none".into(),
        ..PostgresConfig::default()
    })
    .expect("a lazy pool needs no server");
    schema::build(Services {
        catalog,
        analytics: Analytics::new(&ClickHouseConfig::default()),
        default_limits: Limits {
            rate_per_sec: 1,
            burst: 1,
            monthly_events: None,
            monthly_mode: QuotaMode::Hard,
        },
        caps: Caps::default(),
        raw_retention_days: 30,
    })
}

/// The codes and messages of a request's errors.
async fn errors(query: &str, variables: serde_json::Value) -> Vec<(String, String)> {
    let request = async_graphql::Request::new(query).variables(Variables::from_json(variables));
    let response = schema().execute(request).await;
    response
        .errors
        .into_iter()
        .map(|error| {
            let code = error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
                .map(ToString::to_string)
                .unwrap_or_default();
            (code.trim_matches('"').to_owned(), error.message)
        })
        .collect()
}

/// Whether the request passed the limits: its only errors are the missing caller's.
async fn passes(query: &str, variables: serde_json::Value) -> bool {
    let errors = errors(query, variables).await;
    !errors.is_empty() && errors.iter().all(|(code, _)| code == "UNAUTHENTICATED")
}

/// The one refusal of a request, if that is what it got.
async fn refusal(query: &str) -> Option<String> {
    match errors(query, serde_json::json!({})).await.as_slice() {
        [(code, message)] if code == "BAD_USER_INPUT" => Some(message.clone()),
        _ => None,
    }
}

fn aliases(count: usize, field: &str) -> String {
    (0..count)
        .map(|index| format!("a{index}: {field} "))
        .collect()
}

#[tokio::test]
async fn the_web_uis_queries_pass() {
    // As web/src/data.rs and web/src/server.rs write them, with their largest selections.
    let me = "me { tenantName scope keyId }";
    let pages = [
        format!(
            "{{ {me} data: traffic(top: 8) {{ minutes {{ minute accepted rejected }} \
             topTypes {{ eventType events }} }} }}"
        ),
        format!(
            "{{ {me} data: meters {{ key eventType aggregation valuePath \
             groupBy {{ name path }} allowedLatenessSecs }} }}"
        ),
        format!(
            "query($after: String) {{ {me} data: quarantine(first: 50, after: $after) {{ \
             items {{ ingestTime eventId reason raw }} nextCursor }} }}"
        ),
        format!(
            "{{ {me} data: quota {{ ratePerSec burst monthlyEvents monthlyMode isDefault \
             periodStart consumed }} }}"
        ),
        format!("{{ {me} data: apiKeys {{ id scope prefix createdAt revokedAt }} }}"),
    ];
    for page in &pages {
        assert!(passes(page, serde_json::json!({})).await, "{page}");
    }
    let meter_page = "query($key: String!, $from: DateTime!, $to: DateTime!, $window: Window!,
               $groupBy: [String!]!) {
           me { tenantName scope keyId }
           meters { key eventType aggregation valuePath groupBy { name path } allowedLatenessSecs }
           lastHour(meter: $key) { windowStart windowEnd groups { name value } events value }
           usage(meter: $key, from: $from, to: $to, window: $window, groupBy: $groupBy) {
             windowStart windowEnd groups { name value } events value
           }
         }";
    // Up to a week per minute (the meter page offers 1 hour to 90 days, minute to month).
    for (from, window) in [
        ("2026-11-23T10:30:00Z", "MINUTE"),
        ("2026-09-01T10:30:00Z", "HOUR"),
        ("2026-09-01T10:30:00Z", "MONTH"),
    ] {
        let variables = serde_json::json!({ "key": "tokens", "from": from,
            "to": "2026-11-30T10:30:10Z", "window": window, "groupBy": ["model"] });
        assert!(passes(meter_page, variables).await, "{from} {window}");
    }
    let full_page = "{ events(first: 200) { items { id source type subject time ingestTime \
                     data } nextCursor } }";
    assert!(passes(full_page, serde_json::json!({})).await);
}

#[tokio::test]
async fn floods_of_aliases_and_heavy_requests_are_refused_before_running() {
    let flood = format!("{{ {} }}", aliases(600, "events { items { id } }"));
    let message = refusal(&flood).await.expect("refused");
    assert!(
        message.contains("`events` is asked for 600 times"),
        "{message}"
    );
    assert!(message.contains("at most 10"), "{message}");
    let ten = format!("{{ {} }}", aliases(10, "me { scope }"));
    assert!(passes(&ten, serde_json::json!({})).await);
    let eleven = format!("{{ {} }}", aliases(11, "me { scope }"));
    assert!(refusal(&eleven).await.is_some());

    // Ten pages of 200 full events: 10 × (100 + 200 × 4) = 9,000.
    let pages = format!(
        "{{ {} }}",
        aliases(10, "events(first: 200) { items { id type data } }")
    );
    let message = refusal(&pages).await.expect("refused");
    assert!(
        message.contains("complexity is 9000, over the limit of 2000"),
        "{message}"
    );
    // Seven traffic fields are 21 ClickHouse queries: 7 × (300 + 2) = 2,114.
    let traffic = format!("{{ {} }}", aliases(7, "traffic { topTypes { events } }"));
    assert!(refusal(&traffic).await.is_some());
    // Week-long per-minute usage weighs its windows, 210 + 1 + 504: three are too many.
    let week = "usage(meter: \"m\", from: \"2026-01-01T00:00:00Z\", to: \"2026-01-08T00:00:00Z\", \
                window: MINUTE) { events }";
    assert!(passes(&format!("{{ {week} }}"), serde_json::json!({})).await);
    assert!(
        passes(
            &format!("{{ {} }}", aliases(2, week)),
            serde_json::json!({})
        )
        .await
    );
    assert!(
        refusal(&format!("{{ {} }}", aliases(3, week)))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn parse_validation_and_depth_errors_carry_bad_user_input() {
    let message = refusal("{ me { scope }").await.expect("a parse error");
    assert!(!message.is_empty());
    assert!(refusal("{ me { noSuchField } }").await.is_some());
    assert!(
        refusal("{ events(first: -1) { nextCursor } }")
            .await
            .is_some()
    );
    let huge_top = "{ traffic(top: 99999999999) { topTypes { events } } }";
    let huge_top_errors = errors(huge_top, serde_json::json!({})).await;
    assert!(refusal(huge_top).await.is_some(), "{huge_top_errors:?}");
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }";
    let message = refusal(deep).await.expect("too deep");
    assert!(message.contains("nested 9 deep; at most 8"), "{message}");
}

/// A schema whose one field counts how many of its resolvers run at once.
struct Slow {
    running: AtomicUsize,
    most: Arc<AtomicUsize>,
}

#[Object]
impl Slow {
    async fn slow(&self) -> usize {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        now
    }
}

#[tokio::test]
async fn at_most_four_top_level_fields_of_a_request_run_at_once() {
    let most = Arc::new(AtomicUsize::new(0));
    let schema = Schema::build(
        Slow {
            running: AtomicUsize::new(0),
            most: Arc::clone(&most),
        },
        EmptyMutation,
        EmptySubscription,
    )
    .extension(CostLimits)
    .finish();
    let response = schema
        .execute(format!("{{ {} }}", aliases(10, "slow")))
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(most.load(Ordering::SeqCst), MAX_CONCURRENT_FIELDS);
}
