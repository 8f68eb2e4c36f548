//! The alerting process SIGKILLed while an alert is pending, and again while its notification
//! is in flight to a slow receiver: after each restart the alert goes on where it was, its
//! history holds each transition once, and the receiver gets the group's firing notification
//! at least once, every copy with the same idempotency key, so dropping repeats by key leaves
//! exactly one.

use std::time::Duration;

use serde_json::{Value, json};

use crate::e2e::alerting::{
    Hook, RECEIVER_SET, ROUTING_SET, RULE_CREATE, configure, reading, temp_tenant,
};
use crate::e2e::meter_load::post_batch;
use crate::e2e::support::{TestEnv, eventually, eventually_holds};

/// The tenant's alerts as (series, state).
async fn states(env: &TestEnv, tenant: &str) -> Vec<(String, String)> {
    env.run_ok(&["alert", "list", "--tenant", tenant, "--json"])
        .await
        .lines()
        .map(|line| {
            let alert: Value = serde_json::from_str(line).expect("an alert");
            (
                alert["series"]["series"].as_str().unwrap_or("").to_owned(),
                alert["series"]["state"]["state"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_alerting_process_neither_loses_nor_repeats_a_transition_or_a_notification() {
    let env = TestEnv::migrated().await;
    // The receiver answers its first request after 4 s: long enough to kill the sender
    // mid-request.
    let hook = Hook::slow_at_first(Duration::from_secs(4));
    let url = hook.start().await;
    let alerting_env = [
        ("TALLY__ALERTING__EVAL_INTERVAL_SECS", "1"),
        ("TALLY__ALERTING__NOTIFY_INTERVAL_MS", "200"),
        ("TALLY__ALERTING__DELIVERY_TIMEOUT_SECS", "2"),
        ("TALLY__ALERTING__ALLOW_PRIVATE_TARGETS", "true"),
    ];
    let serve = env.serve("ingest,meter", &[]).await;
    let (_, key, name) = temp_tenant(&env).await;
    for (command, spec) in [
        (
            RULE_CREATE,
            json!({"name": "too-hot", "kind": "threshold", "meter": "temp", "window": "5m",
                   "op": ">", "value": "80", "for": "6s"}),
        ),
        (
            RECEIVER_SET,
            json!({"name": "hook", "kind": "webhook", "url": url,
                   "secret": "a-secret-of-the-fault-test"}),
        ),
        (
            ROUTING_SET,
            json!({"receiver": "hook", "group_wait": "1s", "group_interval": "1h",
                   "repeat_interval": "1h"}),
        ),
    ] {
        configure(&env, &name, command, &spec).await;
    }
    post_batch(
        &reqwest::Client::new(),
        &serve.base,
        &key,
        &[reading("k1", "s1", 99)],
    )
    .await;

    // Killed while the alert is pending.
    let mut alerting = env.serve("alerting", &alerting_env).await;
    let pending = [("subject=s1".to_owned(), "PENDING".to_owned())];
    eventually_holds(
        Duration::from_secs(60),
        Duration::from_millis(200),
        "pending within 60 s",
        async || states(&env, &name).await == pending,
    )
    .await;
    alerting.child.kill().await.expect("SIGKILL");

    // Restarted, it fires (the pending time counts from before the kill) and notifies; killed
    // again while the receiver holds the request.
    let mut alerting = env.serve("alerting", &alerting_env).await;
    eventually_holds(
        Duration::from_secs(60),
        Duration::from_millis(100),
        "a notification within 60 s",
        async || !hook.bodies().is_empty(),
    )
    .await;
    alerting.child.kill().await.expect("SIGKILL");

    // Restarted, the notification's lease runs out and it is delivered again, same key.
    let _alerting = env.serve("alerting", &alerting_env).await;
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(300),
        async || {
            let log = env
                .run_ok(&["alert", "notifications", "--tenant", &name])
                .await;
            if log.contains("\"status\":\"SENT\"") {
                Ok(())
            } else {
                Err(format!("delivered within 60 s: {log}"))
            }
        },
    )
    .await;
    let deliveries = hook.bodies();
    let keys: Vec<&str> = deliveries
        .iter()
        .map(|(_, body)| body["idempotencyKey"].as_str().expect("a key"))
        .collect();
    assert!(!keys.is_empty(), "{deliveries:?}");
    let mut distinct = keys.clone();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        1,
        "one notification, delivered {} times: {keys:?}",
        keys.len()
    );
    for (headers, body) in &deliveries {
        assert_eq!(body["status"], "firing");
        assert_eq!(headers["idempotency-key"], keys[0]);
    }

    // The history holds each transition once.
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(300),
        async || {
            let history = env
                .run_ok(&["alert", "history", "--tenant", &name, "--json"])
                .await;
            let transitions: Vec<(String, String)> = history
                .lines()
                .map(|line| {
                    let entry: Value = serde_json::from_str(line).expect("an entry");
                    (
                        entry["from"].as_str().unwrap_or("").to_owned(),
                        entry["to"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .rev()
                .collect();
            let expected = [("INACTIVE", "PENDING"), ("PENDING", "FIRING")]
                .map(|(from, to)| (from.to_owned(), to.to_owned()));
            if transitions == expected {
                Ok(())
            } else {
                Err(format!("history {transitions:?} within 30 s"))
            }
        },
    )
    .await;
}
