//! OTLP/HTTP from a real OpenTelemetry exporter (the Python SDK with its http/protobuf
//! exporter): metrics, logs and spans arrive on the events topic as Tally events with their
//! resource and attributes. OTLP/JSON and broken bodies need no process: ingest's integration
//! tests hold them (`ingest/tests/ingest/otlp.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_meter::event::Event;

use super::support::{TestEnv, read_events, run_bounded};

fn python() -> PathBuf {
    let cache = std::env::var("TALLY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").expect("HOME is set")).join(".cache/tally")
        });
    cache.join("venv/bin/python")
}

fn data(event: &Event) -> Value {
    serde_json::from_str(event.data.as_ref().expect("has data").get()).expect("JSON data")
}

#[tokio::test]
async fn a_real_opentelemetry_exporter_sends_metrics_logs_and_spans() {
    let env = TestEnv::migrated().await;
    let (_, key) = env.tenant_with_key(Scope::Ingest).await;
    let serve = env.serve("ingest", &[]).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otel/export.py");
    let output = run_bounded(
        tokio::process::Command::new(python())
            .args([
                script,
                "--endpoint",
                &serve.base,
                "--key",
                &key,
                "--protocol",
                "protobuf",
            ])
            .kill_on_drop(true),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exporter failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The exporters may split their exports; wait until all seven items are there.
    let mut events = Vec::new();
    for _ in 0..10 {
        events = read_events(&env.kafka, Duration::from_secs(30)).await;
        if events.len() >= 7 {
            break;
        }
    }
    let mut by_type: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for event in &events {
        by_type
            .entry(event.event_type.clone())
            .or_default()
            .push(event);
    }
    let counts: BTreeMap<&str, usize> = by_type
        .iter()
        .map(|(kind, list)| (kind.as_str(), list.len()))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([("otlp.log", 2), ("otlp.metric", 3), ("otlp.span", 2)])
    );
    assert!(events.iter().all(|event| event.source == "tally-e2e"));

    let spans = &by_type["otlp.span"];
    let names: Vec<&str> = spans
        .iter()
        .filter_map(|span| span.subject.as_deref())
        .collect();
    assert!(
        names.contains(&"checkout") && names.contains(&"charge card"),
        "{names:?}"
    );
    let child = spans
        .iter()
        .find(|span| span.subject.as_deref() == Some("charge card"))
        .expect("child span");
    let child_data = data(child);
    assert_eq!(child_data["resource"]["service.name"], "tally-e2e");
    assert_eq!(child_data["attributes"]["tally.step"], "child");
    assert!(child_data["span"]["parent_span_id"].is_string());
    assert_eq!(
        child.id,
        format!(
            "{}-{}",
            child_data["span"]["trace_id"].as_str().expect("hex"),
            child_data["span"]["span_id"].as_str().expect("hex")
        )
    );

    let routes: Vec<Value> = by_type["otlp.metric"]
        .iter()
        .map(|metric| data(metric)["attributes"]["route"].clone())
        .collect();
    assert_eq!(
        routes.iter().filter(|route| **route == json!("/a")).count(),
        2,
        "{routes:?}"
    );
    assert!(
        by_type["otlp.log"]
            .iter()
            .all(|log| data(log)["log"]["trace_id"].is_string())
    );
}
