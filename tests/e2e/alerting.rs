//! Alerting end to end: rules over real events through ingest and the aggregator, evaluated by
//! hand at instants the test picks (`tally alert evaluate --at`) or by the alerting role of
//! `tally serve`, with every transition in the history that ClickHouse keeps.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_meter::catalog::meters;
use tally_meter::ids::{MeterKey, TenantId};

use super::billing::write_plan as write_file;
use super::meter_load::post_batch;
use super::support::{Serve, TestEnv};

fn reading(id: &str, subject: &str, temp: u32) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "alerting-test", "type": "reading",
           "subject": subject, "data": {"temp": temp}})
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
    let meter = meters::find(
        &env.catalog().await,
        tenant,
        &MeterKey::parse("temp").expect("a key"),
    )
    .await
    .expect("the meter");
    let analytics = env.analytics();
    let now = Utc::now();
    let range = (
        tally_meter::usage::floor_minute(now) - chrono::Duration::minutes(10),
        tally_meter::usage::floor_minute(now) + chrono::Duration::minutes(2),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counted: u64 = analytics
            .totals_by_subject(&meter, range, None)
            .await
            .expect("totals answer")
            .iter()
            .map(|total| total.events)
            .sum();
        if counted == events {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "counted {counted} of {events} readings within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The tenant's alerts now, as (rule, series, state).
async fn alerts(env: &TestEnv, tenant: &str) -> Vec<(String, String, String)> {
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
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let name = tenant.to_string();
    env.run_ok(&[
        "meter",
        "create",
        "--tenant",
        &name,
        "--key",
        "temp",
        "--event-type",
        "reading",
        "--aggregation",
        "max",
        "--value",
        "$.temp",
    ])
    .await;

    // A rule on a meter the tenant lacks, or one that counts distinct values, is refused.
    let missing = write_file(
        r#"{"name": "x", "kind": "threshold", "meter": "nope", "window": "1m", "op": ">", "value": "1"}"#,
    );
    let refused = env
        .run(&[
            "alert", "rule", "create", "--tenant", &name, "--file", &missing,
        ])
        .await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("meter nope, which does not exist"),
        "{refused:?}"
    );

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
    let evaluate = |at: DateTime<Utc>| {
        let env = &env;
        async move {
            env.run_ok(&["alert", "evaluate", "--at", &at.to_rfc3339()])
                .await
        }
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
    let serve = env
        .serve("ingest,meter", &[("TALLY__INGEST__REFRESH_SECS", "1")])
        .await;
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
    let rule = write_file(r#"{"name": "quota", "kind": "quota", "percents": [80, 100]}"#);
    env.run_ok(&[
        "alert", "rule", "create", "--tenant", &name, "--file", &rule,
    ])
    .await;

    let client = reqwest::Client::new();
    let batch = |from: usize, to: usize| -> Vec<Value> {
        (from..to)
            .map(|n| reading(&format!("q{n}"), "s", 1))
            .collect()
    };
    // Evaluates until the firing series are `firing`, within 30 s.
    let wait_for = |firing: &'static [&'static str]| {
        let env = &env;
        let name = &name;
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                env.run_ok(&["alert", "evaluate"]).await;
                let now: Vec<String> = alerts(env, name)
                    .await
                    .into_iter()
                    .filter(|(_, _, state)| state == "FIRING")
                    .map(|(_, series, _)| series)
                    .collect();
                if now == firing {
                    return;
                }
                assert!(Instant::now() < deadline, "firing {now:?}, not {firing:?}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    post_batch(&client, &serve.base, &key, &batch(0, 7)).await;
    wait_for(&[]).await;
    post_batch(&client, &serve.base, &key, &batch(7, 8)).await;
    wait_for(&["threshold=80%"]).await;
    post_batch(&client, &serve.base, &key, &batch(8, 10)).await;
    wait_for(&["threshold=100%", "threshold=80%"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_alerting_processes_record_each_transition_once() {
    let env = TestEnv::migrated().await;
    let alerting = [("TALLY__ALERTING__EVAL_INTERVAL_SECS", "1")];
    let serve = env.serve("ingest,meter,alerting", &alerting).await;
    let _second = env.serve("alerting", &alerting).await;
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let name = tenant.to_string();
    env.run_ok(&[
        "meter",
        "create",
        "--tenant",
        &name,
        "--key",
        "temp",
        "--event-type",
        "reading",
        "--aggregation",
        "max",
        "--value",
        "$.temp",
    ])
    .await;
    let rule = write_file(
        r#"{"name": "hot", "kind": "threshold", "meter": "temp", "window": "2m",
            "op": ">=", "value": "50"}"#,
    );
    env.run_ok(&[
        "alert", "rule", "create", "--tenant", &name, "--file", &rule,
    ])
    .await;
    // Absence: a subject silent for 3 s alerts, until it speaks again.
    let silent = write_file(
        r#"{"name": "silent", "kind": "absence", "event_type": "reading", "after": "3s"}"#,
    );
    env.run_ok(&[
        "alert", "rule", "create", "--tenant", &name, "--file", &silent,
    ])
    .await;
    send_readings(
        &env,
        &serve,
        (tenant, &key),
        &[reading("h1", "s1", 55), reading("h2", "s2", 10)],
        2,
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = alerts(&env, &name).await;
        let firing = |rule: &str, series: &str| {
            now.iter()
                .any(|alert| alert.0 == rule && alert.1 == series && alert.2 == "FIRING")
        };
        if firing("hot", "subject=s1")
            && firing("silent", "subject=s1")
            && firing("silent", "subject=s2")
        {
            break;
        }
        assert!(Instant::now() < deadline, "alerts {now:?} within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // s2 speaks again: its absence resolves while s1's stays.
    send_readings(&env, &serve, (tenant, &key), &[reading("h3", "s2", 10)], 3).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = alerts(&env, &name).await;
        let state = |series: &str| {
            now.iter()
                .find(|alert| alert.0 == "silent" && alert.1 == series)
                .map(|alert| alert.2.clone())
        };
        if state("subject=s2").as_deref() == Some("RESOLVED") {
            assert_eq!(state("subject=s1").as_deref(), Some("FIRING"));
            break;
        }
        assert!(Instant::now() < deadline, "alerts {now:?} within 30 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Each transition was recorded once, by whichever process evaluated first.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let hot = history(&env, &name, "hot").await;
        if !hot.is_empty() {
            let transitions: Vec<(&str, &str, &str)> = hot
                .iter()
                .map(|(series, from, to, _)| (series.as_str(), from.as_str(), to.as_str()))
                .collect();
            assert_eq!(transitions, vec![("subject=s1", "INACTIVE", "FIRING")]);
            break;
        }
        assert!(Instant::now() < deadline, "the history within 30 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
