//! `tally serve` as an operator runs it: ready with every dependency up, honest about a
//! dependency going down, quick to stop on SIGTERM, and clear when it cannot start.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{TestEnv, eventually, run_bounded};

async fn readyz(base: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn serve_is_ready_and_exits_within_five_seconds_of_sigterm() {
    let env = TestEnv::migrated().await;
    let mut serve = env.serve("ingest,meter,api,alerting", &[]).await;
    let base = serve.base.clone();

    let (status, body) = readyz(&base).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "status": "ready",
            "dependencies": { "clickhouse": "up", "kafka": "up", "postgres": "up" }
        })
    );

    serve.sigterm();
    let stopped_at = Instant::now();
    let exit = tokio::time::timeout(Duration::from_secs(5), serve.child.wait())
        .await
        .expect("exits within 5 s of SIGTERM")
        .expect("waits");
    assert!(exit.success(), "exit status {exit}");
    assert!(stopped_at.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn readyz_names_the_dependency_that_is_down() {
    let env = TestEnv::migrated().await;
    let serve = env.serve("api", &[]).await;
    let base = serve.base.clone();
    assert_eq!(readyz(&base).await.0, 200);

    // Take the api role's analytics database away under it.
    env.analytics()
        .client()
        .query(&format!("DROP DATABASE {}", env.clickhouse.database))
        .execute()
        .await
        .expect("drops the test database");
    let (status, body) = readyz(&base).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({
            "status": "unavailable",
            "dependencies": { "clickhouse": "down", "postgres": "up" }
        })
    );
}

#[tokio::test]
async fn serve_refuses_to_start_without_its_dependencies() {
    let env = TestEnv::migrated().await;
    for (variable, unreachable, roles, expected) in [
        (
            "TALLY__CLICKHOUSE__URL",
            "http://127.0.0.1:1",
            "api",
            "cannot reach clickhouse at http://127.0.0.1:1",
        ),
        (
            "TALLY__KAFKA__BROKERS",
            "127.0.0.1:1",
            "ingest",
            "cannot reach kafka at 127.0.0.1:1",
        ),
    ] {
        let output = run_bounded(
            env.tally()
                .env(variable, unreachable)
                .args(["serve", "--roles", roles]),
        )
        .await;
        assert_eq!(output.status.code(), Some(1), "{variable}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_answered_while_ingest_drains_is_in_its_platform_usage() {
    let env = TestEnv::migrated().await;
    let (tenant, key) = env.tenant_with_key(Scope::Ingest).await;
    let mut ingest = env.serve("ingest", &[]).await;
    let _aggregator = env.serve("meter", &[]).await;

    let now = chrono::Utc::now().to_rfc3339();
    let events: Vec<Value> = (0..25)
        .map(|n| {
            json!({ "specversion": "1.0", "id": format!("e-{n}"), "source": "test",
                    "type": "llm", "time": now, "data": { "n": n } })
        })
        .collect();
    let body = serde_json::to_vec(&events).expect("serializes");
    let address = ingest.base.trim_start_matches("http://").to_owned();
    let mut connection = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects to ingest");
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/cloudevents-batch+json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    connection
        .write_all(&[head.as_bytes(), first].concat())
        .await
        .expect("sends half the request");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // SIGTERM while the request is in flight: the server drains it before it stops.
    ingest.sigterm();
    tokio::time::sleep(Duration::from_millis(500)).await;
    connection.write_all(rest).await.expect("sends the rest");
    let mut answer = String::new();
    connection
        .read_to_string(&mut answer)
        .await
        .expect("reads the answer");
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let exit = tokio::time::timeout(Duration::from_secs(10), ingest.child.wait())
        .await
        .expect("ingest exits after draining")
        .expect("waits");
    assert!(exit.success(), "exit status {exit}");

    // Its metering left with its final records, after the request was answered.
    let analytics = env.analytics();
    eventually(Duration::from_secs(30), Duration::from_millis(500), async || {
        let hours = analytics
            .platform_hourly(
                tenant,
                chrono::Utc::now() - chrono::Duration::hours(1),
                chrono::Utc::now() + chrono::Duration::hours(1),
            )
            .await
            .expect("platform usage answers");
        let accepted: u64 = hours.iter().map(|hour| hour.accepted_events).sum();
        if accepted == 25 {
            Ok(())
        } else {
            Err(format!(
                "platform usage counts {accepted} of the 25 events ingest accepted while draining"
            ))
        }
    })
    .await;
}
