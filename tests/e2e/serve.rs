//! `tally serve` as an operator runs it: ready with every dependency up, honest about a
//! dependency going down, quick to stop on SIGTERM, and clear when it cannot start.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::Child;

use super::support::{TestEnv, run_bounded};

async fn readyz(base: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("runs kill");
    assert!(status.success());
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

    sigterm(&serve.child);
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
    let output = run_bounded(
        env.tally()
            .env("TALLY__CLICKHOUSE__URL", "http://127.0.0.1:1")
            .args(["serve", "--roles", "api"]),
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach clickhouse at http://127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = run_bounded(
        env.tally()
            .env("TALLY__KAFKA__BROKERS", "127.0.0.1:1")
            .args(["serve", "--roles", "ingest"]),
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach kafka at 127.0.0.1:1"),
        "{stderr}"
    );
}
