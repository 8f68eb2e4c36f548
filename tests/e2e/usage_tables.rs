//! Usage read from the coarsest rollup table that answers: over events spread across hours,
//! every window, grouping and subject gives what the minute rows give, and a query reads the
//! hour or day table only when its window and both bounds fall on that table's buckets.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde_json::{Value, json};
use tally_meter::analytics::Analytics;
use tally_meter::meter::{Aggregation, Meter};
use tally_meter::usage::{Tz, UsagePoint, UsageQuery, Window};

use super::meter::send_all;
use super::meter_load::{Fleet, assert_usage_converges, event, expected_usage};
use super::support::TestEnv;

/// Events per tenant.
const EVENTS: usize = 400;

/// The start of the window of `window` size that holds `time`.
fn window_start(window: Window, time: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = time.timestamp();
    let floor = |size: i64| {
        Utc.timestamp_opt(seconds - seconds.rem_euclid(size), 0)
            .single()
            .expect("a valid time")
    };
    match window {
        Window::Minute => floor(60),
        Window::Hour => floor(3_600),
        Window::Day => floor(86_400),
        Window::Month => Utc
            .with_ymd_and_hms(time.year(), time.month(), 1, 0, 0, 0)
            .single()
            .expect("a valid date"),
    }
}

/// The usage of `window` computed from the meter's per-minute usage over `[from, to)`: events
/// and, where minutes determine it, the value. AVG and UNIQUE_COUNT values are not sums of
/// minutes, so only their events are compared (their values are left out on both sides).
fn from_minutes(
    minutes: &[UsagePoint],
    window: Window,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    aggregation: Aggregation,
) -> Vec<UsagePoint> {
    let mut windows: BTreeMap<(DateTime<Utc>, BTreeMap<String, String>), UsagePoint> =
        BTreeMap::new();
    for minute in minutes {
        let start = window_start(window, minute.window_start.to_utc());
        let point = windows
            .entry((start, minute.groups.clone()))
            .or_insert_with(|| UsagePoint {
                window_start: start.max(from).fixed_offset(),
                window_end: window.next(start, Tz::UTC).min(to).fixed_offset(),
                groups: minute.groups.clone(),
                events: 0,
                value: None,
            });
        point.events += minute.events;
        point.value = match (aggregation, point.value, minute.value) {
            (Aggregation::Count | Aggregation::Sum, total, Some(value)) => {
                Some(total.unwrap_or_default() + value)
            }
            (Aggregation::Min, Some(least), Some(value)) => Some(least.min(value)),
            (Aggregation::Max, Some(most), Some(value)) => Some(most.max(value)),
            // Minutes come oldest first: the latest value is the last minute's.
            (Aggregation::Min | Aggregation::Max | Aggregation::Latest, _, value) => value,
            (Aggregation::Avg | Aggregation::UniqueCount, _, _) => None,
            (Aggregation::Count | Aggregation::Sum, total, None) => total,
        };
    }
    windows.into_values().collect()
}

/// The meter's usage of `window`, sorted, with the values [`from_minutes`] cannot tell left
/// out.
async fn usage(analytics: &Analytics, meter: &Meter, query: &UsageQuery) -> Vec<UsagePoint> {
    let mut points = analytics.usage(meter, query).await.expect("usage answers");
    if matches!(
        meter.spec.aggregation,
        Aggregation::Avg | Aggregation::UniqueCount
    ) && query.window != Window::Minute
    {
        for point in &mut points {
            point.value = None;
        }
    }
    points.sort_by_key(|point| (point.window_start, point.groups.clone()));
    points
}

