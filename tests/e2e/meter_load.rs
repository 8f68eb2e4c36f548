//! Load and reference for the aggregator tests: tenants with one meter per aggregation, events
//! with known values sent through ingest, and the usage they must add up to, computed here
//! independently of Tally.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_meter::analytics::Analytics;
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::meters;
use tally_meter::ids::{MeterKey, TenantId};
use tally_meter::meter::{Aggregation, JsonPath, Meter, MeterSpec};
use tally_meter::quota::{Limits, QuotaMode};
use tally_meter::usage::{Tz, UsageQuery, Window, floor_minute};
use tally_testkit::store::set_limits;

use super::support::{TestEnv, eventually};

/// Consumer session settings for aggregators that tests kill: the broker drops a dead member
/// from the group after 6 s instead of librdkafka's default 45 s (shorter sessions expire live
/// members too when the machine is loaded).
pub const FAST_SESSIONS: &str = r#"{"session.timeout.ms"="6000","heartbeat.interval.ms"="1000"}"#;

/// How long after a kill the dead member is surely out of the group: a little more than the
/// session timeout of [`FAST_SESSIONS`]. The test broker (tansu 0.6) can leave a member that
/// joins while a dead one is still in the group with an empty assignment, so tests restart a
/// killed aggregator only after this.
pub const SESSION_EXPIRY: Duration = Duration::from_secs(7);

/// The event type every meter of the fleet reads.
pub const EVENT_TYPE: &str = "load.usage";

/// One meter per aggregation: key, aggregation, value path.
const METERS: [(&str, Aggregation, Option<&str>); 7] = [
    ("sum", Aggregation::Sum, Some("$.value")),
    ("count", Aggregation::Count, None),
    ("avg", Aggregation::Avg, Some("$.value")),
    ("min", Aggregation::Min, Some("$.value")),
    ("max", Aggregation::Max, Some("$.value")),
    ("users", Aggregation::UniqueCount, Some("$.user")),
    ("latest", Aggregation::Latest, Some("$.value")),
];

/// A tenant of the fleet.
pub struct FleetTenant {
    /// Its id.
    pub id: TenantId,
    /// An ingest key.
    pub key: String,
    /// Its meters, one per aggregation.
    pub meters: Vec<Meter>,
}

/// Tenants with unthrottled keys and one meter per aggregation each.
pub struct Fleet {
    /// The tenants.
    pub tenants: Vec<FleetTenant>,
}

impl Fleet {
    /// Creates `count` tenants in the test's catalog (which must be migrated).
    pub async fn create(env: &TestEnv, count: usize) -> Self {
        let catalog = env.catalog().await;
        let mut tenants = Vec::with_capacity(count);
        for _ in 0..count {
            let (id, key) = env.tenant_with_key(Scope::Ingest).await;
            let unthrottled = Limits {
                rate_per_sec: 10_000_000,
                burst: 10_000_000,
                monthly_events: None,
                monthly_mode: QuotaMode::Hard,
            };
            set_limits(&catalog, id, &unthrottled).await;
            let mut meters = Vec::with_capacity(METERS.len());
            for (key, aggregation, value_path) in METERS {
                let spec = MeterSpec {
                    key: MeterKey::parse(key).expect("valid key"),
                    event_type: EVENT_TYPE.to_owned(),
                    value_path: value_path.map(|path| JsonPath::parse(path).expect("valid")),
                    aggregation,
                    group_by: BTreeMap::from([(
                        "region".to_owned(),
                        JsonPath::parse("$.region").expect("valid"),
                    )]),
                    allowed_lateness_secs: 86_400,
                };
                meters.push(
                    meters::create(&catalog, id, &spec, Actor::Operator, &Caps::default())
                        .await
                        .expect("creates meter"),
                );
            }
            tenants.push(FleetTenant { id, key, meters });
        }
        Self { tenants }
    }
}

/// A start time for generated events such that they and the usage query stay in one calendar
/// month: ten minutes ago, or the start of this month if that is later.
pub fn base_time() -> DateTime<Utc> {
    let now = Utc::now();
    let month_start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .expect("a valid date");
    (now - chrono::Duration::minutes(10)).max(month_start)
}

