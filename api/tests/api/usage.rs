//! Usage over the edges of ranges, against the real ClickHouse: a range's bounds are whole
//! minutes, so adjacent ranges add up to the range they tile.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tally_api::ApiConfig;
use tally_meter::api_key::Scope;
use tally_testkit::Namespace;
use tally_testkit::store::tenant_with_key;

use super::support::{Node, first_error};

const USAGE: &str = "query($from: DateTime!, $to: DateTime!) {
    usage(meter: \"calls\", from: $from, to: $to, window: MINUTE) { events } }";

/// A tenant's admin key and its `calls` meter (COUNT), with the API over them.
async fn calls_meter(namespace: &Namespace) -> (Node, String, String, String) {
    let node = Node::start(namespace, ApiConfig::default()).await;
    let (tenant, admin) = tenant_with_key(&namespace.catalog().await, Scope::Admin).await;
    let meter = node.create_meter(&admin).await;
    (node, tenant.to_string(), admin, meter)
}

/// Writes the rollup of `events` events of the `calls` meter in the minute starting at
/// `minute` (RFC 3339), as the aggregator would.
async fn write_minute(namespace: &Namespace, tenant: &str, meter: &str, minute: &str, events: u64) {
    let start: DateTime<Utc> = minute.parse().expect("an RFC 3339 time");
    namespace
        .analytics()
        .client()
        .query(
            "INSERT INTO rollup_minute (tenant_id, meter_id, minute, group_values, version, events)
             VALUES (?, ?, ?, [''], 1, ?)",
        )
        .bind(tenant)
        .bind(meter)
        .bind(u32::try_from(start.timestamp()).expect("after 1970"))
        .bind(events)
        .execute()
        .await
        .expect("writes a rollup");
}

/// The events `usage` counts over `[from, to)`, or its error.
async fn events_between(node: &Node, admin: &str, from: &str, to: &str) -> Result<u64, Value> {
    let answer = node
        .graphql(admin, USAGE, json!({ "from": from, "to": to }))
        .await
        .json();
    let points = answer["data"]["usage"].as_array().ok_or(answer.clone())?;
    Ok(points
        .iter()
        .map(|point| point["events"].as_u64().expect("a count"))
        .sum())
}

#[tokio::test]
async fn adjacent_ranges_add_up_and_bounds_off_the_minute_are_refused_everywhere() {
    let namespace = Namespace::migrated().await;
    let (node, tenant, admin, meter) = calls_meter(&namespace).await;
    // Events at 10:00:30, 10:04:59, 10:05:00, 10:05:30 and 10:09:59: rollups keep them per
    // minute, so 10:05 holds two of them.
    for (minute, events) in [("10:00", 1), ("10:04", 1), ("10:05", 2), ("10:09", 1)] {
        write_minute(
            &namespace,
            &tenant,
            &meter,
            &format!("2026-11-21T{minute}:00Z"),
            events,
        )
        .await;
    }
    let at = |time: &str| format!("2026-11-21T{time}Z");

    // The ranges, [10:00:30, 10:05:30) and [10:05:30, 10:10:30), cannot be answered
    // exactly from minutes: they are refused, naming the bound and the minutes around it.
    let refused = events_between(&node, &admin, &at("10:00:30"), &at("10:05:30"))
        .await
        .expect_err("a bound off the minute is refused");
    let message = "`from` must be a whole minute, since usage is counted per minute: \
                   2026-11-21T10:00:30Z is not; use 2026-11-21T10:00:00Z or 2026-11-21T10:01:00Z";
    assert_eq!(
        first_error(&refused),
        (Some("BAD_USER_INPUT"), message),
        "{refused}"
    );
    for format in ["csv", "json"] {
        let path = format!(
            "/v1/usage.{format}?meter=calls&from={}&to={}&window=minute",
            at("10:00:30"),
            at("10:05:00")
        );
        let answer = node.get(&admin, &path).await;
        assert_eq!(answer.status, 400, "{format}: {}", answer.text());
        assert_eq!(first_error(&answer.json()).1, message, "{format}");
    }

    // On whole minutes, [10:00, 10:05) and [10:05, 10:10) add up to [10:00, 10:10).
    let first = events_between(&node, &admin, &at("10:00:00"), &at("10:05:00")).await;
    let second = events_between(&node, &admin, &at("10:05:00"), &at("10:10:00")).await;
    let whole = events_between(&node, &admin, &at("10:00:00"), &at("10:10:00")).await;
    assert_eq!((first, second, whole), (Ok(2), Ok(3), Ok(5)));
}
