//! Platform billing end to end: the operator's platform tenant bills two tenants on platform
//! meters (events accepted, gigabytes ingested, gigabyte-hours stored, API queries) measured
//! from the platform usage the aggregator wrote after real ingest and API traffic. Every amount
//! is compared with a reference the test computes from the hours it reads.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, DurationRound, Months, NaiveTime, TimeZone, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use tally_billing::catalog::{customers, invoices};
use tally_billing::invoice::Status;
use tally_meter::analytics::Analytics;
use tally_meter::api_key::Scope;
use tally_meter::ids::TenantId;
use tally_meter::platform::HourUsage;

use super::api::{graphql, graphql_body};
use super::billing::write_plan;
use super::meter_load::post_batch;
use super::support::{TestEnv, eventually};

/// Unit prices of the platform plan, by charge.
const PRICES: [(&str, &str, &str); 4] = [
    ("Events", "events", "0.01"),
    ("Ingested", "ingested_gb", "20000"),
    ("Storage", "stored_gb_hours", "50"),
    ("API queries", "api_queries", "0.25"),
];

fn d(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

/// Waits until the platform usage of `tenants` holds `events` accepted events and `queries`
/// API queries each, and returns every tenant's hours.
async fn wait_for_usage(
    env: &TestEnv,
    tenants: &[(TenantId, u64, u64)],
) -> BTreeMap<TenantId, Vec<HourUsage>> {
    let analytics = env.analytics();
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(500),
        async || {
            let now = Utc::now();
            let hours = platform_hours_by_tenant(
                &analytics,
                now - chrono::Duration::hours(3),
                now + chrono::Duration::hours(1),
            )
            .await;
            let sum = |tenant: &TenantId, field: fn(&HourUsage) -> u64| -> u64 {
                hours
                    .get(tenant)
                    .map_or(0, |hours| hours.iter().map(field).sum())
            };
            if tenants.iter().all(|(tenant, events, queries)| {
                sum(tenant, |hour| hour.accepted_events) == *events
                    && sum(tenant, |hour| hour.api_queries) == *queries
            }) {
                Ok(hours)
            } else {
                Err(format!("platform usage {hours:?} within 60 s"))
            }
        },
    )
    .await
}

