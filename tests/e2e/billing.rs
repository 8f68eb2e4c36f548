//! Invoices end to end: events of three customers of two tenants through ingest and the
//! aggregator, invoice runs by hand at instants the test picks (`tally invoice run --at`) over
//! the last two calendar months, drafts that late events change inside the grace period,
//! finalized invoices numbered without gaps, and late usage after finalization billed on the
//! next invoice. Every figure is compared with a reference the test computes on its own.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, Months, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_billing::catalog::{customers, invoices};
use tally_billing::invoice::{Invoice, Status};
use tally_meter::api_key::Scope;
use tally_meter::catalog::meters;
use tally_meter::ids::{MeterKey, TenantId};
use tally_meter::meter::Meter;

use super::api::{code, graphql, graphql_body};
use super::meter_load::post_batch;
use super::support::{Serve, TestEnv, eventually, meter_create};

/// How old an event may be for ingest and the test's meters: its events go back two months.
pub(super) const LATENESS_SECS: &str = "8640000";

fn d(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

/// The first instant of the month `back` months before the current one.
pub(super) fn month_start(back: u32) -> DateTime<Utc> {
    let now = Utc::now();
    let this_month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .expect("a time");
    this_month - Months::new(back)
}

/// A CloudEvent of `units` for a subject at a time.
pub(super) fn usage_event(id: &str, subject: &str, time: DateTime<Utc>, units: u32) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": "billing-test", "type": "usage.recorded",
        "subject": subject, "time": time.to_rfc3339(), "data": {"units": units},
    })
}

/// Sends events and waits until the meter counts `events` events of the subjects over the
/// last three months.
pub(super) async fn send_and_wait(
    env: &TestEnv,
    serve: &Serve,
    (tenant, key): (TenantId, &str),
    meter: &str,
    batch: &[Value],
    subjects: &[&str],
    events: u64,
) {
    post_batch(&reqwest::Client::new(), &serve.base, key, batch).await;
    let meter = find_meter(env, tenant, meter).await;
    let subjects: Vec<String> = subjects
        .iter()
        .map(|subject| (*subject).to_owned())
        .collect();
    let analytics = env.analytics();
    let range = (month_start(3), month_start(0));
    wait_until_meter_counts(
        &meter,
        events,
        || analytics.totals(&meter, range, &subjects, None),
        |total| total.events,
    )
    .await;
}

/// The tenant's meter `key`.
pub(super) async fn find_meter(env: &TestEnv, tenant: TenantId, key: &str) -> Meter {
    let key = MeterKey::parse(key).expect("a key");
    meters::find(&env.catalog().await, tenant, &key)
        .await
        .expect("the meter")
}

/// Waits up to 60 s until the totals of `meter` that `totals` reads hold `events` events in
/// all, as `events_of` counts each.
pub(super) async fn wait_until_meter_counts<Total, Totals>(
    meter: &Meter,
    events: u64,
    mut totals: impl FnMut() -> Totals,
    events_of: fn(&Total) -> u64,
) where
    Totals: Future<Output = tally_meter::Result<Vec<Total>>>,
{
    eventually(Duration::from_secs(60), Duration::from_millis(250), || {
        let totals = totals();
        async move {
            let counted: u64 = totals
                .await
                .expect("totals answer")
                .iter()
                .map(events_of)
                .sum();
            if counted == events {
                Ok(())
            } else {
                Err(format!(
                    "meter {} counted {counted} of {events} events within 60 s",
                    meter.spec.key
                ))
            }
        }
    })
    .await;
}

/// An invoice as the test compares it: whose, which period, its state and its figures.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    customer: String,
    opening: bool,
    period_start: DateTime<Utc>,
    status: Status,
    lines: Vec<(String, Decimal)>,
    subtotal: Decimal,
    tax: Decimal,
    total: Decimal,
}

