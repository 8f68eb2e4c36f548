//! Alerting end to end: rules over real events through ingest and the aggregator, evaluated by
//! hand at instants the test picks (`tally alert evaluate --at`) or by the alerting role of
//! `tally serve`, with every transition in the history that ClickHouse keeps.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_meter::ids::TenantId;

use super::billing::{
    find_meter, month_start, usage_event, wait_until_meter_counts, write_plan as write_file,
};
use super::meter_load::post_batch;
use super::security::access::Browser;
use super::support::{Serve, TestEnv, eventually, meter_create};
use super::web_billing::{html, session_cookie};

pub(crate) fn reading(id: &str, subject: &str, temp: u32) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "alerting-test", "type": "reading",
           "subject": subject, "data": {"temp": temp}})
}

/// Creates the tenant's meter `temp`: the largest `$.temp` of `reading` events.
pub(crate) async fn temp_meter(env: &TestEnv, tenant: &str) {
    env.run_ok(&meter_create(
        tenant,
        "temp",
        "reading",
        "max",
        &["--value", "$.temp"],
    ))
    .await;
}

/// Creates a tenant with an ingest key and the meter `temp` ([`temp_meter`]); returns the
/// tenant, the key and the tenant's id as text, which the commands take.
pub(crate) async fn temp_tenant(env: &TestEnv) -> (TenantId, String, String) {
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let name = tenant.to_string();
    temp_meter(env, &name).await;
    (tenant, key, name)
}

/// The command that creates an alert rule, for [`configure`].
pub(crate) const RULE_CREATE: [&str; 3] = ["alert", "rule", "create"];
/// The command that sets an alert receiver, for [`configure`].
pub(crate) const RECEIVER_SET: [&str; 3] = ["alert", "receiver", "set"];
/// The command that sets the alert routing, for [`configure`].
pub(crate) const ROUTING_SET: [&str; 3] = ["alert", "routing", "set"];

/// Runs `tally COMMAND --tenant TENANT --file FILE` with `spec` written to FILE, such as
/// [`RULE_CREATE`].
pub(crate) async fn configure(env: &TestEnv, tenant: &str, command: [&str; 3], spec: &Value) {
    let file = write_file(&spec.to_string());
    let mut args = command.to_vec();
    args.extend(["--tenant", tenant, "--file", &file]);
    env.run_ok(&args).await;
}

/// Sends events and waits until the meter `temp` counts `events` of them.
async fn send_readings(
    env: &TestEnv,
    serve: &Serve,
    (tenant, key): (TenantId, &str),
    batch: &[Value],
    events: u64,
) {
    post_batch(&reqwest::Client::new(), &serve.base, key, batch).await;
    let meter = find_meter(env, tenant, "temp").await;
    let analytics = env.analytics();
    let now = Utc::now();
    let range = (
        tally_meter::usage::floor_minute(now) - chrono::Duration::minutes(10),
        tally_meter::usage::floor_minute(now) + chrono::Duration::minutes(2),
    );
    wait_until_meter_counts(
        &meter,
        events,
        || analytics.totals_by_subject(&meter, range, None),
        |total| total.events,
    )
    .await;
}

/// The tenant's alerts now, as (rule, series, state).
pub async fn alerts(env: &TestEnv, tenant: &str) -> Vec<(String, String, String)> {
    env.run_ok(&["alert", "list", "--tenant", tenant, "--json"])
        .await
        .lines()
        .map(|line| {
            let alert: Value = serde_json::from_str(line).expect("an alert");
            (
                alert["rule"].as_str().expect("a rule").to_owned(),
                alert["series"]["series"]
                    .as_str()
                    .expect("a series")
                    .to_owned(),
                alert["series"]["state"]["state"]
                    .as_str()
                    .expect("a state")
                    .to_owned(),
            )
        })
        .collect()
}