/// Writes one row to `table` for the meter (no group values), in its own partition and block.
async fn insert_row(analytics: &Analytics, table: &str, meter: &Meter, minute: i64, events: u64) {
    analytics
        .client()
        .query(&format!(
            "INSERT INTO {table}
             SELECT ?, ?, toUInt32(?), '', emptyArrayString(), toUInt32(4242), toUInt64(0),
                    toUInt64(1), toUInt64(?), toDecimal128(1, 9), toDecimal128(1, 9),
                    toDecimal128(1, 9), toInt64(0), toUInt64(0), toDecimal128(1, 9)"
        ))
        .bind(meter.tenant_id.to_string())
        .bind(meter.id.to_string())
        .bind(minute)
        .bind(events)
        .execute()
        .await
        .expect("inserts a row");
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0)
        .single()
        .expect("a valid time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_from_hours_and_days_equals_usage_from_minutes_per_window_group_and_subject() {
    let env = TestEnv::migrated().await;
    let fleet = Fleet::create(&env, 2).await;
    let ingest = env.serve("ingest", &[]).await;
    let _aggregator = env.serve("meter", &[]).await;

    // Events over the last 23 hours (within this month, as the fleet's totals are a month's).
    let now = Utc::now();
    let first = (now - chrono::Duration::hours(23)).max(window_start(Window::Month, now));
    let spread_ms = (now - first).num_milliseconds() - 1_000;
    let streams: Vec<Vec<Value>> = fleet
        .tenants
        .iter()
        .map(|_| {
            (0..EVENTS)
                .map(|number| {
                    let offset = spread_ms * i64::try_from(number).expect("small") / EVENTS as i64;
                    let time = first + chrono::Duration::milliseconds(offset);
                    let mut event = event(first, number);
                    event["time"] =
                        json!(time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                    event
                })
                .collect()
        })
        .collect();
    send_all(&ingest.base, &fleet, &streams).await;
    let analytics = env.analytics();
    // The convergence check also compares the hour and day tables with the minutes' sums.
    assert_usage_converges(
        &analytics,
        &fleet,
        first,
        &expected_usage(&fleet, &streams),
        Duration::from_secs(60),
    )
    .await;

    // Ranges read from days, from hours, and from minutes (unaligned bounds).
    let minute = |time: DateTime<Utc>| window_start(Window::Minute, time);
    let first_day = window_start(Window::Day, first);
    let first_hour = window_start(Window::Hour, first);
    let after = now + chrono::Duration::days(1);
    let ranges = [
        (Window::Day, (first_day, window_start(Window::Day, after))),
        (
            Window::Hour,
            (first_hour, window_start(Window::Hour, after)),
        ),
        (
            Window::Hour,
            (
                minute(first) + chrono::Duration::minutes(7),
                minute(now) + chrono::Duration::minutes(2),
            ),
        ),
        (
            Window::Month,
            (
                minute(first) - chrono::Duration::minutes(3),
                window_start(Window::Hour, after) + chrono::Duration::minutes(5),
            ),
        ),
    ];
    let groupings = [Vec::new(), vec!["region".to_owned()]];
    let subjects = [None, Some("device-1".to_owned())];
    for meter in fleet.tenants.iter().flat_map(|tenant| &tenant.meters) {
        for (window, range) in ranges {
            for group_by in &groupings {
                for subject in &subjects {
                    let query = UsageQuery {
                        from: range.0,
                        to: range.1,
                        window,
                        group_by: group_by.clone(),
                        subject: subject.clone(),
                        time_zone: Tz::UTC,
                    };
                    let by_minute = UsageQuery {
                        window: Window::Minute,
                        ..query.clone()
                    };
                    let minutes = usage(&analytics, meter, &by_minute).await;
                    let want = from_minutes(&minutes, window, range, meter.spec.aggregation);
                    assert!(!want.is_empty(), "no usage in {range:?}");
                    let got = usage(&analytics, meter, &query).await;
                    assert_eq!(got, want, "meter {} over {query:?}", meter.spec.key);
                }
            }
        }
    }

    // Rows in the hour and day tables alone, days before the events: a range of whole days
    // reads the day's row, one of whole hours the hour's, and one that starts a minute later
    // (or a window of minutes) reads neither.
    let meter = &fleet.tenants[0].meters[1];
    assert_eq!(meter.spec.aggregation, Aggregation::Count);
    let day = first_day.timestamp() - 3 * 86_400;
    insert_row(&analytics, "rollup_day_v2", meter, day, 5).await;
    insert_row(&analytics, "rollup_hour_v2", meter, day + 5 * 3_600, 7).await;
    let events = |window: Window, from: i64, to: i64| {
        let query = UsageQuery {
            from: at(from),
            to: at(to),
            window,
            group_by: Vec::new(),
            subject: None,
            time_zone: Tz::UTC,
        };
        let analytics = analytics.clone();
        async move {
            let points = analytics.usage(meter, &query).await.expect("usage answers");
            points.iter().map(|point| point.events).sum::<u64>()
        }
    };
    assert_eq!(events(Window::Day, day, day + 86_400).await, 5);
    assert_eq!(events(Window::Month, day, day + 86_400).await, 5);
    assert_eq!(events(Window::Day, day + 3_600, day + 86_400).await, 7);
    assert_eq!(events(Window::Day, day + 60, day + 86_400).await, 0);
    let hour = day + 5 * 3_600;
    assert_eq!(events(Window::Hour, hour, hour + 3_600).await, 7);
    assert_eq!(events(Window::Day, hour, hour + 3_600).await, 7);
    assert_eq!(events(Window::Hour, hour + 60, hour + 3_600).await, 0);
    assert_eq!(events(Window::Minute, hour, hour + 3_600).await, 0);
}