async fn seen(env: &TestEnv, tenant: TenantId, names: &BTreeMap<String, String>) -> Vec<Seen> {
    let mut listed = invoices::list(&env.catalog().await, tenant, None)
        .await
        .expect("invoices");
    listed.sort_by_key(|invoice| {
        (
            names[&invoice.customer_id.to_string()].clone(),
            invoice.period.start,
            !invoice.opening,
        )
    });
    listed
        .iter()
        .map(|invoice| Seen {
            customer: names[&invoice.customer_id.to_string()].clone(),
            opening: invoice.opening,
            period_start: invoice.period.start,
            status: invoice.status,
            lines: invoice
                .computed
                .lines
                .iter()
                .map(|line| (line.description.clone(), line.amount))
                .collect(),
            subtotal: invoice.computed.subtotal,
            tax: invoice.computed.tax,
            total: invoice.computed.total,
        })
        .collect()
}

/// The reference: an invoice of `customer` with `lines`, taxed at `tax_percent`, rounded half
/// away from zero to cents.
fn expected(
    customer: &str,
    opening: bool,
    period_start: DateTime<Utc>,
    status: Status,
    lines: &[(&str, &str)],
    tax_percent: &str,
) -> Seen {
    let lines: Vec<(String, Decimal)> = lines
        .iter()
        .map(|(description, amount)| ((*description).to_owned(), d(amount)))
        .collect();
    let subtotal: Decimal = lines.iter().map(|(_, amount)| *amount).sum();
    let tax = (subtotal * d(tax_percent) / Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    Seen {
        customer: customer.to_owned(),
        opening,
        period_start,
        status,
        lines,
        subtotal,
        tax,
        total: subtotal + tax,
    }
}

/// The customers' external ids by id.
async fn customer_names(env: &TestEnv, tenant: TenantId) -> BTreeMap<String, String> {
    customers::list(&env.catalog().await, tenant)
        .await
        .expect("customers")
        .into_iter()
        .map(|customer| (customer.id.to_string(), customer.external_id))
        .collect()
}

pub(super) fn write_plan(spec: &str) -> String {
    let path = std::env::temp_dir().join(format!("plan-{}.json", tally_testkit::random_id()));
    std::fs::write(&path, spec).expect("writes the plan");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// Serves the `ingest`, `meter` and `api` roles, with ingest taking events as old as
/// [`LATENESS_SECS`].
pub(super) async fn serve_billing(env: &TestEnv) -> Serve {
    env.serve(
        "ingest,meter,api",
        &[("TALLY__INGEST__MAX_EVENT_AGE_SECS", LATENESS_SECS)],
    )
    .await
}

/// Tenant A's plan in the billing tests, on its `units` meter: 10.00 a month, and units at 0.10
/// for the first 100 of a period and 0.05 after.
pub(super) const UNITS_PLAN: &str = r#"{"currency": "EUR", "interval": "MONTH", "charges": [
    {"type": "flat", "name": "Base", "amount": "10.00"},
    {"type": "usage", "name": "Units", "meter": "units", "pricing": "single",
     "model": {"model": "graduated", "tiers": [
        {"up_to": "100", "unit_price": "0.10"},
        {"up_to": null, "unit_price": "0.05"}]}}
]}"#;

