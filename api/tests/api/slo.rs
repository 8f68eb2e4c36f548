//! SLOs through GraphQL against the real PostgreSQL and ClickHouse: an admin key applies one
//! from OpenSLO YAML (with its alert rule) and deletes it, a read key reads it and where it
//! stands, another tenant sees none of it, and its burn-down is exact at every point.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_meter::usage::floor_minute;
use tally_slo::catalog::{self as slos, Slo as StoredSlo};
use tally_testkit::Namespace;
use tally_testkit::store::tenant_with_key;

use super::support::Tenant;

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

#[tokio::test]
async fn a_tenant_applies_reads_and_deletes_its_slos_and_no_one_else_sees_them() {
    let Tenant {
        catalog,
        node,
        admin,
        reader,
        ..
    } = Tenant::start().await;
    let (_, stranger) = tenant_with_key(&catalog, Scope::Admin).await;

    let apply = "mutation($yaml: String) { applySlo(openslo: $yaml) }";
    // Applied twice: created, then left as it is.
    for outcome in ["created checkout", "unchanged checkout"] {
        let applied = node.data(&admin, apply, json!({ "yaml": OPENSLO })).await;
        assert_eq!(applied["applySlo"], json!([outcome]), "{applied}");
    }
    node.assert_refused(&reader, apply, json!({ "yaml": OPENSLO }), "FORBIDDEN")
        .await;
    node.assert_refused(
        &admin,
        apply,
        json!({ "yaml": OPENSLO.replace("Occurrences", "Timeslices") }),
        "BAD_USER_INPUT",
    )
    .await;

    let read = node
        .data(
            &reader,
            "{ slos { name objective window }
           slo(name: \"checkout\") { name spec series { budgetRemaining } }
           alertRules { name kind } }",
            json!({}),
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
        node.data(&stranger, "{ slos { name } }", json!({})).await["slos"],
        json!([])
    );
    node.assert_refused(
        &stranger,
        "{ slo(name: \"checkout\") { name } }",
        json!({}),
        "NOT_FOUND",
    )
    .await;
    let delete = "mutation { deleteSlo(name: \"checkout\") }";
    node.assert_refused(&stranger, delete, json!({}), "NOT_FOUND")
        .await;

    let deleted = node.data(&admin, delete, json!({})).await;
    assert_eq!(deleted["deleteSlo"], true);
    let after = node
        .data(&reader, "{ slos { name } alertRules { name } }", json!({}))
        .await;
    assert_eq!(after, json!({"slos": [], "alertRules": []}));
}

/// An instant of a GraphQL answer.
fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("not an instant: {value}"))
}

/// Writes the rollup rows of `total` events of the SLO `slo`, `good` of them good, in the minute
/// of `at`, as the aggregator would: in the minute, hour and day tables alike, in a block of
/// their own.
async fn write_counts(
    namespace: &Namespace,
    slo: &StoredSlo,
    at: DateTime<Utc>,
    good: u64,
    total: u64,
) {
    let minute = u32::try_from(floor_minute(at).timestamp()).expect("after 1970");
    for (resolution, bucket) in [("minute", 60), ("hour", 3_600), ("day", 86_400)] {
        namespace
            .analytics()
            .client()
            .query(
                "INSERT INTO rollup_writes (tenant_id, meter_id, minute, subject, group_values,
                     kafka_partition, block, version, events, value_sum, value_min, value_max,
                     latest_time_ms, latest_position, latest_value, resolution)
                 SELECT ?, ?, toUInt32(?), '', emptyArrayString(), toUInt32(0), rand64(),
                        toUInt64(1), toUInt64(?), toDecimal128(?, 9), toDecimal128(0, 9),
                        toDecimal128(1, 9), toInt64(0), toUInt64(0), toDecimal128(0, 9), ?",
            )
            .bind(slo.tenant_id.to_string())
            .bind(slo.id.to_string())
            .bind(minute - minute % bucket)
            .bind(total)
            .bind(good)
            .bind(resolution)
            .execute()
            .await
            .expect("writes a rollup row");
    }
}

