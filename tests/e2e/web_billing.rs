//! The web UI's billing pages end to end: tenant A has a customer, a published plan, a
//! subscription, usage and finalized invoices (`tally invoice run --at`); its session sees
//! them on the Invoices, Customers and Plans pages, on an invoice's page with every line
//! explained, in its downloads, and as this period's running total on the overview. Tenant B's
//! session sees none of it, and A's invoice page and downloads are 404 to it. Headless
//! Chromium takes a screenshot of the invoice page (and, with the browser bundle, checks that
//! it hydrates and moves to Customers in place).

use chrono::Duration;
use serde_json::json;
use tally_billing::catalog::invoices;
use tally_meter::api_key::Scope;

use super::billing::{
    LATENESS_SECS, UNITS_PLAN, month_start, publish_and_subscribe, send_and_wait, serve_billing,
    usage_event,
};
use super::support::{Serve, TestEnv, meter_create};
use super::web::{Browser, Driver, first_cookie, sign_in_form, tenant_name, wait_until_hydrated};

/// Signs in with `key` as a browser would (the sign-in form's token and cookie); returns the
/// session cookie, `name=value`.
pub(crate) async fn session_cookie(serve: &Serve, key: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let (token_cookie, token) = sign_in_form(&http, serve).await;
    let signed_in = http
        .post(format!("{}/login", serve.base))
        .header("cookie", token_cookie)
        .form(&[("key", key), ("token", &token)])
        .send()
        .await
        .expect("an answer");
    first_cookie(&signed_in)
}

