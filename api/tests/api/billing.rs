//! Billing through GraphQL against the real PostgreSQL: an admin key manages customers, plans
//! and subscriptions; a read key reads them and changes nothing; another tenant sees none of
//! it, not even by id.

use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_testkit::store::tenant_with_key;

use super::support::{Tenant, first_error};

const PLAN: &str = r#"{"currency": "EUR", "interval": "MONTH", "charges": [
    {"type": "flat", "name": "Platform fee", "amount": "49.00"},
    {"type": "usage", "name": "Calls", "meter": "calls", "pricing": "single",
     "model": {"model": "package", "package_price": "5", "package_size": "1000"}}]}"#;

#[tokio::test]
async fn a_tenant_manages_its_customers_plans_and_subscriptions_and_no_one_else_sees_them() {
    let Tenant {
        catalog,
        node,
        admin,
        reader,
        ..
    } = Tenant::start().await;
    node.create_meter(&admin).await;

    let created = node
        .data(
            &admin,
            "mutation { createCustomer(input: { externalId: \"crm-1\", name: \"Globex\",
            currency: \"eur\", timezone: \"Europe/Berlin\", taxPercent: \"19\",
            subjects: [\"device-1\"] }) { id currency timezone taxPercent subjects } }",
            json!({}),
        )
        .await;
    let customer = &created["createCustomer"];
    assert_eq!(
        (
            &customer["currency"],
            &customer["timezone"],
            &customer["taxPercent"],
            &customer["subjects"]
        ),
        (
            &json!("EUR"),
            &json!("Europe/Berlin"),
            &json!("19"),
            &json!(["device-1"])
        )
    );
    let plan: Value = serde_json::from_str(PLAN).expect("JSON");
    node.data(&admin,
        "mutation($version: JSON!) { createPlan(key: \"pro\", name: \"Pro\", version: $version) { version } }",
        json!({ "version": plan }),
    )
    .await;
    let published = node
        .data(
            &admin,
            "mutation { publishPlan(key: \"pro\") { version publishedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(published["publishPlan"]["version"], 1);
    let subscribed = node
        .data(
            &admin,
            "mutation($customer: ID!) { createSubscription(customerId: $customer, planKey: \"pro\",
            anchor: \"anniversary\", startsAt: \"2026-11-05T10:00:00Z\") { id anchor startsAt } }",
            json!({ "customer": customer["id"] }),
        )
        .await;
    assert_eq!(subscribed["createSubscription"]["anchor"], "ANNIVERSARY");

    // A read key reads it all and changes nothing.
    let read = node.data(&reader,
        "{ customers { externalId } plans { key versions { version currency interval charges } }
           subscriptions { anchor } invoices { id } }",
        json!({}),
    )
    .await;
    assert_eq!(read["customers"], json!([{ "externalId": "crm-1" }]));
    assert_eq!(
        read["plans"][0]["versions"][0]["charges"][1]["model"]["package_size"],
        "1000"
    );
    assert_eq!(read["subscriptions"], json!([{ "anchor": "ANNIVERSARY" }]));
    node.assert_refused(
        &reader,
        "mutation { publishPlan(key: \"pro\") { version } }",
        json!({}),
        "FORBIDDEN",
    )
    .await;

    // Mistakes are named.
    let wrong = node
        .graphql(
            &admin,
            "mutation { createCustomer(input: { externalId: \"crm-2\", name: \"Initech\",
                currency: \"EUR\", subjects: [\"device-1\"] }) { id } }",
            json!({}),
        )
        .await
        .json();
    assert_eq!(
        first_error(&wrong),
        (
            Some("BAD_USER_INPUT"),
            "subject \"device-1\" already belongs to customer crm-1"
        ),
        "{wrong}"
    );

    // Another tenant sees none of it, not even by id.
    let (_, other) = tenant_with_key(&catalog, Scope::Admin).await;
    let theirs = node
        .data(
            &other,
            "{ customers { id } plans { key } subscriptions { id } invoices { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        theirs,
        json!({ "customers": [], "plans": [], "subscriptions": [], "invoices": [] })
    );
    node.assert_refused(
        &other,
        "mutation($id: ID!) { cancelSubscription(id: $id) { id } }",
        json!({ "id": subscribed["createSubscription"]["id"] }),
        "NOT_FOUND",
    )
    .await;
    for (query, variables) in [
        (
            "query($id: ID!) { upcomingInvoice(customerId: $id) { total } }",
            json!({ "id": customer["id"] }),
        ),
        (
            "mutation($id: ID!) { changeSubscription(id: $id, planKey: \"pro\") { id } }",
            json!({ "id": subscribed["createSubscription"]["id"] }),
        ),
        (
            "mutation($id: ID!) { payInvoice(id: $id) { id } }",
            json!({ "id": "00000000-0000-4000-8000-000000000001" }),
        ),
    ] {
        node.assert_refused(&other, query, variables, "NOT_FOUND")
            .await;
    }
}