#[tokio::test]
async fn a_burn_down_gives_the_exact_budget_at_each_midnight_and_now() {
    let Tenant {
        namespace,
        catalog,
        node,
        id: tenant,
        admin,
        ..
    } = Tenant::start().await;
    // A rule of the SLO's name watches something else: the SLO has no alerts, and says so.
    node.data(
        &admin,
        "mutation { createAlertRule(spec: {name: \"checkout\", kind: \"quota\", percents: [50],
                                            severity: \"warning\"}) { name } }",
        json!({}),
    )
    .await;
    let applied = node
        .data(
            &admin,
            &format!("mutation {{ applySlo(openslo: {}) }}", json!(OPENSLO)),
            json!({}),
        )
        .await;
    assert_eq!(
        applied["applySlo"],
        json!(["created checkout (no alerts: alert rule checkout watches something else)"])
    );
    let slo = slos::find(&catalog, tenant, "checkout")
        .await
        .expect("the SLO");
    // 99.9 %: 2 bad of 2,000 two days ago, 3 bad of 1,000 yesterday, none of 1,000 now.
    let now = Utc::now();
    let today = now.duration_trunc(TimeDelta::days(1)).expect("a day");
    write_counts(&namespace, &slo, today - TimeDelta::hours(38), 1_998, 2_000).await;
    write_counts(&namespace, &slo, today - TimeDelta::hours(12), 997, 1_000).await;
    write_counts(&namespace, &slo, now, 1_000, 1_000).await;

    let read = node
        .data(
            &admin,
            "{ slo(name: \"checkout\") {
             series { total bad budgetRemaining }
             burnDown { windowStart windowEnd step
                        series { group points { at total bad budgetRemaining } } } } }",
            json!({}),
        )
        .await;
    let burn_down = &read["slo"]["burnDown"];
    assert_eq!(burn_down["step"], "1day", "{read}");
    let end = floor_minute(now) + TimeDelta::minutes(1);
    assert_eq!(instant(&burn_down["windowEnd"]), end, "{read}");
    assert_eq!(
        instant(&burn_down["windowStart"]),
        end - TimeDelta::days(28)
    );
    let points = burn_down["series"][0]["points"].as_array().expect("points");
    // A point at each midnight after the window's start, and one now.
    let ats: Vec<DateTime<Utc>> = points.iter().map(|point| instant(&point["at"])).collect();
    let midnights = (0..28)
        .map(|days| today - TimeDelta::days(days))
        .filter(|at| *at < end);
    let mut expected: Vec<DateTime<Utc>> = midnights.collect();
    expected.reverse();
    expected.push(end);
    assert_eq!(ats, expected, "{read}");
    let point = |at: DateTime<Utc>| {
        points
            .iter()
            .find(|point| instant(&point["at"]) == at)
            .unwrap_or_else(|| panic!("no point at {at}: {read}"))
    };
    // Under 1,000 events the budget is no ratio yet; then 2 bad of 2 allowed, 5 of 3, 5 of 4.
    let two_days_ago = today - TimeDelta::days(2);
    let before = point(two_days_ago);
    assert_eq!(
        (&before["total"], &before["budgetRemaining"]),
        (&json!(0), &Value::Null)
    );
    assert_eq!(
        point(today - TimeDelta::days(1))["budgetRemaining"],
        "0",
        "{read}"
    );
    let remaining = |point: &Value| {
        point["budgetRemaining"]
            .as_str()
            .and_then(|text| text.parse::<Decimal>().ok())
            .expect("a remaining budget")
    };
    let yesterday = point(today);
    assert_eq!(
        (&yesterday["total"], &yesterday["bad"]),
        (&json!(3_000), &json!(5))
    );
    assert_eq!(
        remaining(yesterday).round_dp(6),
        Decimal::new(-666_667, 6),
        "{read}"
    );
    let last = points.last().expect("a point now");
    assert_eq!(remaining(last), Decimal::new(-25, 2), "{read}");
    // The last point is where the SLO stands now.
    let now_series = &read["slo"]["series"][0];
    assert_eq!(now_series["total"], 4_000);
    assert_eq!(now_series["budgetRemaining"], last["budgetRemaining"]);
    // Every SLO's standing at once says the same.
    let standings = node
        .data(
            &admin,
            "{ sloStandings { name series { total bad budgetRemaining } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        standings["sloStandings"],
        json!([{"name": "checkout", "series": [read["slo"]["series"][0]]}])
    );
}
