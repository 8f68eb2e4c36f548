//! Evaluation in batches against the real PostgreSQL and ClickHouse, with rollups written
//! straight into ClickHouse: a failing rule is reported and the rest of its batch is written,
//! a rule just evaluated or held by another evaluation is skipped, and two passes at once
//! record each transition once.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use tally_alerting::catalog::{rules, series};
use tally_alerting::evaluate::{Evaluator, Report};
use tally_alerting::rule::RuleSpec;
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::{Catalog, meters, tenants};
use tally_meter::ids::{MeterKey, Region, TenantId, TenantName};
use tally_meter::meter::{Aggregation, JsonPath, Meter, MeterSpec};
use tally_meter::quota::{Limits, QuotaMode};
use tally_meter::usage::floor_minute;
use tally_testkit::{Namespace, random_id};

/// Half of the default evaluation interval, as the alerting role skips rules.
const HALF_INTERVAL: Duration = Duration::milliseconds(7_500);

struct Stores {
    catalog: Catalog,
    analytics: Analytics,
    evaluator: Evaluator,
    /// Keeps the namespace's names for the test's length.
    _namespace: Namespace,
}

impl Stores {
    /// A pass at `at`, as the alerting role makes it: a rule evaluated within half an
    /// interval is not due.
    async fn pass(&self, at: DateTime<Utc>) -> Report {
        self.evaluator
            .due(at, at - HALF_INTERVAL)
            .await
            .expect("evaluates")
    }
}

async fn stores() -> Stores {
    let namespace = Namespace::migrated().await;
    let catalog = namespace.catalog().await;
    let analytics = namespace.analytics();
    let evaluator = Evaluator {
        catalog: catalog.clone(),
        analytics: analytics.clone(),
        default_limits: Limits {
            rate_per_sec: 100,
            burst: 100,
            monthly_events: None,
            monthly_mode: QuotaMode::Soft,
        },
        raw_retention_days: 30,
    };
    Stores {
        catalog,
        analytics,
        evaluator,
        _namespace: namespace,
    }
}

/// A tenant with a MAX meter of `$.temp` grouped by `$.region`, keyed `key`.
async fn tenant_with_meter(catalog: &Catalog, key: &str) -> (TenantId, Meter) {
    let name = TenantName::parse(&format!("t-{}", &random_id()[..10])).expect("a name");
    let tenant = tenants::create(catalog, &name, &Region::default())
        .await
        .expect("creates a tenant")
        .id;
    let meter = create_meter(catalog, tenant, key).await;
    (tenant, meter)
}

async fn create_meter(catalog: &Catalog, tenant: TenantId, key: &str) -> Meter {
    let spec = MeterSpec {
        key: MeterKey::parse(key).expect("a key"),
        event_type: "reading".to_owned(),
        value_path: Some(JsonPath::parse("$.temp").expect("a path")),
        aggregation: Aggregation::Max,
        group_by: BTreeMap::from([(
            "region".to_owned(),
            JsonPath::parse("$.region").expect("a path"),
        )]),
        allowed_lateness_secs: 3_600,
    };
    meters::create(catalog, tenant, &spec, Actor::Operator, &Caps::default())
        .await
        .expect("creates a meter")
}

/// Creates a tenant's rules, each given as JSON.
async fn create_rules(
    catalog: &Catalog,
    tenant: TenantId,
    jsons: impl IntoIterator<Item = impl AsRef<str>>,
) {
    for json in jsons {
        let spec = RuleSpec::parse(json.as_ref()).expect("a rule");
        rules::create(catalog, tenant, &spec, Actor::Operator)
            .await
            .expect("creates a rule");
    }
}

