//! SLOs end to end: an OpenSLO file applied with `tally slo apply`, request events through
//! ingest and the aggregator, and `tally slo show` giving budgets, burn rates and tier states
//! from exact counts; the export reads back to the same SLO; and the SLO's alert rule firing
//! the tiers a fast burn, a slow burn and a short spike call for, on shortened windows.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_meter::usage::floor_minute;

use super::alerting::alerts;
use super::billing::write_plan as write_file;
use super::meter_load::post_batch;
use super::support::{TestEnv, eventually};

/// An HTTP request event of `route` answered with `status`.
fn request(id: &str, route: &str, status: u16) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "slo-test", "type": "http.request",
           "subject": "web-1", "data": {"route": route, "status": status}})
}

/// The checkout SLO's requests: 300 to /pay, every 50th (6 of them) answered 503, and 200
/// to /cart, all answered 204.
pub fn checkout_requests() -> (Vec<Value>, Vec<Value>) {
    let pay = (0..300)
        .map(|n| {
            request(
                &format!("p{n}"),
                "/pay",
                if n % 50 == 0 { 503 } else { 200 },
            )
        })
        .collect();
    let cart = (0..200)
        .map(|n| request(&format!("c{n}"), "/cart", 204))
        .collect();
    (pay, cart)
}

