//! Usage over the edges of ranges, against the real ClickHouse: a range's bounds are whole
//! minutes, so adjacent ranges add up to the range they tile; DAY and MONTH windows start at
//! midnight in the time zone asked for, across changes of the clocks and months.

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
/// `minute` (RFC 3339), as the aggregator would: in the minute, hour and day tables alike, in a
/// block of its own.
async fn write_minute(namespace: &Namespace, tenant: &str, meter: &str, minute: &str, events: u64) {
    let start: DateTime<Utc> = minute.parse().expect("an RFC 3339 time");
    let start = u32::try_from(start.timestamp()).expect("after 1970");
    for (resolution, bucket) in [("minute", 60), ("hour", 3_600), ("day", 86_400)] {
        namespace
            .analytics()
            .client()
            .query(
                "INSERT INTO rollup_writes (tenant_id, meter_id, minute, group_values, block,
                                            version, events, resolution)
                 VALUES (?, ?, ?, [''], ?, 1, ?, ?)",
            )
            .bind(tenant)
            .bind(meter)
            .bind(start - start % bucket)
            .bind(u64::from(start))
            .bind(events)
            .bind(resolution)
            .execute()
            .await
            .expect("writes a rollup");
    }
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

const ZONED_USAGE: &str = "query($from: DateTime!, $to: DateTime!, $window: Window!,
                                $timezone: String!) {
    usage(meter: \"calls\", from: $from, to: $to, window: $window, timezone: $timezone) {
      windowStart windowEnd events } }";

/// `usage`'s windows as (start, end, events), or its error.
async fn windows_in(
    node: &Node,
    admin: &str,
    range: (&str, &str),
    window: &str,
    timezone: &str,
) -> Result<Vec<(String, String, u64)>, Value> {
    let variables =
        json!({ "from": range.0, "to": range.1, "window": window, "timezone": timezone });
    let answer = node.graphql(admin, ZONED_USAGE, variables).await.json();
    let points = answer["data"]["usage"].as_array().ok_or(answer.clone())?;
    Ok(points
        .iter()
        .map(|point| {
            (
                point["windowStart"].as_str().expect("a start").to_owned(),
                point["windowEnd"].as_str().expect("an end").to_owned(),
                point["events"].as_u64().expect("a count"),
            )
        })
        .collect())
}

#[tokio::test]
async fn day_and_month_windows_start_at_midnight_in_the_time_zone_asked_for() {
    let namespace = Namespace::migrated().await;
    let (node, tenant, admin, meter) = calls_meter(&namespace).await;
    let window = |start: &str, end: &str, events: u64| (start.to_owned(), end.to_owned(), events);
    // Berlin's 29 March 2026 lasts 23 hours: clocks go from 02:00 to 03:00. Events at local
    // 23:30 on the 28th, midnight and 23:30 on the 29th, and midnight on the 30th.
    for (minute, events) in [
        ("2026-03-28T22:30:00Z", 1),
        ("2026-03-28T23:00:00Z", 2),
        ("2026-03-29T21:30:00Z", 4),
        ("2026-03-29T22:00:00Z", 8),
    ] {
        write_minute(&namespace, &tenant, &meter, minute, events).await;
    }
    let march = ("2026-03-28T00:00:00+01:00", "2026-03-31T00:00:00+02:00");
    assert_eq!(
        windows_in(&node, &admin, march, "DAY", "Europe/Berlin").await,
        Ok(vec![
            window("2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", 1),
            window("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 6),
            window("2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00", 8),
        ])
    );
    // In UTC, the default, the same events fall on other days.
    let utc_days = windows_in(&node, &admin, march, "DAY", "UTC").await;
    assert_eq!(
        utc_days.map(|days| days.into_iter().map(|day| day.2).collect::<Vec<_>>()),
        Ok(vec![3, 12])
    );

    // New York's January ends at 05:00 UTC on 1 February.
    for (minute, events) in [("2026-02-01T04:30:00Z", 16), ("2026-02-01T05:00:00Z", 32)] {
        write_minute(&namespace, &tenant, &meter, minute, events).await;
    }
    let winter = ("2026-01-01T05:00:00Z", "2026-03-01T05:00:00Z");
    assert_eq!(
        windows_in(&node, &admin, winter, "MONTH", "America/New_York").await,
        Ok(vec![
            window("2026-01-01T00:00:00-05:00", "2026-02-01T00:00:00-05:00", 16),
            window("2026-02-01T00:00:00-05:00", "2026-03-01T00:00:00-05:00", 32),
        ])
    );
    // The exports take the zone too and write the same bounds.
    let path = format!(
        "/v1/usage.csv?meter=calls&from={}&to={}&window=month&timezone=America/New_York",
        winter.0, winter.1
    );
    let csv = node.get(&admin, &path).await;
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert_eq!(
        csv.text(),
        "window_start,window_end,events,value\r\n\
         2026-01-01T00:00:00-05:00,2026-02-01T00:00:00-05:00,16,16\r\n\
         2026-02-01T00:00:00-05:00,2026-03-01T00:00:00-05:00,32,32\r\n"
    );

    // An unknown zone is refused, saying what a zone is.
    let message =
        "unknown time zone \"Europe/Berln\": use an IANA name such as Europe/Berlin, or UTC";
    let refused = windows_in(&node, &admin, march, "DAY", "Europe/Berln")
        .await
        .expect_err("no such zone");
    assert_eq!(first_error(&refused), (Some("BAD_USER_INPUT"), message));
    let path = format!(
        "/v1/usage.json?meter=calls&from={}&to={}&window=day&timezone=Europe/Berln",
        winter.0, winter.1
    );
    let answer = node.get(&admin, &path).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(first_error(&answer.json()).1, message);
}