/// The `number`th event of a tenant's stream: unique id, time 30 ms after the previous one (so
/// that a stream spans minutes), one of three subjects, a value with two decimals, one of 17
/// users and one of two regions.
pub fn event(base: DateTime<Utc>, number: usize) -> Value {
    let time = base + chrono::Duration::milliseconds(i64::try_from(number * 30).expect("fits"));
    let cents = i64::try_from(number * 37 % 1000).expect("fits") - 300;
    json!({
        "specversion": "1.0",
        "id": format!("e{number}"),
        "source": "load",
        "type": EVENT_TYPE,
        "subject": format!("device-{}", number % 3),
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {
            "value": serde_json::from_str::<Value>(&Decimal::new(cents, 2).to_string())
                .expect("a JSON number"),
            "user": format!("u{}", number % 17),
            "region": if number.is_multiple_of(2) { "eu" } else { "us" },
        },
    })
}

/// Usage as the tests compare it: each meter's total over the month, and each rollup's events
/// and sum per minute, subject and region, where an event counted under the wrong key shows
/// even when the totals agree; likewise per hour and per day, which must sum the minutes.
#[derive(Debug, Default, PartialEq)]
pub struct Usage {
    /// Per tenant, the month's value of each meter by key.
    pub totals: HashMap<TenantId, BTreeMap<String, Decimal>>,
    /// Per tenant, meter key, minute, subject and region: events and sum.
    pub rollups: BTreeMap<RollupKey, (u64, Decimal)>,
    /// The same per hour (keyed by its first minute), from `rollup_hour_v2`.
    pub hours: BTreeMap<RollupKey, (u64, Decimal)>,
    /// The same per day (keyed by its first minute), from `rollup_day_v2`.
    pub days: BTreeMap<RollupKey, (u64, Decimal)>,
}

/// Tenant, meter key, minute (seconds since the epoch), subject and region.
pub type RollupKey = (String, String, u32, String, String);

/// The usage the tenants' distinct events must add up to.
pub fn expected_usage(fleet: &Fleet, sent: &[Vec<Value>]) -> Usage {
    let mut usage = Usage::default();
    for (tenant, events) in fleet.tenants.iter().zip(sent) {
        usage.totals.insert(tenant.id, reference(events));
        let mut seen = HashSet::new();
        for event in events {
            if !seen.insert(event["id"].as_str().expect("an id")) {
                continue;
            }
            let time: DateTime<Utc> = event["time"]
                .as_str()
                .expect("a time")
                .parse()
                .expect("RFC 3339");
            let minute = u32::try_from(time.timestamp().div_euclid(60) * 60).expect("fits");
            let value: Decimal = event["data"]["value"]
                .to_string()
                .parse()
                .expect("a decimal");
            for meter in &tenant.meters {
                let key = (
                    tenant.id.to_string(),
                    meter.spec.key.to_string(),
                    minute,
                    event["subject"].as_str().expect("a subject").to_owned(),
                    event["data"]["region"]
                        .as_str()
                        .expect("a region")
                        .to_owned(),
                );
                let (count, sum) = usage.rollups.entry(key).or_default();
                *count += 1;
                if meter.spec.value_path.is_some()
                    && meter.spec.aggregation != Aggregation::UniqueCount
                {
                    *sum += value;
                }
            }
        }
    }
    for (_, sum) in usage.rollups.values_mut() {
        *sum = sum.normalize();
    }
    usage.hours = per_bucket(&usage.rollups, 3_600);
    usage.days = per_bucket(&usage.rollups, 86_400);
    usage
}

/// Minute rollups summed per bucket of `seconds`, keyed by its first minute.
fn per_bucket(
    minutes: &BTreeMap<RollupKey, (u64, Decimal)>,
    seconds: u32,
) -> BTreeMap<RollupKey, (u64, Decimal)> {
    let mut buckets: BTreeMap<RollupKey, (u64, Decimal)> = BTreeMap::new();
    for ((tenant, meter, minute, subject, region), (events, sum)) in minutes {
        let start = minute - minute % seconds;
        let key = (
            tenant.clone(),
            meter.clone(),
            start,
            subject.clone(),
            region.clone(),
        );
        let bucket = buckets.entry(key).or_default();
        bucket.0 += events;
        bucket.1 = (bucket.1 + sum).normalize();
    }
    buckets
}

