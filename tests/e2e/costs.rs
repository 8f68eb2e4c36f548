//! `tally cost attribute` against the platform usage the aggregator really wrote: two tenants
//! send 30 and 10 events, and each cost line of the month is split in that proportion (by
//! events, bytes or stored gigabyte-hours) to the cent, adding up to the line.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Datelike, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_meter::api_key::Scope;

use super::meter_load::post_batch;
use super::platform_billing::platform_hours_by_tenant;
use super::support::{TestEnv, eventually};

fn event(id: usize) -> Value {
    json!({
        "specversion": "1.0", "id": format!("c{id}"), "source": "costs", "type": "cost.test",
        "subject": "s", "data": {"n": id},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_costs_are_split_by_measured_use_to_the_cent() {
    let env = TestEnv::migrated().await;
    let serve = env.serve("ingest,meter", &[]).await;
    let (a, a_key) = env.tenant_with_key(Scope::Ingest).await;
    let (b, b_key) = env.tenant_with_key(Scope::Ingest).await;
    let client = reqwest::Client::new();
    let a_events: Vec<Value> = (0..30).map(event).collect();
    let b_events: Vec<Value> = (0..10).map(event).collect();
    post_batch(&client, &serve.base, &a_key, &a_events).await;
    post_batch(&client, &serve.base, &b_key, &b_events).await;

    // Wait until the platform usage of both tenants is written.
    let analytics = env.analytics();
    let now = Utc::now();
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(500),
        async || {
            let hours = platform_hours_by_tenant(
                &analytics,
                now - chrono::Duration::hours(2),
                now + chrono::Duration::hours(2),
            )
            .await;
            let events: BTreeMap<_, u64> = hours
                .into_iter()
                .map(|(tenant, hours)| {
                    (tenant, hours.iter().map(|hour| hour.accepted_events).sum())
                })
                .collect();
            if events.get(&a) == Some(&30) && events.get(&b) == Some(&10) {
                Ok(())
            } else {
                Err(format!("platform usage {events:?} within 60 s"))
            }
        },
    )
    .await;

    let costs = std::env::temp_dir().join(format!("costs-{}.csv", tally_testkit::random_id()));
    std::fs::write(
        &costs,
        "resource,description,amount,currency\n\
         events,Kafka cluster,100.00,EUR\n\
         stored_gb_hours,\"Disks, ClickHouse\",50.00,EUR\n\
         ingested_gb,Network,0.01,EUR\n",
    )
    .expect("writes the cost file");
    let month = format!("{}-{:02}", now.year(), now.month());
    let csv = env
        .run_ok(&[
            "cost",
            "attribute",
            "--month",
            &month,
            "--costs",
            costs.to_str().expect("a UTF-8 path"),
            "--csv",
        ])
        .await;
    // tenant_id,tenant,resource,description,usage,amount,currency; descriptions may be quoted.
    let mut shares: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for row in csv.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        let amount: Decimal = fields[fields.len() - 2].parse().expect("an amount");
        shares.insert((fields[0].to_owned(), fields[2].to_owned()), amount);
    }
    let share = |tenant: &tally_meter::ids::TenantId, resource: &str| {
        shares[&(tenant.to_string(), resource.to_owned())]
    };
    let d = |text: &str| -> Decimal { text.parse().expect("a decimal") };
    assert_eq!(share(&a, "events"), d("75.00"), "{csv}");
    assert_eq!(share(&b, "events"), d("25.00"), "{csv}");
    assert_eq!(
        share(&a, "stored_gb_hours") + share(&b, "stored_gb_hours"),
        d("50.00")
    );
    assert!(
        share(&a, "stored_gb_hours") > share(&b, "stored_gb_hours"),
        "{csv}"
    );
    // One cent cannot be split: it goes to the larger user.
    assert_eq!(share(&a, "ingested_gb"), d("0.01"), "{csv}");
    assert_eq!(share(&b, "ingested_gb"), d("0.00"), "{csv}");

    // A month nobody used leaves every line unattributed, and says so.
    let table = env
        .run_ok(&[
            "cost",
            "attribute",
            "--month",
            "2020-01",
            "--costs",
            costs.to_str().expect("a UTF-8 path"),
        ])
        .await;
    assert_eq!(
        table.matches("(unattributed: no use)").count(),
        3,
        "{table}"
    );
    let attribute = [
        "cost",
        "attribute",
        "--month",
        "2020-13",
        "--costs",
        "x.csv",
    ];
    env.run_refused(&attribute, "YYYY-MM").await;
}