/// Every tenant's hours of platform usage over `[from, to)`.
pub(super) async fn platform_hours_by_tenant(
    analytics: &Analytics,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeMap<TenantId, Vec<HourUsage>> {
    let mut hours: BTreeMap<TenantId, Vec<HourUsage>> = BTreeMap::new();
    for (tenant, hour) in analytics
        .platform_hours(from, to)
        .await
        .expect("platform usage")
    {
        hours.entry(tenant).or_default().push(hour);
    }
    hours
}

/// The reference: each charge's line for a tenant's hours over `[start, end)`, with raw
/// events kept 30 days after their ingest day ends.
fn reference(
    hours: &[HourUsage],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<(String, Decimal)> {
    let in_period: Vec<&HourUsage> = hours
        .iter()
        .filter(|hour| hour.hour >= start && hour.hour < end)
        .collect();
    let events: u64 = in_period.iter().map(|hour| hour.accepted_events).sum();
    let bytes: u64 = in_period.iter().map(|hour| hour.accepted_bytes).sum();
    let queries: u64 = in_period.iter().map(|hour| hour.api_queries).sum();
    let mut byte_minutes = Decimal::ZERO;
    for hour in hours {
        let dropped =
            hour.hour.date_naive().and_time(NaiveTime::MIN).and_utc() + chrono::Duration::days(31);
        let minutes = (dropped.min(end) - hour.hour.max(start)).num_minutes();
        if minutes > 0 {
            byte_minutes += Decimal::from(hour.accepted_bytes) * Decimal::from(minutes);
        }
    }
    let gigabyte = d("1000000000");
    let quantities = [
        Decimal::from(events),
        Decimal::from(bytes) / gigabyte,
        byte_minutes / (gigabyte * Decimal::from(60)),
        Decimal::from(queries),
    ];
    PRICES
        .iter()
        .zip(quantities)
        .map(|((name, _, price), quantity)| {
            (
                (*name).to_owned(),
                (quantity * d(price))
                    .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_invoices_each_tenant_for_its_platform_usage() {
    let env = TestEnv::migrated().await;
    let serve = env.serve("ingest,meter,api", &[]).await;

    // Without a platform tenant there is nothing to bill with, and the error says what to do.
    env.run_refused(&["invoice", "run", "--platform"], "--platform")
        .await;

    let (a, a_ingest) = env.tenant_with_key(Scope::Ingest).await;
    let (b, b_ingest) = env.tenant_with_key(Scope::Ingest).await;
    let platform = env
        .run_ok(&["tenant", "create", "--name", "platform", "--platform"])
        .await;
    let platform: TenantId = platform.trim().parse().expect("the platform tenant's id");
    let second = env
        .run(&["tenant", "create", "--name", "books-2", "--platform"])
        .await;
    assert!(!second.status.success(), "one platform tenant at most");

    // A platform plan prices platform meters only.
    let wrong = write_plan(
        r#"{"currency": "EUR", "interval": "MONTH", "charges": [
            {"type": "usage", "name": "CPU", "meter": "cpu", "pricing": "single",
             "model": {"model": "unit", "unit_price": "1"}}]}"#,
    );
    env.run_ok(&[
        "plan", "create", "--tenant", "platform", "--key", "wrong", "--name", "Wrong", "--file",
        &wrong,
    ])
    .await;
    let publish = ["plan", "publish", "--tenant", "platform", "--key", "wrong"];
    env.run_refused(&publish, "not a platform meter").await;

    let charges: Vec<Value> = PRICES
        .iter()
        .map(|(name, meter, price)| {
            json!({"type": "usage", "name": name, "meter": meter, "pricing": "single",
                   "model": {"model": "unit", "unit_price": price}})
        })
        .collect();
    let plan = write_plan(
        &json!({"currency": "EUR", "interval": "MONTH", "charges": charges}).to_string(),
    );
    env.run_ok(&[
        "plan", "create", "--tenant", "platform", "--key", "platform", "--name", "Tally", "--file",
        &plan,
    ])
    .await;
    env.run_ok(&[
        "plan", "publish", "--tenant", "platform", "--key", "platform",
    ])
    .await;

    // Traffic: A sends 30 events and makes 3 API queries, B 10 events and 1 query. The
    // operator's own queries with a platform key are not counted.
    let client = reqwest::Client::new();
    let event = |id: usize| {
        json!({"specversion": "1.0", "id": format!("p{id}"), "source": "platform-test",
               "type": "platform.test", "subject": "s", "data": {"padding": "x".repeat(100)}})
    };
    for (key, events) in [(&a_ingest, 30), (&b_ingest, 10)] {
        let batch: Vec<Value> = (0..events).map(event).collect();
        post_batch(&client, &serve.base, key, &batch).await;
    }
    let (a_read, b_read) = (
        env.key_for(a, Scope::Read).await,
        env.key_for(b, Scope::Read).await,
    );
    for key in [&a_read, &a_read, &a_read, &b_read] {
        let (status, _) = graphql(&serve, key, "{ tenant { id } }", json!({})).await;
        assert_eq!(status, 200);
    }
    let hours = wait_for_usage(&env, &[(a, 30, 3), (b, 10, 1)]).await;

    // The run after the month and its grace period: each tenant becomes a customer of the
    // platform tenant and gets a finalized invoice for the month.
    let now = Utc::now();
    let month_end = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .expect("a time")
        + Months::new(1);
    let at = (month_end + chrono::Duration::hours(25)).to_rfc3339();
    let output = env
        .run(&["invoice", "run", "--platform", "--at", &at])
        .await;
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("added 2 tenants"), "{stderr}");

    let catalog = env.catalog().await;
    let names: BTreeMap<String, (String, Vec<String>)> = customers::list(&catalog, platform)
        .await
        .expect("customers")
        .into_iter()
        .map(|customer| {
            (
                customer.id.to_string(),
                (customer.external_id, customer.subjects),
            )
        })
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let first = invoices::list(&catalog, platform, None)
        .await
        .expect("invoices");
    assert_eq!(first.len(), 2, "one invoice per tenant: {first:?}");
    for invoice in &first {
        let (_, subjects) = &names[&invoice.customer_id.to_string()];
        let tenant: TenantId = subjects[0].parse().expect("a tenant id");
        assert_eq!(invoice.status, Status::Finalized);
        assert_eq!(invoice.period.end, month_end);
        // The subscription starts on the hour it was made in.
        let start = invoice.period.start;
        assert_eq!(start.duration_trunc(chrono::Duration::hours(1)), Ok(start));
        assert!(start <= now, "{start}");
        let lines: Vec<(String, Decimal)> = invoice
            .computed
            .lines
            .iter()
            .map(|line| (line.description.clone(), line.amount))
            .collect();
        assert_eq!(
            lines,
            reference(&hours[&tenant], start, month_end),
            "tenant {tenant}"
        );
        assert!(
            lines.iter().all(|(_, amount)| *amount > Decimal::ZERO),
            "every platform meter measured something: {lines:?}"
        );
    }

    // A rerun changes nothing and adds no customer.
    let again = env
        .run_ok(&["invoice", "run", "--platform", "--at", &at])
        .await;
    let second = invoices::list(&catalog, platform, None)
        .await
        .expect("invoices");
    assert_eq!(
        first
            .iter()
            .map(|invoice| (invoice.id, invoice.computed.total))
            .collect::<Vec<_>>(),
        second
            .iter()
            .map(|invoice| (invoice.id, invoice.computed.total))
            .collect::<Vec<_>>(),
        "{again}"
    );

    // The tenants see none of the operator's books.
    for key in [&a_read, &b_read] {
        let body = graphql_body(&serve, key, "{ invoices { id } }").await;
        assert_eq!(body["data"]["invoices"], json!([]), "{body}");
    }
}