/// The tenant's history, oldest first, as (series, from, to, at).
async fn history(
    env: &TestEnv,
    tenant: &str,
    rule: &str,
) -> Vec<(String, String, String, DateTime<Utc>)> {
    let mut entries: Vec<_> = env
        .run_ok(&[
            "alert", "history", "--tenant", tenant, "--rule", rule, "--json",
        ])
        .await
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).expect("an entry");
            (
                entry["series"].as_str().expect("a series").to_owned(),
                entry["from"].as_str().expect("a state").to_owned(),
                entry["to"].as_str().expect("a state").to_owned(),
                entry["at"]
                    .as_str()
                    .expect("a time")
                    .parse()
                    .expect("an instant"),
            )
        })
        .collect();
    entries.reverse();
    entries
}

fn owned(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_rule_goes_pending_firing_and_resolved_with_its_history() {
    let env = TestEnv::migrated().await;
    let serve = env.serve("ingest,meter", &[]).await;
    let (tenant, key, name) = temp_tenant(&env).await;

    // A rule on a meter the tenant lacks, or one that counts distinct values, is refused.
    let missing = write_file(
        r#"{"name": "x", "kind": "threshold", "meter": "nope", "window": "1m", "op": ">", "value": "1"}"#,
    );
    let create = [
        "alert", "rule", "create", "--tenant", &name, "--file", &missing,
    ];
    env.run_refused(&create, "meter nope, which does not exist")
        .await;

    let rule = write_file(
        r#"{"name": "too-hot", "kind": "threshold", "meter": "temp", "window": "5m",
            "op": ">", "value": "80", "for": "1m", "severity": "critical",
            "labels": {"team": "plant"}}"#,
    );
    env.run_ok(&[
        "alert", "rule", "create", "--tenant", &name, "--file", &rule,
    ])
    .await;
    let again = env
        .run(&[
            "alert", "rule", "create", "--tenant", &name, "--file", &rule,
        ])
        .await;
    assert!(!again.status.success(), "a name is taken once");

    // s1 goes over 80, s2 stays under.
    send_readings(
        &env,
        &serve,
        (tenant, &key),
        &[
            reading("r1", "s1", 70),
            reading("r2", "s1", 91),
            reading("r3", "s2", 60),
        ],
        3,
    )
    .await;
    let t0 = Utc::now();
    let evaluate = async |at: DateTime<Utc>| {
        env.run_ok(&["alert", "evaluate", "--at", &at.to_rfc3339()])
            .await
    };
    evaluate(t0).await;
    assert_eq!(
        alerts(&env, &name).await,
        owned(&[("too-hot", "subject=s1", "PENDING")])
    );
    // Half a minute on: still pending.
    evaluate(t0 + chrono::Duration::seconds(30)).await;
    assert_eq!(
        alerts(&env, &name).await,
        owned(&[("too-hot", "subject=s1", "PENDING")])
    );
    // A minute on, the breach has lasted `for`: firing.
    evaluate(t0 + chrono::Duration::seconds(61)).await;
    assert_eq!(
        alerts(&env, &name).await,
        owned(&[("too-hot", "subject=s1", "FIRING")])
    );
    // Six minutes on, the readings have left the window: resolved.
    let t3 = t0 + chrono::Duration::minutes(6) + chrono::Duration::seconds(1);
    let report = evaluate(t3).await;
    assert!(report.contains("1 transitions"), "{report}");
    assert_eq!(
        alerts(&env, &name).await,
        owned(&[("too-hot", "subject=s1", "RESOLVED")])
    );

    let seen = history(&env, &name, "too-hot").await;
    let transitions: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|(series, from, to, _)| (series.as_str(), from.as_str(), to.as_str()))
        .collect();
    assert_eq!(
        transitions,
        vec![
            ("subject=s1", "INACTIVE", "PENDING"),
            ("subject=s1", "PENDING", "FIRING"),
            ("subject=s1", "FIRING", "RESOLVED"),
        ]
    );
    let times: Vec<DateTime<Utc>> = seen.iter().map(|(.., at)| *at).collect();
    let expected = [t0, t0 + chrono::Duration::seconds(61), t3];
    for (time, expected) in times.iter().zip(expected) {
        assert_eq!(time.timestamp_millis(), expected.timestamp_millis());
    }

    // Evaluating again at the same instant changes nothing and records nothing twice.
    evaluate(t3).await;
    assert_eq!(history(&env, &name, "too-hot").await.len(), 3);

    // Another tenant sees none of it.
    let (other, _) = env.tenant_with_key(Scope::Ingest).await;
    assert!(alerts(&env, &other.to_string()).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_rules_fire_at_80_and_100_percent_of_the_monthly_quota() {
    let env = TestEnv::migrated().await;
    let serve = env.serve_refreshing("ingest,meter").await;
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let name = tenant.to_string();
    env.run_ok(&[
        "quota",
        "set",
        "--tenant",
        &name,
        "--rate",
        "1000",
        "--monthly",
        "10",
        "--mode",
        "soft",
    ])
    .await;
    configure(
        &env,
        &name,
        RULE_CREATE,
        &json!({"name": "quota", "kind": "quota", "percents": [80, 100]}),
    )
    .await;

    let client = reqwest::Client::new();
    let batch = |from: usize, to: usize| -> Vec<Value> {
        (from..to)
            .map(|n| reading(&format!("q{n}"), "s", 1))
            .collect()
    };
    post_batch(&client, &serve.base, &key, &batch(0, 7)).await;
    evaluate_until_firing(&env, &name, &[]).await;
    post_batch(&client, &serve.base, &key, &batch(7, 8)).await;
    evaluate_until_firing(&env, &name, &["threshold=80%"]).await;
    post_batch(&client, &serve.base, &key, &batch(8, 10)).await;
    evaluate_until_firing(&env, &name, &["threshold=100%", "threshold=80%"]).await;
}

/// Evaluates every rule by hand until the tenant's firing series are `firing`, within 30 s.
async fn evaluate_until_firing(env: &TestEnv, tenant: &str, firing: &[&str]) {
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(500),
        async || {
            env.run_ok(&["alert", "evaluate"]).await;
            let alerts = alerts(env, tenant).await;
            let now: Vec<String> = alerts
                .into_iter()
                .filter_map(|(_, series, state)| (state == "FIRING").then_some(series))
                .collect();
            if now == firing {
                Ok(())
            } else {
                Err(format!("firing {now:?}, not {firing:?}"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_rules_fire_at_80_and_100_percent_of_a_customers_budget() {
    let env = TestEnv::migrated().await;
    let serve = env.serve_refreshing("ingest,meter").await;
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let name = tenant.to_string();
    env.run_ok(&meter_create(
        &name,
        "units",
        "usage.recorded",
        "sum",
        &["--value", "$.units"],
    ))
    .await;
    env.run_ok(&[
        "customer",
        "create",
        "--tenant",
        &name,
        "--external-id",
        "acme",
        "--name",
        "Acme",
        "--currency",
        "EUR",
        "--subject",
        "s1",
    ])
    .await;
    // A flat fee far above the budget: spend counts usage charges only.
    let plan = write_file(
        r#"{"currency": "EUR", "interval": "MONTH", "charges": [
            {"type": "flat", "name": "Base", "amount": "50.00"},
            {"type": "usage", "name": "Units", "meter": "units", "pricing": "single",
             "model": {"model": "unit", "unit_price": "0.50"}}]}"#,
    );
    env.run_ok(&[
        "plan", "create", "--tenant", &name, "--key", "std", "--name", "Standard", "--file", &plan,
    ])
    .await;
    env.run_ok(&["plan", "publish", "--tenant", &name, "--key", "std"])
        .await;
    let start = month_start(0).to_rfc3339();
    env.run_ok(&[
        "subscription",
        "create",
        "--tenant",
        &name,
        "--customer",
        "acme",
        "--plan",
        "std",
        "--start",
        &start,
    ])
    .await;
    let unknown =
        write_file(r#"{"name": "nobody", "kind": "spend", "customer": "ghost", "budget": "10"}"#);
    let refused = env
        .run(&[
            "alert", "rule", "create", "--tenant", &name, "--file", &unknown,
        ])
        .await;
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("customer ghost, which does not exist"),
        "{refused:?}"
    );
    configure(
        &env,
        &name,
        RULE_CREATE,
        &json!({"name": "budget", "kind": "spend", "customer": "acme", "budget": "10.00",
                "percents": [80, 100]}),
    )
    .await;

    let client = reqwest::Client::new();
    let now = Utc::now();
    let steps: [(&str, u32, &[&str]); 3] = [
        // 15 units: 7.50 of 10.00.
        ("u1", 15, &[]),
        // 16 units: 8.00, 80 %.
        ("u2", 1, &["customer=acme,threshold=80%"]),
        // 20 units: 10.00, 100 %.
        (
            "u3",
            4,
            &[
                "customer=acme,threshold=100%",
                "customer=acme,threshold=80%",
            ],
        ),
    ];
    for (id, units, firing) in steps {
        let usage = [usage_event(id, "s1", now, units)];
        post_batch(&client, &serve.base, &key, &usage).await;
        evaluate_until_firing(&env, &name, firing).await;
    }
    let listed = env
        .run_ok(&["alert", "list", "--tenant", &name, "--json"])
        .await;
    assert!(listed.contains(r#""value":"10.00""#), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_alerting_processes_record_and_notify_each_transition_once() {
    let env = TestEnv::migrated().await;
    let hook = Hook::default();
    let url = hook.start().await;
    let alerting = [
        ("TALLY__ALERTING__EVAL_INTERVAL_SECS", "1"),
        ("TALLY__ALERTING__NOTIFY_INTERVAL_MS", "100"),
        ("TALLY__ALERTING__ALLOW_PRIVATE_TARGETS", "true"),
    ];
    let serve = env.serve("ingest,meter,alerting", &alerting).await;
    let _second = env.serve("alerting", &alerting).await;
    let (tenant, key, name) = temp_tenant(&env).await;
    for (command, spec) in [
        (
            RULE_CREATE,
            json!({"name": "hot", "kind": "threshold", "meter": "temp", "window": "2m",
                   "op": ">=", "value": "50"}),
        ),
        // Absence: a subject silent for 3 s alerts, until it speaks again.
        (
            RULE_CREATE,
            json!({"name": "silent", "kind": "absence", "event_type": "reading", "after": "3s"}),
        ),
        (
            RECEIVER_SET,
            json!({"name": "hook", "kind": "webhook", "url": url,
                   "secret": "two-processes-secret"}),
        ),
        (
            ROUTING_SET,
            json!({"receiver": "hook", "group_by": ["alertname"], "group_wait": "1s",
                   "group_interval": "1h", "repeat_interval": "1h"}),
        ),
    ] {
        configure(&env, &name, command, &spec).await;
    }
    send_readings(
        &env,
        &serve,
        (tenant, &key),
        &[reading("h1", "s1", 55), reading("h2", "s2", 10)],
        2,
    )
    .await;

    eventually(
        Duration::from_secs(60),
        Duration::from_millis(500),
        async || {
            let now = alerts(&env, &name).await;
            let firing = |rule: &str, series: &str| {
                now.iter()
                    .any(|alert| alert.0 == rule && alert.1 == series && alert.2 == "FIRING")
            };
            if firing("hot", "subject=s1")
                && firing("silent", "subject=s1")
                && firing("silent", "subject=s2")
            {
                Ok(())
            } else {
                Err(format!("alerts {now:?} within 60 s"))
            }
        },
    )
    .await;
    // s2 speaks again: its absence resolves while s1's stays.
    send_readings(&env, &serve, (tenant, &key), &[reading("h3", "s2", 10)], 3).await;
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(300),
        async || {
            let now = alerts(&env, &name).await;
            let state = |series: &str| {
                now.iter()
                    .find(|alert| alert.0 == "silent" && alert.1 == series)
                    .map(|alert| alert.2.clone())
            };
            if state("subject=s2").as_deref() == Some("RESOLVED") {
                assert_eq!(state("subject=s1").as_deref(), Some("FIRING"));
                Ok(())
            } else {
                Err(format!("alerts {now:?} within 30 s"))
            }
        },
    )
    .await;
    // Each transition was recorded once, by whichever process evaluated first.
    let hot = eventually(
        Duration::from_secs(30),
        Duration::from_millis(300),
        async || {
            let hot = history(&env, &name, "hot").await;
            if hot.is_empty() {
                Err("the history within 30 s".to_owned())
            } else {
                Ok(hot)
            }
        },
    )
    .await;
    let transitions: Vec<(&str, &str, &str)> = hot
        .iter()
        .map(|(series, from, to, _)| (series.as_str(), from.as_str(), to.as_str()))
        .collect();
    assert_eq!(transitions, vec![("subject=s1", "INACTIVE", "FIRING")]);
    // Each group's firing notification went out once, though both processes flush groups.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut firing: Vec<String> = hook
        .bodies()
        .iter()
        .filter(|(_, body)| {
            body["alerts"]
                .as_array()
                .is_some_and(|alerts| alerts.iter().any(|alert| alert["status"] == "firing"))
                && body["commonLabels"]["alertname"] == "hot"
        })
        .map(|(_, body)| body["idempotencyKey"].as_str().unwrap_or("").to_owned())
        .collect();
    let deliveries = firing.len();
    firing.dedup();
    assert_eq!((deliveries, firing.len()), (1, 1), "{:?}", hook.bodies());
}

/// A request a webhook receiver got: its headers and body.
type Request = (axum::http::HeaderMap, Vec<u8>);

/// What a webhook receiver started by the test got, recorded when each request arrives; it
/// answers its first request only after `first_delay`.
#[derive(Clone, Default)]
pub(crate) struct Hook {
    received: std::sync::Arc<std::sync::Mutex<Vec<Request>>>,
    first_delay: Duration,
}

impl Hook {
    /// A receiver that answers its first request after `delay`.
    pub(crate) fn slow_at_first(delay: Duration) -> Self {
        Self {
            first_delay: delay,
            ..Self::default()
        }
    }

    /// Starts a receiver on a free port; returns its URL.
    pub(crate) async fn start(&self) -> String {
        let received = self.received.clone();
        let first_delay = self.first_delay;
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let received = received.clone();
                    async move {
                        let first = {
                            let mut received = received.lock().expect("not poisoned");
                            received.push((headers, body.to_vec()));
                            received.len() == 1
                        };
                        if first {
                            tokio::time::sleep(first_delay).await;
                        }
                        "ok"
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/hook")
    }

    pub(crate) fn bodies(&self) -> Vec<(axum::http::HeaderMap, Value)> {
        self.received
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(headers, body)| {
                (
                    headers.clone(),
                    serde_json::from_slice(body).expect("a JSON body"),
                )
            })
            .collect()
    }

    fn raw(&self) -> Vec<Request> {
        self.received.lock().expect("not poisoned").clone()
    }
}

/// HMAC-SHA256, written out from its definition (RFC 2104) so that the test checks Tally's
/// signature independently.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_notified_signed_grouped_silenced_inhibited_and_resolved() {
    let env = TestEnv::migrated().await;
    let hook = Hook::default();
    let url = hook.start().await;
    let serve = env
        .serve(
            "ingest,meter,api,alerting",
            &[
                ("TALLY__ALERTING__EVAL_INTERVAL_SECS", "1"),
                ("TALLY__ALERTING__NOTIFY_INTERVAL_MS", "200"),
                ("TALLY__ALERTING__ALLOW_PRIVATE_TARGETS", "true"),
            ],
        )
        .await;
    let (tenant, key, name) = temp_tenant(&env).await;
    let secret = "an-hmac-secret-of-the-test";
    for (command, spec) in [
        (
            RULE_CREATE,
            json!({"name": "too-hot", "kind": "threshold", "meter": "temp", "window": "2m",
                   "op": ">", "value": "80", "severity": "critical"}),
        ),
        (
            RULE_CREATE,
            json!({"name": "warm", "kind": "threshold", "meter": "temp", "window": "2m",
                   "op": ">", "value": "50", "for": "3s", "severity": "warning"}),
        ),
        (
            RULE_CREATE,
            json!({"name": "offline", "kind": "absence", "event_type": "heartbeat", "after": "2s"}),
        ),
        // A receiver on loopback is refused without alerting.allow_private_targets: see the
        // unit tests of deliver; this process allows it.
        (
            RECEIVER_SET,
            json!({"name": "hook", "kind": "webhook", "url": url, "secret": secret}),
        ),
        (
            ROUTING_SET,
            json!({"receiver": "hook", "group_by": ["alertname"], "group_wait": "1s",
                   "group_interval": "2s", "repeat_interval": "1h"}),
        ),
    ] {
        configure(&env, &name, command, &spec).await;
    }
    env.run_ok(&[
        "alert",
        "silence",
        "create",
        "--tenant",
        &name,
        "--match",
        "subject=s3",
        "--duration",
        "1h",
        "--author",
        "test",
        "--comment",
        "s3 is being serviced",
    ])
    .await;

    // s1 is critical at once, so its warning, pending for 3 s, is inhibited when it fires; s2 is
    // a warning, s3 is silenced; s4's heartbeat stops.
    let heartbeat = |id: &str| {
        json!({"specversion": "1.0", "id": id, "source": "alerting-test", "type": "heartbeat",
               "subject": "s4", "data": {}})
    };
    post_batch(
        &reqwest::Client::new(),
        &serve.base,
        &key,
        &[
            reading("n1", "s1", 91),
            reading("n2", "s2", 60),
            reading("n3", "s3", 95),
            heartbeat("b1"),
        ],
    )
    .await;

    // Waits until every alertname in `wanted` was notified with these subjects and status.
    let wait_for = |wanted: Vec<(&'static str, &'static str, Vec<&'static str>)>| {
        let hook = hook.clone();
        async move {
            eventually(
                Duration::from_secs(60),
                Duration::from_millis(200),
                async || {
                    let seen: Vec<(String, String, Vec<String>)> = hook
                        .bodies()
                        .iter()
                        .map(|(_, body)| {
                            (
                                body["commonLabels"]["alertname"]
                                    .as_str()
                                    .unwrap_or("")
                                    .to_owned(),
                                body["status"].as_str().unwrap_or("").to_owned(),
                                body["alerts"]
                                    .as_array()
                                    .expect("alerts")
                                    .iter()
                                    .map(|alert| {
                                        alert["labels"]["subject"].as_str().unwrap_or("").to_owned()
                                    })
                                    .collect(),
                            )
                        })
                        .collect();
                    let found = wanted.iter().all(|(alert, status, subjects)| {
                        seen.iter()
                            .any(|(a, s, subs)| a == alert && s == status && subs == subjects)
                    });
                    if found {
                        Ok(seen)
                    } else {
                        Err(format!("notifications {seen:?} within 60 s"))
                    }
                },
            )
            .await
        }
    };
    let seen = wait_for(vec![
        ("too-hot", "firing", vec!["s1"]),
        ("warm", "firing", vec!["s2"]),
        ("offline", "firing", vec!["s4"]),
    ])
    .await;
    // Nothing of the silenced s3, nor s1's inhibited warning, went anywhere.
    assert!(
        seen.iter().all(|(alert, _, subjects)| {
            let silenced = subjects.contains(&"s3".to_owned());
            let inhibited = alert == "warm" && subjects.contains(&"s1".to_owned());
            !silenced && !inhibited
        }),
        "{seen:?}"
    );
    let listed = env
        .run_ok(&["alert", "list", "--tenant", &name, "--json"])
        .await;
    let s3: Vec<Value> = listed
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("an alert"))
        .filter(|alert| alert["series"]["series"] == "subject=s3")
        .collect();
    assert!(
        !s3.is_empty()
            && s3.iter().all(|alert| alert["silenced_by"]
                .as_array()
                .is_some_and(|ids| ids.len() == 1)),
        "{listed}"
    );

    // Every delivery is signed: t=…,v1=HMAC-SHA256(secret, "t.body"), and carries its
    // idempotency key in a header and in the body, in Alertmanager's version 4 shape.
    for (headers, body) in hook.raw() {
        let signature = headers["x-tally-signature"].to_str().expect("ASCII");
        let (timestamp, mac) = signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(",v1="))
            .expect("t=…,v1=…");
        let signed = [timestamp.as_bytes(), b".", &body].concat();
        assert_eq!(mac, hmac_sha256(secret.as_bytes(), &signed));
        let json: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(json["version"], "4");
        assert_eq!(json["receiver"], "hook");
        assert_eq!(
            headers["idempotency-key"],
            json["idempotencyKey"].as_str().expect("a key")
        );
        for field in [
            "groupKey",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "truncatedAlerts",
        ] {
            assert!(!json[field].is_null(), "{field} in {json}");
        }
        for alert in json["alerts"].as_array().expect("alerts") {
            for field in [
                "status",
                "labels",
                "annotations",
                "startsAt",
                "endsAt",
                "fingerprint",
            ] {
                assert!(!alert[field].is_null(), "{field} in {alert}");
            }
            assert_eq!(alert["labels"]["tenant"], name.as_str());
        }
    }

    // s4 speaks again: its absence resolves, and the group says so once.
    post_batch(
        &reqwest::Client::new(),
        &serve.base,
        &key,
        &[heartbeat("b2")],
    )
    .await;
    wait_for(vec![("offline", "resolved", vec!["s4"])]).await;

    // The web UI's Alerts page shows the alerts, the silence and the history, to this tenant
    // only.
    let reader = env.key_for(tenant, Scope::Read).await;
    let page = html(&serve, &session_cookie(&serve, &reader).await, "/alerts").await;
    for expected in [
        "too-hot",
        "subject=s1",
        "silenced",
        "s3 is being serviced",
        "History",
        "firing → resolved",
    ] {
        assert!(page.contains(expected), "{expected} in the Alerts page");
    }
    let (_, other) = env.tenant_with_key(Scope::Read).await;
    let theirs = html(&serve, &session_cookie(&serve, &other).await, "/alerts").await;
    assert!(
        !theirs.contains("too-hot") && theirs.contains("Nothing fires"),
        "another tenant's Alerts page"
    );

    // An admin silences s2 and is refused a rule that is not JSON, from the page's forms.
    let admin = Browser::sign_in(&serve, &env.key_for(tenant, Scope::Admin).await).await;
    let token = admin.form_token().await;
    let created = admin
        .post(
            "/alerts/silences",
            &[
                ("matchers", "subject=s2"),
                ("duration", "1h"),
                ("comment", "silenced from the web"),
                ("form_token", &token),
            ],
            None,
        )
        .await;
    assert_eq!(created, "Silence created.");
    let refused = admin
        .post(
            "/alerts/rules",
            &[("spec", "{not json"), ("form_token", &token)],
            None,
        )
        .await;
    assert!(refused.starts_with("That is not JSON"), "{refused}");
    let page = admin.get("/alerts").await.text().await.expect("html");
    assert!(page.contains("silenced from the web") && page.contains("Create a rule"));

    // The log holds every notification, sent, with its attempt.
    let log = env
        .run_ok(&["alert", "notifications", "--tenant", &name])
        .await;
    let entries: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).expect("a notification"))
        .collect();
    assert!(entries.len() >= 4, "{log}");
    assert!(
        entries.iter().all(|entry| entry["status"] == "SENT"
            && entry["attempts"][0][1]
                .as_str()
                .is_some_and(|outcome| outcome.starts_with("sent"))),
        "{log}"
    );
}