/// Writes one rollup row of the minute of `at`: a reading of `temp` from `subject` in
/// `region`; `subject_sql` is the subject as SQL, for subjects PostgreSQL cannot store.
async fn write_reading(
    analytics: &Analytics,
    meter: &Meter,
    at: DateTime<Utc>,
    (subject_sql, region): (&str, &str),
    temp: i64,
) {
    let minute = u32::try_from(floor_minute(at).timestamp()).expect("after 1970");
    analytics
        .client()
        .query(&format!(
            "INSERT INTO rollup_writes (tenant_id, meter_id, minute, subject, group_values,
                 kafka_partition, block, version, events, value_sum, value_min, value_max,
                 latest_time_ms, latest_position, latest_value, resolution)
             SELECT ?, ?, toUInt32(?), {subject_sql}, [?], toUInt32(0), rand64(), toUInt64(1),
                    toUInt64(1), toDecimal128(?, 9), toDecimal128(?, 9), toDecimal128(?, 9),
                    toInt64(0), toUInt64(0), toDecimal128(0, 9), 'minute'"
        ))
        .bind(meter.tenant_id.to_string())
        .bind(meter.id.to_string())
        .bind(minute)
        .bind(region)
        .bind(temp)
        .bind(temp)
        .bind(temp)
        .execute()
        .await
        .expect("writes a rollup row");
}

/// A tenant's alerts, each as `rule series state`.
async fn alerts(catalog: &Catalog, tenant: TenantId) -> Vec<String> {
    series::alerts(catalog, tenant)
        .await
        .expect("lists alerts")
        .into_iter()
        .map(|alert| {
            let state = alert.series.state.state.as_str();
            format!("{} {} {state}", alert.rule, alert.series.series)
        })
        .collect()
}

async fn transitions_recorded(catalog: &Catalog) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM alert_transitions")
        .fetch_one(catalog.pool())
        .await
        .expect("counts transitions")
}

#[tokio::test]
async fn a_rule_that_fails_is_reported_and_the_rest_of_its_batch_is_evaluated() {
    let stores = stores().await;
    let (tenant, temp) = tenant_with_meter(&stores.catalog, "temp").await;
    create_meter(&stores.catalog, tenant, "gone").await;
    let now = Utc::now();
    for (subject, region, value) in [("s1", "eu", 91), ("s2", "eu", 40), ("s3", "us", 60)] {
        write_reading(
            &stores.analytics,
            &temp,
            now,
            (&format!("'{subject}'"), region),
            value,
        )
        .await;
    }
    create_rules(
        &stores.catalog,
        tenant,
        [
            r#"{"name": "hot", "kind": "threshold", "meter": "temp", "window": "1m",
                "op": ">", "value": "80"}"#,
            r#"{"name": "cold-region", "kind": "threshold", "meter": "temp", "window": "5m",
                "op": "<", "value": "70", "by": {"group": "region"}, "for": "1m"}"#,
            r#"{"name": "orphan", "kind": "threshold", "meter": "gone", "window": "1m",
                "op": ">", "value": "1"}"#,
        ],
    )
    .await;
    meters::delete(
        &stores.catalog,
        tenant,
        &MeterKey::parse("gone").expect("a key"),
        Actor::Operator,
    )
    .await
    .expect("deletes the meter");

    let report = stores.evaluator.due(now, now).await.expect("evaluates");
    assert_eq!((report.evaluated, report.transitions), (2, 2), "{report:?}");
    assert_eq!(
        report.failed,
        ["orphan: the rule watches meter gone, which the tenant no longer has"]
    );
    // eu's hottest is 91, us's 60: only us is colder than 70.
    assert_eq!(
        alerts(&stores.catalog, tenant).await,
        ["hot subject=s1 FIRING", "cold-region region=us PENDING"]
    );
    // The failed rule is still due at the next pass; the others were evaluated.
    let later = now + Duration::seconds(61);
    let report = stores.pass(later).await;
    assert_eq!(
        (report.evaluated, report.failed.len()),
        (2, 1),
        "{report:?}"
    );
    assert_eq!(
        alerts(&stores.catalog, tenant).await,
        ["cold-region region=us FIRING", "hot subject=s1 RESOLVED"]
    );
    assert_eq!(transitions_recorded(&stores.catalog).await, 4);
}

