//! The web UI's SLO pages end to end: tenant A applies a checkout SLO (99 % of `http.request`
//! under 500, per route) and a latency SLO with `tally slo apply`, sends 300 /pay requests (6 of
//! them 503) and 200 good /cart ones through ingest; its session sees both SLOs on the list
//! with where they stand, and on checkout's page the exact budget of each route, the burn-down
//! chart, the burn rates and the tiers' states (the ticket tier firing for /pay), and on the
//! latency SLO's page that no events came yet. Tenant B's session sees no SLO, and A's SLO's
//! page is 404 to it. Headless Chromium takes a screenshot of checkout's page (and, with the
//! browser bundle, checks that it hydrates and that the list leads to it in place).

use std::time::Duration;

use tally_meter::api_key::Scope;

use super::billing::write_plan as write_file;
use super::meter_load::post_batch;
use super::slo::{checkout_requests, wait_until_counted};
use super::support::TestEnv;
use super::web::{Browser, Driver, wait_until_hydrated};
use super::web_billing::{get, html, session_cookie};

/// 99 % of requests under 500 over 28 days, per route.
const CHECKOUT: &str = r#"{"name": "checkout", "description": "Checkout answers without a server error",
    "indicator": {"kind": "ratio", "event_type": "http.request", "good": "$.status < 500"},
    "objective": "99", "window": "28d", "group_by": {"route": "$.route"}}"#;

/// 95 % of searches within 300 ms over the calendar month; no events are sent for it.
const SEARCH: &str = r#"{"name": "search-fast", "indicator": {"kind": "latency",
    "event_type": "search", "value": "$.latency_ms", "threshold": "300"},
    "objective": "95", "window": "month"}"#;

/// A page's text as a person reads it: tags as spaces, runs of whitespace as one.
fn visible(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for character in html.chars() {
        match character {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(character),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_sees_its_slos_budgets_burn_down_and_tiers_and_another_tenant_does_not() {
    let env = TestEnv::migrated().await;
    let serve = env.serve_refreshing("ingest,meter,api").await;
    let (a, a_read) = env.tenant_with_key(Scope::Read).await;
    let a_ingest = env.key_for(a, Scope::Ingest).await;
    let (_, b_read) = env.tenant_with_key(Scope::Read).await;
    let a_ref = a.to_string();
    let a_session = session_cookie(&serve, &a_read).await;
    let b_session = session_cookie(&serve, &b_read).await;

    // Before any SLO: the list says how to make one.
    let page = visible(&html(&serve, &a_session, "/slos").await);
    assert!(
        page.contains("No SLOs yet") && page.contains("tally slo apply --tenant TENANT -f FILE"),
        "{page}"
    );

    for spec in [CHECKOUT, SEARCH] {
        env.run_ok(&["slo", "apply", "--tenant", &a_ref, "-f", &write_file(spec)])
            .await;
    }
    let (pay, cart) = checkout_requests();
    let client = reqwest::Client::new();
    for chunk in pay.chunks(100).chain(cart.chunks(100)) {
        post_batch(&client, &serve.base, &a_ingest, chunk).await;
    }
    wait_until_counted(&env, &a_ref, "checkout", &[("/pay", 300), ("/cart", 200)]).await;

    // The list: both SLOs, where each stands, each leading to its page.
    let source = html(&serve, &a_session, "/slos").await;
    assert!(source.contains(r#"href="/slos/checkout""#), "{source}");
    assert!(
        source.contains(r#"href="/slos""#),
        "the navigation: {source}"
    );
    let page = visible(&source);
    for shown in [
        "checkout 99 % 28d http.request good when $.status < 500",
        "route=/pay: −100 % of the error budget left ticket firing",
        "route=/cart: 100 % of the error budget left",
        "search-fast 95 % month search good when $.latency_ms <= 300 No events yet",
    ] {
        assert!(page.contains(shown), "the list shows {shown:?}: {page}");
    }

    // Checkout's page: the exact budget of each route, the chart, the rates and the tiers.
    let source = html(&serve, &a_session, "/slos/checkout").await;
    assert!(source.contains("<svg"), "a chart: {source}");
    assert!(
        source.contains(r#"class="ideal""#),
        "the even line: {source}"
    );
    let page = visible(&source);
    for shown in [
        "Checkout answers without a server error",
        "Good when $.status < 500",
        "Group route ( $.route ): one series per value",
        "route=/pay −100 % 300 events in the window so far, 6 bad, 3 allowed by 99 %: \
         −100 % of the error budget left.",
        "route=/cart 100 % 200 events in the window so far, 0 bad, 2 allowed by 99 %",
        // /pay burns twice the budget's pace over every range; /cart none of it.
        "5m 294 300 2 30m 294 300 2 1h 294 300 2 2h 294 300 2 6h 294 300 2 1d 294 300 2 \
         3d 294 300 2",
        "5m 200 200 0",
        "page-fast critical 14.4× over 1h and 5m 2 2 quiet",
        "page-slow critical 6× over 6h and 30m 2 2 quiet",
        "ticket warning 1× over 3d and 6h 2 2 firing",
        "ticket warning 1× over 3d and 6h 0 0 quiet",
    ] {
        assert!(
            page.contains(shown),
            "checkout's page shows {shown:?}: {page}"
        );
    }
    let page = visible(&html(&serve, &a_session, "/slos/search-fast").await);
    assert!(
        page.contains("No events yet: no search events have been counted since"),
        "{page}"
    );
    let (status, _, body) = get(&serve, &a_session, "/slos/nothing").await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("There is no SLO named nothing."), "{body}");

    // Tenant B sees none of it.
    let page = visible(&html(&serve, &b_session, "/slos").await);
    assert!(page.contains("No SLOs yet"), "{page}");
    assert!(!page.contains("checkout"), "B sees A's SLO: {page}");
    let (status, _, body) = get(&serve, &b_session, "/slos/checkout").await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 404, "A's SLO page for B");
    assert!(
        body.contains("There is no SLO named checkout.") && !body.contains("http.request"),
        "{body}"
    );

    // In a browser: checkout's page, photographed; with the bundle it hydrates.
    let driver = Driver::start();
    let browser = Browser::connect(&driver, &serve.base, "slo").await;
    let session = browser.clone();
    let outcome = tokio::spawn(async move {
        session.sign_in(&a_read).await;
        session.open("/slos").await;
        session.shot("slos").await;
        session.open("/slos/checkout").await;
        let text = session.text().await;
        assert!(text.contains("ticket"), "{text}");
        // Tall enough for both routes' charts and tables.
        session
            .client
            .set_window_size(1280, 3200)
            .await
            .expect("the window resizes");
        session.shot("slo").await;
        if std::env::var_os("TALLY_TEST_WEB_PKG").is_some() {
            wait_until_hydrated(&session, "/slos/checkout").await;
            // From the list, the SLO's page renders in the browser, chart included.
            session.open("/slos").await;
            wait_until_hydrated(&session, "/slos").await;
            session
                .navigate_in_place("a[href='/slos/checkout']", &["6 bad, 3 allowed"])
                .await;
            let dots = session
                .script("return document.querySelectorAll('svg circle.burn-point').length")
                .await;
            assert_eq!(dots, 2, "one dot per route, drawn in the browser");
            session.shot("slo-hydrated").await;
        }
    });
    let outcome = tokio::time::timeout(Duration::from_secs(120), outcome).await;
    driver.stop(browser).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic.into_panic()),
        Err(_) => panic!("the browser took longer than two minutes"),
    }
}