/// The usage a tenant's distinct events must add up to, per meter key.
pub fn reference(events: &[Value]) -> BTreeMap<String, Decimal> {
    let mut seen = HashSet::new();
    let mut values: Vec<(String, Decimal)> = Vec::new();
    let mut users = HashSet::new();
    for event in events {
        let id = event["id"].as_str().expect("an id").to_owned();
        if !seen.insert(id) {
            continue;
        }
        let time = event["time"].as_str().expect("a time").to_owned();
        let value: Decimal = event["data"]["value"]
            .to_string()
            .parse()
            .expect("a decimal");
        users.insert(event["data"]["user"].as_str().expect("a user").to_owned());
        values.push((time, value));
    }
    let count = Decimal::from(values.len());
    let sum: Decimal = values.iter().map(|(_, value)| *value).sum();
    let latest = values
        .iter()
        .max_by(|left, right| left.0.cmp(&right.0))
        .map(|(_, value)| *value)
        .expect("some events");
    BTreeMap::from([
        ("sum".to_owned(), sum.normalize()),
        ("count".to_owned(), count),
        ("avg".to_owned(), (sum / count).normalize()),
        (
            "min".to_owned(),
            values
                .iter()
                .map(|(_, value)| *value)
                .min()
                .expect("some")
                .normalize(),
        ),
        (
            "max".to_owned(),
            values
                .iter()
                .map(|(_, value)| *value)
                .max()
                .expect("some")
                .normalize(),
        ),
        ("users".to_owned(), Decimal::from(users.len())),
        ("latest".to_owned(), latest.normalize()),
    ])
}

/// Sends a batch through ingest, retrying on 429 and 503 (after their Retry-After) until it is
/// acknowledged; panics on any other answer or after 60 s.
pub async fn post_batch(client: &reqwest::Client, base: &str, key: &str, batch: &[Value]) {
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        async || {
            let answer = client
                .post(format!("{base}/v1/events"))
                .bearer_auth(key)
                .header("content-type", "application/cloudevents-batch+json")
                .json(batch)
                .send()
                .await;
            match answer {
                Ok(response) if response.status().is_success() => {
                    let body: Value = response.json().await.expect("a JSON answer");
                    assert_eq!(body["accepted"], json!(batch.len()), "{body}");
                    return Ok(());
                }
                Ok(response) if matches!(response.status().as_u16(), 429 | 503) => {}
                Ok(response) => {
                    let status = response.status();
                    panic!(
                        "ingest answered {status}: {}",
                        response.text().await.unwrap_or_default()
                    );
                }
                Err(_) => {}
            }
            Err("ingest did not accept a batch within 60 s")
        },
    )
    .await;
}

/// Tally's usage of the fleet: the month's value of every meter through the usage query, and
/// the rollups' events and sums per key straight from ClickHouse.
pub async fn measured(analytics: &Analytics, fleet: &Fleet, base: DateTime<Utc>) -> Usage {
    Usage {
        totals: totals(analytics, fleet, base).await,
        rollups: rollups(analytics, fleet, "rollup_minute_v2").await,
        hours: rollups(analytics, fleet, "rollup_hour_v2").await,
        days: rollups(analytics, fleet, "rollup_day_v2").await,
    }
}

/// Every meter of the fleet over the whole month window, by tenant and key.
async fn totals(
    analytics: &Analytics,
    fleet: &Fleet,
    base: DateTime<Utc>,
) -> HashMap<TenantId, BTreeMap<String, Decimal>> {
    let query = UsageQuery {
        from: floor_minute(base) - chrono::Duration::minutes(1),
        to: floor_minute(Utc::now()) + chrono::Duration::minutes(2),
        window: Window::Month,
        time_zone: Tz::UTC,
        group_by: Vec::new(),
        subject: None,
    };
    let mut all = HashMap::new();
    for tenant in &fleet.tenants {
        let mut values = BTreeMap::new();
        for meter in &tenant.meters {
            let points = analytics.usage(meter, &query).await.expect("usage answers");
            assert!(points.len() <= 1, "one month window: {points:?}");
            if let Some(value) = points.first().and_then(|point| point.value) {
                values.insert(meter.spec.key.to_string(), value.normalize());
            }
        }
        all.insert(tenant.id, values);
    }
    all
}