#[tokio::test]
async fn a_rule_whose_series_cannot_be_stored_fails_alone() {
    let stores = stores().await;
    let (tenant, temp) = tenant_with_meter(&stores.catalog, "temp").await;
    let now = Utc::now();
    write_reading(&stores.analytics, &temp, now, ("'ok'", "eu"), 90).await;
    // PostgreSQL stores no NUL in text: this subject's series cannot be written.
    write_reading(
        &stores.analytics,
        &temp,
        now,
        ("concat('bad', unhex('00'))", "us"),
        95,
    )
    .await;
    create_rules(
        &stores.catalog,
        tenant,
        [
            r#"{"name": "by-subject", "kind": "threshold", "meter": "temp", "window": "1m",
                "op": ">", "value": "80"}"#,
            r#"{"name": "by-region", "kind": "threshold", "meter": "temp", "window": "1m",
                "op": ">", "value": "80", "by": {"group": "region"}}"#,
        ],
    )
    .await;

    let report = stores.evaluator.due(now, now).await.expect("evaluates");
    assert_eq!((report.evaluated, report.transitions), (1, 2), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].starts_with("by-subject: "), "{report:?}");
    assert_eq!(
        alerts(&stores.catalog, tenant).await,
        ["by-region region=eu FIRING", "by-region region=us FIRING"]
    );
    assert_eq!(transitions_recorded(&stores.catalog).await, 2);
}

#[tokio::test]
async fn a_rule_just_evaluated_or_held_by_another_evaluation_is_skipped() {
    let stores = stores().await;
    let (tenant, temp) = tenant_with_meter(&stores.catalog, "temp").await;
    // Every evaluation below is within this minute, so the reading stays in the window.
    let now = floor_minute(Utc::now()) + Duration::seconds(1);
    write_reading(&stores.analytics, &temp, now, ("'s1'", "eu"), 90).await;
    create_rules(
        &stores.catalog,
        tenant,
        [
            r#"{"name": "hot", "kind": "threshold", "meter": "temp", "window": "1m",
             "op": ">", "value": "80"}"#,
        ],
    )
    .await;
    let first = stores.pass(now).await;
    assert_eq!((first.evaluated, first.transitions), (1, 1), "{first:?}");
    // Another process a few seconds later: evaluated within half an interval, so not due.
    let soon = now + Duration::seconds(5);
    let second = stores.pass(soon).await;
    assert_eq!(second, Report::default());
    // Held by another evaluation's transaction: skipped, not waited for.
    let later = now + Duration::seconds(30);
    let mut holding = stores.catalog.begin().await.expect("begins");
    let held = rules::claim_due(&mut holding, later, &[], 10)
        .await
        .expect("claims");
    assert_eq!(held.len(), 1);
    let third = stores.pass(later).await;
    assert_eq!((third.evaluated, third.skipped), (0, 1), "{third:?}");
    holding.rollback().await.expect("rolls back");
    let fourth = stores.pass(later).await;
    assert_eq!((fourth.evaluated, fourth.transitions), (1, 0), "{fourth:?}");
    assert_eq!(transitions_recorded(&stores.catalog).await, 1);
}

#[tokio::test]
async fn two_passes_at_once_record_each_transition_once() {
    let stores = stores().await;
    let now = Utc::now();
    let mut tenants = Vec::new();
    for _ in 0..4 {
        let (tenant, temp) = tenant_with_meter(&stores.catalog, "temp").await;
        for (index, subject) in ["'a'", "'b'", "'c'"].into_iter().enumerate() {
            let temp_now = 70 + 10 * i64::try_from(index).expect("small");
            write_reading(&stores.analytics, &temp, now, (subject, "eu"), temp_now).await;
        }
        let over = [65, 75, 85].map(|threshold| {
            format!(
                r#"{{"name": "over-{threshold}", "kind": "threshold", "meter": "temp",
                    "window": "1m", "op": ">", "value": "{threshold}"}}"#
            )
        });
        create_rules(&stores.catalog, tenant, over).await;
        tenants.push(tenant);
    }
    // Per tenant: 3 breaches over 65, 2 over 75, 1 over 85.
    let (one, other) = tokio::join!(stores.pass(now), stores.pass(now));
    assert_eq!(one.evaluated + other.evaluated, 12, "{one:?} {other:?}");
    assert_eq!(one.transitions + other.transitions, 24, "{one:?} {other:?}");
    assert_eq!(transitions_recorded(&stores.catalog).await, 24);
    for tenant in tenants {
        assert_eq!(alerts(&stores.catalog, tenant).await.len(), 6);
    }
}
