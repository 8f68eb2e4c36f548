//! The Stripe sync against a stub of Stripe's API (`tally_testkit::stripe`): a finalized
//! invoice pushed as one customer, one invoice, one item per line and one for the tax,
//! finalized there, amounts exact in cents; a `tally serve --roles billing` killed with
//! SIGKILL between two Stripe calls and restarted leaves exactly one Stripe invoice with the
//! right items (every call replays by its idempotency key); and a signed `invoice.paid`
//! webhook marks the Tally invoice paid, while unsigned and wrongly signed events are refused.

use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use tally_billing::catalog::{invoices, stripe as sync_store};
use tally_billing::invoice::{Invoice, Status};
use tally_billing::stripe::SyncState;
use tally_meter::api_key::Scope;
use tally_meter::ids::TenantId;
use tally_testkit::stripe::{StripeStub, event, sign};

use super::support::{TestEnv, eventually};

const WEBHOOK_SECRET: &str = "whsec_tally_test";

/// The settings of a billing role that runs and syncs every second against the stub.
fn stripe_env(stub: &StripeStub) -> Vec<(&'static str, String)> {
    vec![
        ("TALLY__BILLING__RUN_INTERVAL_SECS", "1".to_owned()),
        (
            "TALLY__BILLING__STRIPE__SECRET_KEY",
            "sk_test_tally".to_owned(),
        ),
        ("TALLY__BILLING__STRIPE__API_BASE", stub.base.clone()),
        ("TALLY__BILLING__STRIPE__SYNC_INTERVAL_SECS", "1".to_owned()),
        (
            "TALLY__BILLING__STRIPE__WEBHOOK_SECRET",
            WEBHOOK_SECRET.to_owned(),
        ),
    ]
}

/// A customer taxed at 19 % on a plan of three flat fees, subscribed from the start of this
/// month: the billing role's first run finalizes its opening invoice.
async fn subscribed_customer(env: &TestEnv) -> TenantId {
    let (tenant, _) = env.tenant_with_key(Scope::Read).await;
    let tenant_ref = tenant.to_string();
    env.run_ok(&[
        "customer",
        "create",
        "--tenant",
        &tenant_ref,
        "--external-id",
        "acme",
        "--name",
        "Acme GmbH",
        "--email",
        "billing@acme.test",
        "--currency",
        "EUR",
        "--tax-percent",
        "19",
    ])
    .await;
    let plan = std::env::temp_dir().join(format!("plan-{}.json", tally_testkit::random_id()));
    std::fs::write(
        &plan,
        r#"{"currency": "EUR", "interval": "MONTH", "charges": [
            {"type": "flat", "name": "Base", "amount": "10.00"},
            {"type": "flat", "name": "Support", "amount": "2.5"},
            {"type": "flat", "name": "Seats", "amount": "7.33"}
        ]}"#,
    )
    .expect("writes the plan");
    let plan = plan.to_str().expect("a UTF-8 path");
    env.run_ok(&[
        "plan",
        "create",
        "--tenant",
        &tenant_ref,
        "--key",
        "std",
        "--name",
        "Standard",
        "--file",
        plan,
    ])
    .await;
    env.run_ok(&["plan", "publish", "--tenant", &tenant_ref, "--key", "std"])
        .await;
    let now = Utc::now();
    let month_start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .expect("a time");
    env.run_ok(&[
        "subscription",
        "create",
        "--tenant",
        &tenant_ref,
        "--customer",
        "acme",
        "--plan",
        "std",
        "--start",
        &month_start.to_rfc3339(),
    ])
    .await;
    tenant
}

/// Waits until the tenant's one invoice has a sync in `state`; returns the invoice.
async fn wait_for_sync(env: &TestEnv, tenant: TenantId, state: SyncState) -> Invoice {
    let catalog = env.catalog().await;
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            let listed = invoices::list(&catalog, tenant, None)
                .await
                .expect("invoices");
            let [invoice] = listed.as_slice() else {
                return Err(format!("{} invoices after 30 s, not one", listed.len()));
            };
            let sync = sync_store::find(&catalog, tenant, invoice.id)
                .await
                .expect("the sync");
            if sync.as_ref().map(|sync| sync.state) == Some(state) {
                Ok(invoice.clone())
            } else {
                Err(format!(
                    "the invoice's sync is {sync:?}, not {state} after 30 s"
                ))
            }
        },
    )
    .await
}