/// The fleet's rollups in `table` summed per tenant, meter key, minute, subject and region,
/// over blocks and partitions.
async fn rollups(
    analytics: &Analytics,
    fleet: &Fleet,
    table: &str,
) -> BTreeMap<RollupKey, (u64, Decimal)> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Row {
        tenant_id: String,
        meter_id: String,
        minute: u32,
        subject: String,
        region: String,
        events: u64,
        sum: String,
    }
    let keys: HashMap<String, String> = fleet
        .tenants
        .iter()
        .flat_map(|tenant| &tenant.meters)
        .map(|meter| (meter.id.to_string(), meter.spec.key.to_string()))
        .collect();
    let tenants: Vec<String> = fleet
        .tenants
        .iter()
        .map(|tenant| format!("'{}'", tenant.id))
        .collect();
    let rows: Vec<Row> = analytics
        .client()
        .query(&format!(
            "SELECT tenant_id, meter_id, minute, subject, group_values[1] AS region,
                    sum(events) AS events, toString(sum(value_sum)) AS sum
             FROM {table} FINAL WHERE tenant_id IN ({})
             GROUP BY tenant_id, meter_id, minute, subject, region",
            tenants.join(", ")
        ))
        .fetch_all()
        .await
        .expect("the rollups answer");
    // Only the fleet's meters: an SLO's indicator keeps rollups of its own.
    rows.into_iter()
        .filter_map(|row| {
            let sum: Decimal = row.sum.parse().expect("a decimal");
            let key = (
                row.tenant_id,
                keys.get(&row.meter_id)?.clone(),
                row.minute,
                row.subject,
                row.region,
            );
            Some((key, (row.events, sum.normalize())))
        })
        .collect()
}

/// The first few tenants' totals and rollups that differ, one per line.
fn differences(expected: &Usage, actual: &Usage) -> String {
    let totals = expected.totals.iter().filter_map(|(tenant, want)| {
        let got = actual.totals.get(tenant).cloned().unwrap_or_default();
        (got != *want).then(|| format!("tenant {tenant}: want {want:?}, got {got:?}"))
    });
    let tables = [
        ("minute", &expected.rollups, &actual.rollups),
        ("hour", &expected.hours, &actual.hours),
        ("day", &expected.days, &actual.days),
    ];
    let rollups = tables.into_iter().flat_map(|(table, expected, actual)| {
        let keys: BTreeSet<&RollupKey> = expected.keys().chain(actual.keys()).collect();
        keys.into_iter()
            .filter_map(|key| {
                let (want, got) = (expected.get(key), actual.get(key));
                (want != got).then(|| format!("{table} {key:?}: want {want:?}, got {got:?}"))
            })
            .take(5)
            .collect::<Vec<_>>()
    });
    totals.take(5).chain(rollups).collect::<Vec<_>>().join("\n")
}

/// Waits until usage equals the reference of the events `sent` so far, as
/// [`assert_usage_converges`] does.
pub async fn assert_sent_usage_converges(
    env: &TestEnv,
    fleet: &Fleet,
    sent: &[Vec<Value>],
    base: DateTime<Utc>,
    timeout: Duration,
) {
    let expected = expected_usage(fleet, sent);
    assert_usage_converges(&env.analytics(), fleet, base, &expected, timeout).await;
}

/// How long usage must keep matching the reference to count as converged.
const USAGE_HOLDS_FOR: Duration = Duration::from_secs(2);

/// Waits until Tally's usage equals the reference for every tenant and meter, and keeps
/// equalling it for [`USAGE_HOLDS_FOR`]; panics with the differences after `timeout`, or at
/// once should a match change.
pub async fn assert_usage_converges(
    analytics: &Analytics,
    fleet: &Fleet,
    base: DateTime<Utc>,
    expected: &Usage,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    let mut matched_since: Option<Instant> = None;
    loop {
        let actual = measured(analytics, fleet, base).await;
        if &actual == expected {
            // A match must hold: a late write (a replay rewriting a row, a duplicate counted
            // after all) would change it again.
            let since = *matched_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= USAGE_HOLDS_FOR {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        assert!(
            matched_since.is_none(),
            "usage matched the reference, then changed:\n{}",
            differences(expected, &actual)
        );
        assert!(
            Instant::now() < deadline,
            "usage did not match the reference within {timeout:?}:\n{}",
            differences(expected, &actual)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