/// GETs `path` with a session; returns the status, the content type and the body.
pub(crate) async fn get(serve: &Serve, cookie: &str, path: &str) -> (u16, String, Vec<u8>) {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .get(format!("{}{path}", serve.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.expect("a body").to_vec();
    (status, content_type, body)
}

/// GETs the page `path` with a session, insisting on HTTP 200; returns its HTML.
pub(crate) async fn html(serve: &Serve, cookie: &str, path: &str) -> String {
    let (status, _, body) = get(serve, cookie, path).await;
    assert_eq!(status, 200, "{path}");
    String::from_utf8(body).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_sees_its_invoices_customers_and_plans_and_another_tenant_does_not() {
    let env = TestEnv::migrated().await;
    let serve = serve_billing(&env).await;
    let (a, a_read) = env.tenant_with_key(Scope::Read).await;
    let a_ingest = env.key_for(a, Scope::Ingest).await;
    let (b, b_read) = env.tenant_with_key(Scope::Read).await;
    let (a_ref, b_ref) = (a.to_string(), b.to_string());
    let b_name = tenant_name(&env, b).await;
    // Two months back: the run below is in the past whatever today's date.
    let (m2, m1) = (month_start(2), month_start(1));

    env.run_ok(&meter_create(
        &a_ref,
        "units",
        "usage.recorded",
        "sum",
        &["--value", "$.units", "--lateness-secs", LATENESS_SECS],
    ))
    .await;
    env.run_ok(&[
        "customer",
        "create",
        "--tenant",
        &a_ref,
        "--external-id",
        "acme-1",
        "--name",
        "Acme Ltd",
        "--currency",
        "EUR",
        "--tax-percent",
        "19",
        "--subject",
        "s1",
    ])
    .await;
    env.run_ok(&[
        "customer",
        "create",
        "--tenant",
        &b_ref,
        "--external-id",
        "zeta-1",
        "--name",
        "Zeta Secret Corp",
        "--currency",
        "USD",
    ])
    .await;
    let zeta_plan = r#"{"currency": "USD", "interval": "MONTH", "charges": [
        {"type": "flat", "name": "Zeta fee", "amount": "77.00"}]}"#;
    let start = m2.to_rfc3339();
    publish_and_subscribe(&env, &a_ref, "std", UNITS_PLAN, &["acme-1"], &start).await;
    publish_and_subscribe(&env, &b_ref, "zeta", zeta_plan, &["zeta-1"], &start).await;
    // 150 units in the first period: 100 × 0.10 + 50 × 0.05 = 12.50.
    let usage = [
        usage_event("u1", "s1", m2 + Duration::days(3), 60),
        usage_event("u2", "s1", m2 + Duration::days(4), 90),
    ];
    send_and_wait(&env, &serve, (a, &a_ingest), "units", &usage, &["s1"], 2).await;
    env.run_ok(&[
        "invoice",
        "run",
        "--at",
        &(m1 + Duration::hours(25)).to_rfc3339(),
    ])
    .await;
    let listed = invoices::list(&env.catalog().await, a, None)
        .await
        .expect("invoices");
    let invoice = listed
        .iter()
        .find(|invoice| !invoice.opening)
        .expect("the first period's invoice");
    let number = invoice.number.clone().expect("finalized and numbered");
    let opening_number = listed
        .iter()
        .find(|invoice| invoice.opening)
        .and_then(|invoice| invoice.number.clone())
        .expect("the opening invoice, finalized");
    let b_invoice = invoices::list(&env.catalog().await, b, None)
        .await
        .expect("invoices")
        .first()
        .map(|invoice| invoice.id)
        .expect("B's opening invoice");

    let a_session = session_cookie(&serve, &a_read).await;
    let b_session = session_cookie(&serve, &b_read).await;

    // Invoices: both of A's, with customer, status and total.
    let page = html(&serve, &a_session, "/invoices").await;
    for shown in [
        number.as_str(),
        opening_number.as_str(),
        "Acme Ltd",
        "acme-1",
        "finalized",
        "26.78 EUR",
        "11.90 EUR",
        "href=\"/customers\"",
    ] {
        assert!(
            page.contains(shown),
            "the invoices page shows {shown:?}: {page}"
        );
    }
    for hidden in ["Zeta", "77.00", b_name.as_str()] {
        assert!(!page.contains(hidden), "A sees B's {hidden:?}");
    }

    // The invoice: its lines, each explained, the totals and the downloads.
    let invoice_path = format!("/invoices/{}", invoice.id);
    let page = html(&serve, &a_session, &invoice_path).await;
    for shown in [
        number.as_str(),
        "Base",
        "Units",
        "Meter units: 150 from 2 events",
        "100 × 0.1 = 10",
        "50 × 0.05 = 2.5",
        "Plan version 1",
        "22.50 EUR",
        "Tax (19 %)",
        "4.28 EUR",
        "26.78 EUR",
    ] {
        assert!(
            page.contains(shown),
            "the invoice page shows {shown:?}: {page}"
        );
    }
    for extension in ["pdf", "csv", "json"] {
        let link = format!("/exports/invoices/{}.{extension}", invoice.id);
        assert!(page.contains(&link), "a {extension} download: {page}");
        let (status, content_type, body) = get(&serve, &a_session, &link).await;
        assert_eq!(status, 200, "{link}");
        match extension {
            "pdf" => {
                assert_eq!(content_type, "application/pdf");
                assert!(body.starts_with(b"%PDF"), "a PDF document");
            }
            "csv" => {
                let text = String::from_utf8(body).expect("UTF-8");
                assert!(text.contains(&number) && text.contains("Units"), "{text}");
            }
            _ => {
                let document: serde_json::Value =
                    serde_json::from_slice(&body).expect("a JSON document");
                assert_eq!(document["number"], json!(number));
                assert_eq!(document["total"], json!("26.78"));
            }
        }
    }

    // Customers and plans, and none of B's.
    for (path, shown, of_b) in [
        (
            "/customers",
            &[
                "acme-1",
                "Acme Ltd",
                "EUR",
                "UTC",
                "19 %",
                "s1",
                "This period so far",
            ][..],
            "Zeta",
        ),
        (
            "/plans",
            &[
                "std",
                "published",
                "Base: 10.00 EUR per month, in advance",
                "Units: meter units, graduated: up to 100 at 0.1, the rest at 0.05, per month in arrears",
            ][..],
            "zeta",
        ),
    ] {
        let page = html(&serve, &a_session, path).await;
        for shown in shown {
            assert!(page.contains(shown), "{path} shows {shown:?}: {page}");
        }
        assert!(!page.contains(of_b), "A sees B's {of_b} on {path}");
    }
    let page = html(&serve, &a_session, "/").await;
    assert!(
        page.contains("This period so far") && page.contains(" EUR"),
        "the overview's running total: {page}"
    );

    // Tenant B sees none of it: its own invoice only, and A's by address is 404.
    let page = html(&serve, &b_session, "/invoices").await;
    assert!(page.contains("77.00 USD"), "{page}");
    for hidden in [number.as_str(), opening_number.as_str(), "Acme"] {
        assert!(!page.contains(hidden), "B sees A's {hidden:?}");
    }
    let (status, _, body) = get(&serve, &b_session, &invoice_path).await;
    assert_eq!(status, 404, "A's invoice page for B");
    let body = String::from_utf8(body).expect("UTF-8");
    assert!(
        body.contains("There is no such invoice.") && !body.contains("Acme"),
        "{body}"
    );
    for extension in ["pdf", "csv", "json"] {
        let (status, _, _) = get(
            &serve,
            &b_session,
            &format!("/exports/invoices/{}.{extension}", invoice.id),
        )
        .await;
        assert_eq!(status, 404, "A's {extension} for B");
    }
    let (status, _, _) = get(&serve, &a_session, &format!("/invoices/{b_invoice}")).await;
    assert_eq!(status, 404, "B's invoice page for A");
    let (status, _, _) = get(&serve, &a_session, "/invoices/not-an-id").await;
    assert_eq!(status, 404);
    for page in ["/", "/customers", "/plans"] {
        let shown = html(&serve, &b_session, page).await;
        assert!(!shown.contains("Acme"), "B sees A's customer on {page}");
    }

    // In a browser: the invoice page, photographed; with the bundle it hydrates and the
    // navigation moves to Customers in place.
    let driver = Driver::start();
    let browser = Browser::connect(&driver, &serve.base, "billing").await;
    let session = browser.clone();
    let read_key = a_read.clone();
    let outcome = tokio::spawn(async move {
        session.sign_in(&read_key).await;
        session.open(&invoice_path).await;
        let text = session.text().await;
        assert!(text.contains("50 × 0.05 = 2.5"), "{text}");
        session.shot("invoice").await;
        if std::env::var_os("TALLY_TEST_WEB_PKG").is_some() {
            wait_until_hydrated(&session, &invoice_path).await;
            session
                .navigate_in_place("nav a[href='/customers']", &["acme-1"])
                .await;
            session.shot("customers-hydrated").await;
        }
    })
    .await;
    driver.stop(browser).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
