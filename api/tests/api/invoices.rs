//! Invoice exports against the real PostgreSQL: an invoice written and finalized through
//! billing's catalog downloads as a PDF that `pdftotext` reads (number, lines, steps, total),
//! as CSV and JSON with exact values, and with the other invoices of its month as one CSV;
//! only read and admin keys of its tenant reach it.

use std::collections::BTreeMap;
use std::process::Stdio;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use tally_billing::catalog::{customers, invoices, plans, subscriptions};
use tally_billing::customer::{Customer, CustomerSpec};
use tally_billing::invoice::{self, Invoice, Measured};
use tally_billing::period::{BillingPeriod, Period};
use tally_billing::plan::{Charge, Interval, VersionSpec};
use tally_billing::price::{PriceModel, Pricing, Tier, UsagePrice};
use tally_billing::subscription::Anchor;
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::catalog::Catalog;
use tally_meter::ids::{InvoiceId, MeterKey, PlanKey};
use tally_testkit::store::{key_for, tenant_with_key};
use tokio::io::AsyncWriteExt;

use super::support::{Answer, Node, Tenant, first_error};

fn d(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

/// A month of the customer's, in Berlin.
fn berlin_month(start: &str, end: &str) -> BillingPeriod {
    let period = Period {
        start: utc(start),
        end: utc(end),
    };
    BillingPeriod {
        covered: period,
        full: period,
    }
}

/// A flat fee of 49.00 a month in advance, and calls on two graduated tiers: the first 1,000
/// at 0.01, the rest at 0.005.
fn plan() -> VersionSpec {
    VersionSpec {
        currency: "EUR".parse().expect("EUR"),
        interval: Interval::Month,
        charges: vec![
            Charge::Flat {
                name: "Platform fee".to_owned(),
                amount: d("49.00"),
            },
            Charge::Usage {
                name: "Calls".to_owned(),
                meter: MeterKey::parse("calls").expect("a key"),
                price: UsagePrice {
                    allowance: Decimal::ZERO,
                    pricing: Pricing::Single {
                        model: PriceModel::Graduated {
                            tiers: vec![
                                Tier {
                                    up_to: Some(d("1000")),
                                    unit_price: d("0.01"),
                                    flat_fee: Decimal::ZERO,
                                },
                                Tier {
                                    up_to: None,
                                    unit_price: d("0.005"),
                                    flat_fee: Decimal::ZERO,
                                },
                            ],
                        },
                    },
                    minimum: None,
                },
            },
        ],
    }
}

/// A tenant that billed one customer: January's invoice finalized, February's a draft.
struct Billed {
    node: Node,
    catalog: Catalog,
    admin: String,
    reader: String,
    customer: Customer,
    finalized: Invoice,
    draft: Invoice,
}

/// January: 2,500 calls, 10.00 + 7.50 = 17.50, and February's fee of 49.00 in advance;
/// subtotal 66.50, 19 % tax 12.635 → 12.64 (half away from zero), total 79.14.
async fn billed() -> Billed {
    let Tenant {
        catalog,
        node,
        id: tenant,
        admin,
        reader,
        ..
    } = Tenant::start().await;
    node.create_meter(&admin).await;
    let key = PlanKey::parse("pro").expect("a key");
    plans::create(&catalog, tenant, &key, "Pro", &plan(), Actor::Operator)
        .await
        .expect("creates the plan");
    let version = plans::publish(&catalog, tenant, &key, Actor::Operator)
        .await
        .expect("publishes");
    let spec = CustomerSpec::parse(
        "crm-7",
        "Globex, Inc.",
        Some("billing@globex.example"),
        "EUR",
        Some("Europe/Berlin"),
        Some(d("19")),
        &["device-1".to_owned()],
    )
    .expect("a valid customer");
    let customer = customers::create(&catalog, tenant, &spec, Actor::Operator)
        .await
        .expect("creates the customer");
    let subscription = subscriptions::create(
        &catalog,
        tenant,
        customer.id,
        version.id,
        Anchor::Calendar,
        utc("2025-12-31T23:00:00Z"),
        Actor::Operator,
    )
    .await
    .expect("subscribes");
    let january = berlin_month("2025-12-31T23:00:00Z", "2026-01-31T23:00:00Z");
    let february = berlin_month("2026-01-31T23:00:00Z", "2026-02-28T23:00:00Z");
    let march = berlin_month("2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z");
    let calls = |count: &str| {
        BTreeMap::from([(
            "Calls".to_owned(),
            Measured {
                quantities: BTreeMap::from([(String::new(), d(count))]),
                events: count.parse().expect("a count"),
            },
        )])
    };
    let mut written = Vec::new();
    for (period, next, measured) in [
        (january, february, calls("2500")),
        (february, march, calls("400")),
    ] {
        let computed = invoice::compute(&invoice::Inputs {
            version: &version,
            usage: Some((period, measured)),
            advance: Some(next),
            unused: Vec::new(),
            late: Vec::new(),
            tax_percent: Some(d("19")),
        })
        .expect("computes");
        let draft = invoices::write_draft(
            &catalog,
            &subscription,
            period.covered,
            false,
            &computed,
            period.covered.end,
        )
        .await
        .expect("writes the draft");
        written.push(draft);
    }
    let draft = written.pop().expect("February's draft");
    let finalized = invoices::finalize(&catalog, tenant, written[0].id, Actor::Operator)
        .await
        .expect("finalizes January");
    Billed {
        node,
        catalog,
        admin,
        reader,
        customer,
        finalized,
        draft,
    }
}

/// The text `pdftotext` reads from a PDF.
async fn pdf_text(document: &[u8]) -> String {
    let mut child = tokio::process::Command::new("pdftotext")
        .args(["-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs pdftotext (poppler-utils, installed by scripts/install.sh)");
    let mut stdin = child.stdin.take().expect("its input");
    stdin.write_all(document).await.expect("writes the PDF");
    drop(stdin);
    let output = child.wait_with_output().await.expect("pdftotext ends");
    assert!(
        output.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 text")
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_invoice_downloads_as_a_pdf_with_its_number_lines_steps_and_total() {
    let billed = billed().await;
    let number = billed.finalized.number.clone().expect("a number");
    let path = format!("/v1/invoices/{}.pdf", billed.finalized.id);
    let answer = billed.node.get(&billed.reader, &path).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(header(&answer, "content-type"), "application/pdf");
    assert_eq!(
        header(&answer, "content-disposition"),
        format!("attachment; filename=\"{number}.pdf\"")
    );
    assert!(answer.body.starts_with(b"%PDF-"));
    let text = pdf_text(&answer.body).await;
    for expected in [
        number.as_str(),
        "Status: FINALIZED",
        "Billing period: 2026-01-01 – 2026-01-31",
        "Globex, Inc.",
        "billing@globex.example",
        "Customer crm-7",
        "Platform fee",
        "2026-02-01 – 2026-02-28",
        "49.00",
        "Calls",
        "2500",
        "17.50",
        "Meter calls: 2500 from 2500 events",
        "units 1 to 1,000 (tier 1): 1000 × 0.01 = 10",
        "units 1,001 to 2,500 (tier 2): 1500 × 0.005 = 7.5",
        "Subtotal",
        "66.50",
        "Tax (19%)",
        "12.64",
        "Total (EUR)",
        "79.14",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }

    // A draft downloads too, headed DRAFT and named by its id.
    let path = format!("/v1/invoices/{}.pdf", billed.draft.id);
    let answer = billed.node.get(&billed.admin, &path).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        header(&answer, "content-disposition"),
        format!("attachment; filename=\"{}.pdf\"", billed.draft.id)
    );
    let text = pdf_text(&answer.body).await;
    for expected in ["DRAFT", "Status: DRAFT", "400", "4.00", "53.00", "63.07"] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn an_invoice_downloads_as_csv_and_json_with_exact_values() {
    let billed = billed().await;
    let invoice = &billed.finalized;
    let number = invoice.number.clone().expect("a number");
    let answer = billed
        .node
        .get(&billed.reader, &format!("/v1/invoices/{}.csv", invoice.id))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(header(&answer, "content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        header(&answer, "content-disposition"),
        format!("attachment; filename=\"{number}.csv\"")
    );
    let id = invoice.id;
    let invoice_columns = format!(
        "{id},{number},FINALIZED,crm-7,\"Globex, Inc.\",2025-12-31T23:00:00Z,2026-01-31T23:00:00Z"
    );
    assert_eq!(
        answer.text(),
        format!(
            "invoice_id,number,status,customer_external_id,customer_name,period_start,period_end,\
             description,line_period_start,line_period_end,quantity,amount,currency,plan_version\r\n\
             {invoice_columns},Platform fee,2026-01-31T23:00:00Z,2026-02-28T23:00:00Z,,49.00,EUR,1\r\n\
             {invoice_columns},Calls,2025-12-31T23:00:00Z,2026-01-31T23:00:00Z,2500,17.50,EUR,1\r\n"
        )
    );

    let answer = billed
        .node
        .get(&billed.reader, &format!("/v1/invoices/{}.json", invoice.id))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(header(&answer, "content-type"), "application/json");
    let document = answer.json();
    assert_eq!(document["id"], json!(invoice.id));
    assert_eq!(document["number"], json!(number));
    assert_eq!(document["status"], "FINALIZED");
    assert_eq!(
        document["customer"],
        json!({
            "id": billed.customer.id, "external_id": "crm-7", "name": "Globex, Inc.",
            "email": "billing@globex.example",
        })
    );
    assert_eq!(
        (&document["period_start"], &document["period_end"]),
        (
            &json!("2025-12-31T23:00:00Z"),
            &json!("2026-01-31T23:00:00Z")
        )
    );
    assert_eq!(
        [
            &document["currency"],
            &document["subtotal"],
            &document["tax_percent"],
            &document["tax"],
            &document["total"]
        ],
        [
            &json!("EUR"),
            &json!("66.5"),
            &json!("19"),
            &json!("12.64"),
            &json!("79.14")
        ]
    );
    assert_eq!(document["finalized_at"], json!(invoice.finalized_at));
    let lines = document["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (&lines[0]["description"], &lines[0]["amount"]),
        (&json!("Platform fee"), &json!("49.00"))
    );
    let calls = &lines[1];
    assert_eq!(
        (
            &calls["description"],
            &calls["amount"],
            &calls["plan_version"]
        ),
        (&json!("Calls"), &json!("17.50"), &json!(1))
    );
    assert_eq!(
        calls["explanation"],
        json!({
            "kind": "usage", "meter": "calls", "events": 2500, "quantity": "2500",
            "allowance": "0", "exact": "17.500",
            "steps": [
                { "description": "units 1 to 1,000 (tier 1)", "units": "1000",
                  "unit_price": "0.01", "flat_fee": "0", "amount": "10.00" },
                { "description": "units 1,001 to 2,500 (tier 2)", "units": "1500",
                  "unit_price": "0.005", "flat_fee": "0", "amount": "7.500" },
            ],
        })
    );
}

#[tokio::test]
async fn a_month_of_finalized_invoices_is_one_csv() {
    let billed = billed().await;
    let invoice = &billed.finalized;
    let number = invoice.number.clone().expect("a number");
    let finalized_at = invoice.finalized_at.expect("finalized");
    let month = finalized_at.format("%Y-%m").to_string();
    let answer = billed
        .node
        .get(&billed.reader, &format!("/v1/invoices.csv?month={month}"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(header(&answer, "content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        header(&answer, "content-disposition"),
        format!("attachment; filename=\"invoices-{month}.csv\"")
    );
    let text = answer.text();
    let rows: Vec<&str> = text.split_terminator("\r\n").collect();
    // The header and January's two lines; February's draft is not finalized.
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows[0].starts_with("invoice_id,number,status,"), "{text}");
    assert!(
        rows[1..]
            .iter()
            .all(|row| row.starts_with(&format!("{},{number},FINALIZED,", invoice.id))),
        "{text}"
    );
    assert!(rows[2].ends_with(",Calls,2025-12-31T23:00:00Z,2026-01-31T23:00:00Z,2500,17.50,EUR,1"));

    // Another month holds none of them.
    let answer = billed
        .node
        .get(&billed.admin, "/v1/invoices.csv?month=2020-01")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.text().lines().count(), 1, "{}", answer.text());

    // A missing or malformed month is named.
    for (path, message) in [
        (
            "/v1/invoices.csv",
            "send month=YYYY-MM, the UTC month whose finalized invoices to export, such as 2026-03",
        ),
        (
            "/v1/invoices.csv?month=2026-13",
            "month must be a calendar month as YYYY-MM, such as 2026-03, not \"2026-13\"",
        ),
        (
            "/v1/invoices.csv?month=march",
            "month must be a calendar month as YYYY-MM, such as 2026-03, not \"march\"",
        ),
    ] {
        let answer = billed.node.get(&billed.reader, path).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.text());
        assert_eq!(
            first_error(&answer.json()),
            (Some("BAD_USER_INPUT"), message),
            "{path}"
        );
    }
}

#[tokio::test]
async fn exports_are_for_read_and_admin_keys_of_the_invoices_tenant() {
    let billed = billed().await;
    let id = billed.finalized.id;
    let month = billed
        .finalized
        .finalized_at
        .expect("finalized")
        .format("%Y-%m")
        .to_string();
    let tenant = billed.finalized.tenant_id;
    let ingest = key_for(&billed.catalog, tenant, Scope::Ingest).await;
    let (_, other) = tenant_with_key(&billed.catalog, Scope::Admin).await;
    for extension in ["pdf", "csv", "json"] {
        let path = format!("/v1/invoices/{id}.{extension}");
        let admin = billed.node.get(&billed.admin, &path).await;
        assert_eq!(admin.status, 200, "{path}: {}", admin.text());

        let refused = billed.node.get(&ingest, &path).await;
        assert_eq!(refused.status, 403, "{path}");
        assert_eq!(first_error(&refused.json()).0, Some("FORBIDDEN"));

        let anonymous = billed
            .node
            .send(
                axum::http::Request::get(&path)
                    .body(axum::body::Body::empty())
                    .expect("a request"),
            )
            .await;
        assert_eq!(anonymous.status, 401, "{path}");
        let unknown_key = billed
            .node
            .get(&format!("tly_{}", "x".repeat(40)), &path)
            .await;
        assert_eq!(unknown_key.status, 401, "{path}");

        // Another tenant's key finds nothing, not even by id.
        let theirs = billed.node.get(&other, &path).await;
        assert_eq!(theirs.status, 404, "{path}: {}", theirs.text());
        assert_eq!(first_error(&theirs.json()).0, Some("NOT_FOUND"));
    }
    let month_path = format!("/v1/invoices.csv?month={month}");
    let theirs = billed.node.get(&other, &month_path).await;
    assert_eq!(theirs.status, 200, "{}", theirs.text());
    assert_eq!(theirs.text().lines().count(), 1, "{}", theirs.text());
    assert_eq!(billed.node.get(&ingest, &month_path).await.status, 403);

    // Unknown invoices and exports are not found; an id that is no UUID is refused as such.
    for (path, status, code) in [
        (
            format!("/v1/invoices/{}.pdf", InvoiceId::generate()),
            404,
            "NOT_FOUND",
        ),
        (format!("/v1/invoices/{id}.xlsx"), 404, "NOT_FOUND"),
        (format!("/v1/invoices/{id}"), 404, "NOT_FOUND"),
        ("/v1/invoices/42.pdf".to_owned(), 400, "BAD_USER_INPUT"),
    ] {
        let answer = billed.node.get(&billed.reader, &path).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.text());
        assert_eq!(first_error(&answer.json()).0, Some(code), "{path}");
    }
}