fn cents(amount: Decimal) -> i64 {
    let cents = amount * Decimal::ONE_HUNDRED;
    assert_eq!(
        cents.fract(),
        Decimal::ZERO,
        "{amount} has no fraction of a cent"
    );
    rust_decimal::prelude::ToPrimitive::to_i64(&cents).expect("whole cents")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_between_two_stripe_calls_leaves_one_stripe_invoice_and_its_webhook_pays_it() {
    let env = TestEnv::migrated().await;
    let stub = StripeStub::start().await;
    let tenant = subscribed_customer(&env).await;
    let settings = stripe_env(&stub);
    let settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();

    // The first process makes the customer, the invoice and the first item; Stripe takes the
    // second item in but the process is killed before it hears back.
    stub.hold("/v1/invoiceitems", 1);
    let mut first = env.serve("billing", &settings).await;
    tokio::time::timeout(Duration::from_secs(30), stub.held())
        .await
        .expect("the sync reached the second invoice item within 30 s");
    first.child.kill().await.expect("SIGKILL");
    assert_eq!(stub.invoices().len(), 1);
    assert_eq!(stub.invoice_items().len(), 2);
    assert_eq!(stub.invoices()[0]["status"], "draft");
    let pending = wait_for_sync(&env, tenant, SyncState::Pending).await;
    assert_eq!(pending.status, Status::Finalized);

    // A restart replays what was done and finishes the rest.
    let mut second = env.serve("billing,api", &settings).await;
    let invoice = wait_for_sync(&env, tenant, SyncState::Synced).await;
    let customers = stub.customers();
    let stripe_invoices = stub.invoices();
    assert_eq!(customers.len(), 1, "one Stripe customer: {customers:?}");
    assert_eq!(customers[0]["name"], "Acme GmbH");
    assert_eq!(customers[0]["email"], "billing@acme.test");
    assert_eq!(
        stripe_invoices.len(),
        1,
        "one Stripe invoice: {stripe_invoices:?}"
    );
    let stripe_invoice = &stripe_invoices[0];
    assert_eq!(stripe_invoice["status"], "open");
    assert_eq!(stripe_invoice["customer"], customers[0]["id"]);
    assert_eq!(stripe_invoice["currency"], "eur");
    assert_eq!(
        stripe_invoice["metadata"]["tally_invoice_id"],
        invoice.id.to_string()
    );
    let lines: Vec<(String, i64)> = stripe_invoice["lines"]["data"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| {
            (
                line["description"].as_str().unwrap_or_default().to_owned(),
                line["amount"].as_i64().expect("an amount"),
            )
        })
        .collect();
    let mut expected: Vec<(String, i64)> = invoice
        .computed
        .lines
        .iter()
        .map(|line| (line.description.clone(), cents(line.amount)))
        .collect();
    expected.push(("Tax (19 %)".to_owned(), cents(invoice.computed.tax)));
    assert_eq!(
        lines,
        vec![
            ("Base".to_owned(), 1000),
            ("Support".to_owned(), 250),
            ("Seats".to_owned(), 733),
            ("Tax (19 %)".to_owned(), 377),
        ]
    );
    assert_eq!(lines, expected);
    assert_eq!(stub.invoice_items().len(), 4);
    assert_eq!(stripe_invoice["total"], cents(invoice.computed.total));
    let keys: Vec<String> = stub
        .requests()
        .iter()
        .map(|request| request.idempotency_key.clone().unwrap_or_default())
        .collect();
    assert!(
        keys.iter().all(|key| key.starts_with("tally-")),
        "every call has an idempotency key: {keys:?}"
    );
    assert!(
        stub.requests().iter().any(|request| request.replayed
            && request.idempotency_key.as_deref()
                == Some(format!("tally-{}-item-1", invoice.id).as_str())),
        "the second item was replayed after the restart"
    );

    // The tenant reads the push's state from its invoice.
    let read = env.key_for(tenant, Scope::Read).await;
    let (_, seen) = super::api::graphql(
        &second,
        &read,
        "query($id: ID!) { invoice(id: $id) { syncState { state stripeInvoiceId } } }",
        serde_json::json!({ "id": invoice.id.to_string() }),
    )
    .await;
    assert_eq!(
        seen["data"]["invoice"]["syncState"],
        serde_json::json!({ "state": "SYNCED", "stripeInvoiceId": stripe_invoice["id"] }),
        "{seen}"
    );

    // The webhook: refused unsigned and wrongly signed, applied once signed, and redelivery
    // changes nothing.
    let stripe_id = stripe_invoice["id"].as_str().expect("an id").to_owned();
    let paid = event(
        "invoice.paid",
        &stub.pay(&stripe_id),
        Utc::now().timestamp(),
    );
    let payload = serde_json::to_vec(&paid).expect("JSON");
    let url = format!("{}/v1/stripe/webhook", second.base);
    let client = reqwest::Client::new();
    let post = |signature: Option<String>| {
        let mut request = client.post(&url).body(payload.clone());
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        async move { request.send().await.expect("the webhook answers") }
    };
    let now = Utc::now().timestamp();
    for (signature, expected_message) in [
        (None, "no Stripe-Signature header"),
        (
            Some(sign(&payload, "whsec_someone_else", now)),
            "no signature",
        ),
        (Some(sign(&payload, WEBHOOK_SECRET, now - 600)), "300 s"),
    ] {
        let response = post(signature).await;
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.expect("a JSON error");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected_message), "{message}");
    }
    let catalog = env.catalog().await;
    let still = invoices::find(&catalog, tenant, invoice.id)
        .await
        .expect("the invoice");
    assert_eq!(still.status, Status::Finalized);
    for _ in 0..2 {
        let response = post(Some(sign(&payload, WEBHOOK_SECRET, now))).await;
        assert_eq!(response.status().as_u16(), 200);
        let paid = invoices::find(&catalog, tenant, invoice.id)
            .await
            .expect("the invoice");
        assert_eq!(paid.status, Status::Paid);
    }
    second.terminate().await;
}
