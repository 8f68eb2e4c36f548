//! SLOs end to end: an OpenSLO file applied with `tally slo apply`, request events through
//! ingest and the aggregator, and `tally slo show` giving budgets, burn rates and tier states
//! from exact counts; the export reads back to the same SLO.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tally_meter::api_key::Scope;

use super::billing::write_plan as write_file;
use super::meter_load::post_batch;
use super::support::TestEnv;

/// An HTTP request event of `route` answered with `status`.
fn request(id: &str, route: &str, status: u16) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "slo-test", "type": "http.request",
           "subject": "web-1", "data": {"route": route, "status": status}})
}

/// The checkout SLO as an SRE writes it in OpenSLO: 99 % of requests under 500 over 28 days,
/// per route.
const CHECKOUT: &str = r#"apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout
spec:
  description: Checkout answers without a server error
  service: shop
  budgetingMethod: Occurrences
  timeWindow:
    - duration: 28d
      isRolling: true
  objectives:
    - target: 0.99
  indicator:
    metadata:
      name: checkout-requests
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: tally
            spec:
              eventType: http.request
              good: "$.status < 500"
              groupBy:
                route: $.route
        total:
          metricSource:
            type: tally
            spec:
              eventType: http.request
"#;

/// `tally slo show --json` of the tenant's SLO.
async fn show(env: &TestEnv, tenant: &str, name: &str) -> Value {
    let text = env
        .run_ok(&["slo", "show", "--tenant", tenant, name, "--json"])
        .await;
    serde_json::from_str(&text).expect("a status")
}

/// The series of a status by group value.
fn series<'a>(status: &'a Value, route: &str) -> &'a Value {
    status["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|series| series["group"] == route)
        .unwrap_or_else(|| panic!("no series {route}: {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openslo_file_gives_exact_budgets_burn_rates_and_tiers_and_exports_back() {
    let env = TestEnv::migrated().await;
    let serve = env
        .serve("ingest,meter", &[("TALLY__INGEST__REFRESH_SECS", "1")])
        .await;
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let name = tenant.to_string();
    let file = write_file(CHECKOUT);
    let applied = env
        .run_ok(&["slo", "apply", "--tenant", &name, "-f", &file])
        .await;
    assert_eq!(applied.trim(), "created checkout");

    // /pay: 300 requests, 6 of them 503; /cart: 200, all good; every /pay request sent twice.
    let pay: Vec<Value> = (0..300)
        .map(|n| {
            request(
                &format!("p{n}"),
                "/pay",
                if n % 50 == 0 { 503 } else { 200 },
            )
        })
        .collect();
    let cart: Vec<Value> = (0..200)
        .map(|n| request(&format!("c{n}"), "/cart", 204))
        .collect();
    let client = reqwest::Client::new();
    for batch in [&pay, &cart, &pay] {
        for chunk in batch.chunks(100) {
            post_batch(&client, &serve.base, &key, chunk).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = show(&env, &name, "checkout").await;
        let counted = |route: &str| {
            status["series"]
                .as_array()
                .and_then(|all| all.iter().find(|series| series["group"] == route))
                .map(|series| series["budget"]["total"].as_u64().unwrap_or(0))
        };
        if counted("/pay") == Some(300) && counted("/cart") == Some(200) {
            break status;
        }
        assert!(Instant::now() < deadline, "not counted in time: {status}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // /pay: 6 bad of 300 where 1 % allows 3: twice the budget spent, burning 2× everywhere.
    let pay = series(&status, "/pay");
    assert_eq!(pay["budget"]["bad"], 6, "{status}");
    assert_eq!(pay["budget"]["allowed_bad"], "3", "{status}");
    assert_eq!(
        pay["budget"]["consumption"]["state"], "measured",
        "{status}"
    );
    assert_eq!(pay["budget"]["consumption"]["remaining"], "-1", "{status}");
    for burn in pay["burn_rates"].as_array().expect("rates") {
        assert_eq!(burn["rate"], "2", "{status}");
        assert_eq!(
            burn["counts"],
            json!({"good": 294, "total": 300}),
            "{status}"
        );
    }
    // Only the 1× ticket burns fast enough; the pages need 14.4× and 6×.
    let firing: Vec<&str> = pay["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .filter(|tier| tier["firing"] == true)
        .map(|tier| tier["tier"].as_str().expect("a name"))
        .collect();
    assert_eq!(firing, ["ticket"], "{status}");
    let cart = series(&status, "/cart");
    assert_eq!(cart["budget"]["consumption"]["remaining"], "1", "{status}");
    assert!(
        cart["tiers"]
            .as_array()
            .expect("tiers")
            .iter()
            .all(|tier| tier["firing"] == false),
        "{status}"
    );
    let text = env
        .run_ok(&["slo", "show", "--tenant", &name, "checkout"])
        .await;
    assert!(
        text.contains("route=/pay: 300 events, 6 bad, 3 allowed"),
        "{text}"
    );

    // The export applies back unchanged here, and to the same SLO in another tenant.
    let exported = env.run_ok(&["slo", "export", "--tenant", &name]).await;
    let exported_file = write_file(&exported);
    let again = env
        .run_ok(&["slo", "apply", "--tenant", &name, "-f", &exported_file])
        .await;
    assert_eq!(again.trim(), "unchanged checkout");
    let (other, _) = env.tenant_with_key(Scope::Ingest).await;
    let other = other.to_string();
    env.run_ok(&["slo", "apply", "--tenant", &other, "-f", &exported_file])
        .await;
    assert_eq!(
        env.run_ok(&["slo", "list", "--tenant", &other]).await,
        env.run_ok(&["slo", "list", "--tenant", &name]).await
    );
    // The other tenant's SLO counts none of the first tenant's events.
    let empty = show(&env, &other, "checkout").await;
    assert_eq!(empty["series"], json!([]), "{empty}");

    // A new objective keeps the counts; a new condition counts afresh.
    let stricter = CHECKOUT.replace("target: 0.99", "target: 0.995");
    let stricter_file = write_file(&stricter);
    let updated = env
        .run_ok(&["slo", "apply", "--tenant", &name, "-f", &stricter_file])
        .await;
    assert_eq!(updated.trim(), "updated checkout");
    assert_eq!(
        series(&show(&env, &name, "checkout").await, "/pay")["budget"]["total"],
        300
    );
    let other_condition = stricter.replace("$.status < 500", "$.status < 400");
    let replaced_file = write_file(&other_condition);
    let replaced = env
        .run_ok(&["slo", "apply", "--tenant", &name, "-f", &replaced_file])
        .await;
    assert_eq!(replaced.trim(), "replaced checkout");
    assert_eq!(show(&env, &name, "checkout").await["series"], json!([]));

    let refused = env
        .run(&["slo", "show", "--tenant", &other, "nothing"])
        .await;
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("SLO nothing"),
        "{refused:?}"
    );
}