/// The Python of the venv `scripts/install.sh` makes, with aiosmtpd.
fn python() -> std::path::PathBuf {
    let cache = std::env::var("TALLY_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(std::env::var("HOME").expect("HOME is set"))
                .join(".cache/tally")
        });
    cache.join("venv/bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_receiver_gets_a_plain_text_and_html_message_through_a_real_smtp_server() {
    use tokio::io::AsyncBufReadExt;

    let env = TestEnv::migrated().await;
    let mailbox = std::env::temp_dir().join(format!("tally-smtp-{}", tally_testkit::random_id()));
    std::fs::create_dir_all(&mailbox).expect("makes the mailbox");
    let port = super::support::free_port();
    let mut smtp = tokio::process::Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/serve.py"))
        .arg(port.to_string())
        .arg(&mailbox)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starts aiosmtpd (scripts/install.sh puts it in the venv)");
    let mut ready = tokio::io::BufReader::new(smtp.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), ready.next_line())
        .await
        .expect("aiosmtpd starts within 20 s")
        .expect("reads its output");
    assert_eq!(line.as_deref(), Some("ready"));

    let port = port.to_string();
    let serve = env
        .serve(
            "ingest,meter,alerting",
            &[
                ("TALLY__ALERTING__EVAL_INTERVAL_SECS", "1"),
                ("TALLY__ALERTING__NOTIFY_INTERVAL_MS", "200"),
                ("TALLY__ALERTING__SMTP__HOST", "127.0.0.1"),
                ("TALLY__ALERTING__SMTP__PORT", &port),
                (
                    "TALLY__ALERTING__SMTP__FROM",
                    "Tally Alerts <alerts@tally.test>",
                ),
            ],
        )
        .await;
    let (_, key, name) = temp_tenant(&env).await;
    for (command, spec) in [
        (
            RULE_CREATE,
            json!({"name": "too-hot", "kind": "threshold", "meter": "temp", "window": "2m",
                   "op": ">", "value": "80", "severity": "critical"}),
        ),
        (
            RECEIVER_SET,
            json!({"name": "mail", "kind": "email", "to": ["sre@plant.test"]}),
        ),
        (ROUTING_SET, json!({"receiver": "mail", "group_wait": "1s"})),
    ] {
        configure(&env, &name, command, &spec).await;
    }
    post_batch(
        &reqwest::Client::new(),
        &serve.base,
        &key,
        &[reading("m1", "s1", 91), reading("m2", "s2", 95)],
    )
    .await;

    let message = eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        async || {
            std::fs::read_to_string(mailbox.join("0000.eml"))
                .map_err(|_| "an email within 60 s".to_owned())
        },
    )
    .await;
    let recipients = std::fs::read_to_string(mailbox.join("0000.rcpt")).expect("recipients");
    assert_eq!(recipients, "sre@plant.test");
    assert!(message.contains("Subject: [FIRING:2] too-hot"), "{message}");
    assert!(
        message.contains("From: \"Tally Alerts\" <alerts@tally.test>")
            || message.contains("From: Tally Alerts <alerts@tally.test>"),
        "{message}"
    );
    assert!(message.contains("multipart/alternative"), "{message}");
    assert!(message.contains("Content-Type: text/plain"), "{message}");
    assert!(message.contains("Content-Type: text/html"), "{message}");
    assert!(message.contains("FIRING subject=s1 value 91"), "{message}");
    assert!(message.contains("FIRING subject=s2 value 95"), "{message}");
    let log = env
        .run_ok(&["alert", "notifications", "--tenant", &name])
        .await;
    assert!(
        log.contains("\"status\":\"SENT\"") && log.contains("sent: SMTP 250"),
        "{log}"
    );
    drop(smtp.stdin.take());
    std::fs::remove_dir_all(&mailbox).ok();
}