/// `count` requests at `time`, the first `bad` of them answered 503.
fn requests_at(prefix: &str, time: DateTime<Utc>, count: usize, bad: usize) -> Vec<Value> {
    (0..count)
        .map(|n| {
            let mut event = request(
                &format!("{prefix}{n}"),
                "/",
                if n < bad { 503 } else { 200 },
            );
            event["time"] = json!(time.to_rfc3339());
            event
        })
        .collect()
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

/// How long the aggregator may take to count the requests a test sent.
const COUNTED_WITHIN: Duration = Duration::from_secs(60);

/// Waits until `tally slo show --json` of the tenant's SLO counts `total` events in the series
/// of each `(group, total)`; returns that status.
pub async fn wait_until_counted(
    env: &TestEnv,
    tenant: &str,
    name: &str,
    totals: &[(&str, u64)],
) -> Value {
    eventually(COUNTED_WITHIN, Duration::from_millis(500), async || {
        let status = show(env, tenant, name).await;
        let counted = |group: &str| {
            status["series"]
                .as_array()
                .and_then(|all| all.iter().find(|series| series["group"] == group))
                .and_then(|series| series["budget"]["total"].as_u64())
        };
        if totals
            .iter()
            .all(|(group, total)| counted(group) == Some(*total))
        {
            Ok(status)
        } else {
            Err(format!("not counted in time: {status}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openslo_file_gives_exact_budgets_burn_rates_and_tiers_and_exports_back() {
    let env = TestEnv::migrated().await;
    let serve = env.serve_refreshing("ingest,meter").await;
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let name = tenant.to_string();
    let file = write_file(CHECKOUT);
    let applied = env
        .run_ok(&["slo", "apply", "--tenant", &name, "-f", &file])
        .await;
    assert_eq!(applied.trim(), "created checkout");

    // Every /pay request sent twice.
    let (pay, cart) = checkout_requests();
    let client = reqwest::Client::new();
    for batch in [&pay, &cart, &pay] {
        for chunk in batch.chunks(100) {
            post_batch(&client, &serve.base, &key, chunk).await;
        }
    }
    let status =
        wait_until_counted(&env, &name, "checkout", &[("/pay", 300), ("/cart", 200)]).await;

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

/// An SLO of 99 % with tiers on windows of minutes: `fast` at 14.4× over 2m and 1m, `slow`
/// at 3× over 3m and 2m, each needing 20 events per window.
const SHORT_TIERS: &str = r#"{"name": "api", "objective": "99", "window": "28d",
    "indicator": {"kind": "ratio", "event_type": "http.request", "good": "$.status < 500"},
    "tiers": [
        {"name": "fast", "severity": "critical", "factor": "14.4", "long": "2m", "short": "1m",
         "min_events": 20},
        {"name": "slow", "severity": "warning", "factor": "3", "long": "3m", "short": "2m",
         "min_events": 20}]}"#;

/// The tenant's alerts as (series, state).
async fn alert_states(env: &TestEnv, tenant: &str) -> Vec<(String, String)> {
    alerts(env, tenant)
        .await
        .into_iter()
        .map(|(_, series, state)| (series, state))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burn_rate_tiers_fire_for_fast_and_slow_burns_but_not_for_a_short_spike() {
    let env = TestEnv::migrated().await;
    let serve = env.serve_refreshing("ingest,meter").await;
    let slo = write_file(SHORT_TIERS);
    let mut tenants = Vec::new();
    for _ in 0..3 {
        let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
        let name = tenant.to_string();
        env.run_ok(&["slo", "apply", "--tenant", &name, "-f", &slo])
            .await;
        tenants.push((name, key));
    }
    // The SLO's alert rule was made with it.
    let rules = env
        .run_ok(&["alert", "rule", "list", "--tenant", &tenants[0].0])
        .await;
    assert!(rules.contains(r#""kind":"slo","slo":"api""#), "{rules}");

    // Fast burn: 20 % errors; slow burn: 5 %; spike: half of 40 requests fail this minute,
    // after 1,000 good ones the minute before.
    let minute = floor_minute(Utc::now());
    let streams = [
        requests_at("f", minute, 100, 20),
        requests_at("s", minute, 100, 5),
        [
            requests_at("g", minute - chrono::Duration::seconds(30), 1000, 0),
            requests_at("x", minute, 40, 20),
        ]
        .concat(),
    ];
    let client = reqwest::Client::new();
    for ((_, key), stream) in tenants.iter().zip(&streams) {
        for chunk in stream.chunks(100) {
            post_batch(&client, &serve.base, key, chunk).await;
        }
    }
    // One deadline for all three tenants.
    let counting = Instant::now();
    for ((name, _), stream) in tenants.iter().zip(&streams) {
        let within = COUNTED_WITHIN.saturating_sub(counting.elapsed());
        eventually(within, Duration::from_millis(500), async || {
            let status = show(&env, name, "api").await;
            if status["series"][0]["budget"]["total"] == stream.len() {
                Ok(())
            } else {
                Err(format!("not counted in time: {status}"))
            }
        })
        .await;
    }

    // Evaluated at the end of the minute of the errors: 20× burns both windows of both
    // tiers (the fast one inhibits the slow one's notifications); 5× only the slow tier's;
    // the spike burns 50× over 1m, but 1.9× over 2m and 3m, which neither tier takes.
    let at = minute + chrono::Duration::seconds(59);
    env.run_ok(&["alert", "evaluate", "--at", &at.to_rfc3339()])
        .await;
    let fast = "factor=14.4,slo=api,tier=fast".to_owned();
    let slow = "factor=3,slo=api,tier=slow".to_owned();
    let firing = |state: &str| (state.to_owned(), "FIRING".to_owned());
    assert_eq!(
        alert_states(&env, &tenants[0].0).await,
        [firing(&fast), firing(&slow)]
    );
    assert_eq!(alert_states(&env, &tenants[1].0).await, [firing(&slow)]);
    assert_eq!(alert_states(&env, &tenants[2].0).await, []);
    let burned = show(&env, &tenants[0].0, "api").await;
    assert_eq!(burned["series"][0]["budget"]["bad"], 20, "{burned}");
    assert_eq!(
        burned["series"][0]["budget"]["allowed_bad"], "1",
        "{burned}"
    );

    // Four minutes on, every window has rolled past the errors: the alerts resolve.
    let later = at + chrono::Duration::minutes(4);
    env.run_ok(&["alert", "evaluate", "--at", &later.to_rfc3339()])
        .await;
    let resolved = |state: &str| (state.to_owned(), "RESOLVED".to_owned());
    assert_eq!(
        alert_states(&env, &tenants[0].0).await,
        [resolved(&fast), resolved(&slow)]
    );
    assert_eq!(alert_states(&env, &tenants[1].0).await, [resolved(&slow)]);
}