/// Creates the tenant's plan `key` (named like its key) from `spec`, publishes it and subscribes
/// each of `customers` (external ids) to it from `start` (RFC 3339).
pub(super) async fn publish_and_subscribe(
    env: &TestEnv,
    tenant: &str,
    key: &str,
    spec: &str,
    customers: &[&str],
    start: &str,
) {
    let file = write_plan(spec);
    env.run_ok(&[
        "plan", "create", "--tenant", tenant, "--key", key, "--name", key, "--file", &file,
    ])
    .await;
    env.run_ok(&["plan", "publish", "--tenant", tenant, "--key", key])
        .await;
    for customer in customers {
        env.run_ok(&[
            "subscription",
            "create",
            "--tenant",
            tenant,
            "--customer",
            customer,
            "--plan",
            key,
            "--start",
            start,
        ])
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_are_drafted_finalized_and_adjusted_for_late_usage() {
    let env = TestEnv::migrated().await;
    let serve = serve_billing(&env).await;
    let (a, a_ingest) = env.tenant_with_key(Scope::Ingest).await;
    let (b, b_ingest) = env.tenant_with_key(Scope::Ingest).await;
    let (a_read, b_read) = (
        env.key_for(a, Scope::Read).await,
        env.key_for(b, Scope::Read).await,
    );
    let (a_ref, b_ref) = (a.to_string(), b.to_string());
    let (m0, m1, m2) = (month_start(2), month_start(1), month_start(0));
    let (p0, p1) = (
        m0 + chrono::Duration::days(3),
        m1 + chrono::Duration::days(3),
    );

    for (tenant, key, aggregation, value) in [
        (&a_ref, "units", "sum", Some("$.units")),
        (&b_ref, "calls", "count", None),
    ] {
        let mut args = meter_create(
            tenant,
            key,
            "usage.recorded",
            aggregation,
            &["--lateness-secs", LATENESS_SECS],
        );
        if let Some(value) = value {
            args.extend(["--value", value]);
        }
        env.run_ok(&args).await;
    }
    for (tenant, id, currency, extra) in [
        (
            &a_ref,
            "c1",
            "EUR",
            vec!["--tax-percent", "19", "--subject", "s1", "--subject", "s2"],
        ),
        (&a_ref, "c2", "EUR", vec!["--subject", "s3"]),
        (&b_ref, "c3", "USD", vec!["--subject", "s1"]),
    ] {
        let mut args = vec![
            "customer",
            "create",
            "--tenant",
            tenant,
            "--external-id",
            id,
            "--name",
            id,
            "--currency",
            currency,
        ];
        args.extend(extra);
        env.run_ok(&args).await;
    }
    let metered_plan = r#"{"currency": "USD", "interval": "MONTH", "charges": [
        {"type": "usage", "name": "Calls", "meter": "calls", "pricing": "single",
         "model": {"model": "package", "package_price": "2.00", "package_size": "10"}}
    ]}"#;
    let start = m0.to_rfc3339();
    publish_and_subscribe(&env, &a_ref, "std", UNITS_PLAN, &["c1", "c2"], &start).await;
    publish_and_subscribe(&env, &b_ref, "metered", metered_plan, &["c3"], &start).await;
    let a_names = customer_names(&env, a).await;
    let b_names = customer_names(&env, b).await;

    // The first period's usage: c1 130 units (s1 60, s2 70), c2 40, and 5 units of a subject
    // no customer owns; tenant B's c3 makes 23 calls, from a subject named like one of A's.
    let mut first = vec![
        usage_event("a1", "s1", p0, 20),
        usage_event("a2", "s1", p0, 20),
        usage_event("a3", "s1", p0, 20),
        usage_event("a4", "s2", p0, 70),
        usage_event("a5", "s3", p0, 40),
        usage_event("a6", "s9", p0, 5),
    ];
    first.push(usage_event("a1", "s1", p0, 20)); // a resend: counted once
    send_and_wait(
        &env,
        &serve,
        (a, &a_ingest),
        "units",
        &first,
        &["s1", "s2", "s3"],
        5,
    )
    .await;
    let calls: Vec<Value> = (0..23)
        .map(|number| usage_event(&format!("b{number}"), "s1", p0, 1))
        .collect();
    send_and_wait(&env, &serve, (b, &b_ingest), "calls", &calls, &["s1"], 23).await;

    let run = async |at: DateTime<Utc>| {
        env.run_ok(&["invoice", "run", "--at", &at.to_rfc3339()])
            .await
    };
    use Status::{Draft, Finalized};
    // An hour after the first period: the opening invoices are final, the period's drafts.
    run(m1 + chrono::Duration::hours(1)).await;
    assert_eq!(
        seen(&env, a, &a_names).await,
        vec![
            expected("c1", true, m0, Finalized, &[("Base", "10.00")], "19"),
            expected(
                "c1",
                false,
                m0,
                Draft,
                &[("Base", "10.00"), ("Units", "11.50")],
                "19"
            ),
            expected("c2", true, m0, Finalized, &[("Base", "10.00")], "0"),
            expected(
                "c2",
                false,
                m0,
                Draft,
                &[("Base", "10.00"), ("Units", "4.00")],
                "0"
            ),
        ]
    );
    assert_eq!(
        seen(&env, b, &b_names).await,
        vec![expected("c3", false, m0, Draft, &[("Calls", "6.00")], "0")]
    );

    // A late event inside the grace period changes the draft: 150 units.
    send_and_wait(
        &env,
        &serve,
        (a, &a_ingest),
        "units",
        &[usage_event("a7", "s2", p0, 20)],
        &["s1", "s2", "s3"],
        6,
    )
    .await;
    run(m1 + chrono::Duration::hours(2)).await;
    let c1_first = |status| {
        expected(
            "c1",
            false,
            m0,
            status,
            &[("Base", "10.00"), ("Units", "12.50")],
            "19",
        )
    };
    assert_eq!(seen(&env, a, &a_names).await[1], c1_first(Draft));

    // Past the grace period (24 h), the drafts are finalized and numbered.
    run(m1 + chrono::Duration::hours(25)).await;
    let after_grace = seen(&env, a, &a_names).await;
    assert_eq!(after_grace[1], c1_first(Finalized));
    assert!(
        after_grace
            .iter()
            .all(|invoice| invoice.status == Finalized)
    );

    // Usage of the finalized period arrives late (c1 +10 units, now 160 units: 13.00 instead
    // of 12.50) while the second period has some of its own (c1 50 units).
    send_and_wait(
        &env,
        &serve,
        (a, &a_ingest),
        "units",
        &[
            usage_event("a8", "s1", p0, 10),
            usage_event("a9", "s1", p1, 50),
        ],
        &["s1", "s2", "s3"],
        8,
    )
    .await;
    let late_line = format!(
        "Units: late usage, {} to {}",
        m0.format("%Y-%m-%d %H:%M UTC"),
        m1.format("%Y-%m-%d %H:%M UTC")
    );
    run(m2 + chrono::Duration::hours(1)).await;
    let c1_second = |status| {
        expected(
            "c1",
            false,
            m1,
            status,
            &[("Base", "10.00"), ("Units", "5.00"), (&late_line, "0.50")],
            "19",
        )
    };
    assert_eq!(seen(&env, a, &a_names).await[2], c1_second(Draft));
    run(m2 + chrono::Duration::hours(25)).await;
    let expected_a = vec![
        expected("c1", true, m0, Finalized, &[("Base", "10.00")], "19"),
        c1_first(Finalized),
        c1_second(Finalized),
        expected("c2", true, m0, Finalized, &[("Base", "10.00")], "0"),
        expected(
            "c2",
            false,
            m0,
            Finalized,
            &[("Base", "10.00"), ("Units", "4.00")],
            "0",
        ),
        expected(
            "c2",
            false,
            m1,
            Finalized,
            &[("Base", "10.00"), ("Units", "0.00")],
            "0",
        ),
    ];
    let expected_b = vec![
        expected("c3", false, m0, Finalized, &[("Calls", "6.00")], "0"),
        expected("c3", false, m1, Finalized, &[("Calls", "0.00")], "0"),
    ];
    assert_eq!(seen(&env, a, &a_names).await, expected_a);
    assert_eq!(seen(&env, b, &b_names).await, expected_b);

    // Numbers run without gaps per tenant.
    for (tenant, count) in [(a, 6), (b, 2)] {
        let mut numbers: Vec<u32> = invoices::list(&env.catalog().await, tenant, None)
            .await
            .expect("invoices")
            .iter()
            .map(|invoice| {
                let number = invoice.number.as_deref().expect("a number");
                number
                    .rsplit('-')
                    .next()
                    .expect("digits")
                    .parse()
                    .expect("a number")
            })
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=count).collect::<Vec<u32>>());
    }

    // A rerun of the whole run changes nothing.
    let before: Vec<Invoice> = invoices::list(&env.catalog().await, a, None)
        .await
        .expect("invoices");
    run(m2 + chrono::Duration::hours(25)).await;
    assert_eq!(
        invoices::list(&env.catalog().await, a, None)
            .await
            .expect("invoices"),
        before
    );

    // The late line explains itself.
    let second = before
        .iter()
        .find(|invoice| {
            invoice.period.start == m1 && a_names[&invoice.customer_id.to_string()] == "c1"
        })
        .expect("c1's second invoice");
    let explained = env
        .run_ok(&[
            "invoice",
            "explain",
            "--tenant",
            &a_ref,
            &second.id.to_string(),
        ])
        .await;
    assert!(
        explained.contains(&late_line)
            && explained.contains("meter units: 5 events billed, 6 now; the charge comes to 13.00 now, 12.50 was billed"),
        "{explained}"
    );

    // Tenant B sees none of A's invoices.
    let listed = graphql_body(&serve, &b_read, "{ invoices { id number } }").await;
    assert_eq!(
        listed["data"]["invoices"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    let (_, other) = graphql(
        &serve,
        &b_read,
        "query($id: ID!) { invoice(id: $id) { id } }",
        json!({ "id": second.id.to_string() }),
    )
    .await;
    assert_eq!(code(&other), Some("NOT_FOUND"), "{other}");
    let (_, own) = graphql(
        &serve,
        &a_read,
        "query($id: ID!) { invoice(id: $id) { number total } }",
        json!({ "id": second.id.to_string() }),
    )
    .await;
    assert_eq!(own["data"]["invoice"]["total"], json!("18.45"), "{own}");

    // The upcoming invoice of c1: no usage yet this month, next month's fee, taxed.
    let (_, upcoming) = graphql(
        &serve,
        &a_read,
        "query($id: ID!) { upcomingInvoice(customerId: $id) { periodStart total } }",
        json!({ "id": second.customer_id.to_string() }),
    )
    .await;
    let upcoming = &upcoming["data"]["upcomingInvoice"][0];
    assert_eq!(
        upcoming["periodStart"],
        json!(m2.to_rfc3339()),
        "{upcoming}"
    );
    let total: Decimal = upcoming["total"]
        .as_str()
        .expect("a total")
        .parse()
        .expect("a decimal");
    assert_eq!(total, d("11.90"));

    // Paying and voiding: a credit note for the voided invoice's total.
    let first_b = invoices::list(&env.catalog().await, b, None)
        .await
        .expect("invoices")
        .into_iter()
        .find(|invoice| invoice.period.start == m0)
        .expect("c3's first invoice");
    let voided = env
        .run(&[
            "invoice",
            "void",
            "--tenant",
            &b_ref,
            &first_b.id.to_string(),
        ])
        .await;
    let said = String::from_utf8_lossy(&voided.stderr);
    assert!(
        voided.status.success() && said.contains("-CN-000001 for -6.00 USD"),
        "{said}"
    );
    env.run_ok(&["invoice", "pay", "--tenant", &a_ref, &second.id.to_string()])
        .await;
    let again = env
        .run(&["invoice", "pay", "--tenant", &a_ref, &second.id.to_string()])
        .await;
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && said.contains("only a finalized invoice becomes paid"),
        "{said}"
    );
    let mut statuses = Vec::new();
    for (tenant, id) in [(a, second.id), (b, first_b.id)] {
        let found = invoices::find(&env.catalog().await, tenant, id)
            .await
            .expect("the invoice");
        statuses.push(found.status);
    }
    assert_eq!(statuses, vec![Status::Paid, Status::Void]);
}
