//! Security tests: ingest (see `tests/e2e/security.rs`). Each sends a hostile request to a real
//! `tally serve` and checks both the answer and what it cost the server: the process's peak
//! (`VmHWM`) or current (`VmRSS`) memory from `/proc/PID/status`, compared with the figure after
//! start and a warm-up request of the same kind. Every test runs under [`TEST_TIMEOUT`]; the
//! server is killed when its `Serve` is dropped, on failure or timeout too.

use std::future::Future;
use std::io::Write as _;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tally_meter::api_key::Scope;

use super::super::api::graphql_body;
use super::super::support::{Serve, TestEnv, eventually, memory, read_topic};

/// Longest any test here may run.
const TEST_TIMEOUT: Duration = Duration::from_secs(150);
/// Longest wait for one answer, so that a server drowning in an amplification is killed
/// (when its `Serve` drops) long before it takes the machine's memory.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a refused amplification may take to be answered.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// Most the server's peak memory may grow while it refuses an amplification.
const MAX_PEAK_GROWTH: u64 = 100 * 1024 * 1024;
/// Most the server's memory may grow after a flood of hostile bearer values.
const MAX_RSS_GROWTH: u64 = 50 * 1024 * 1024;
/// `ingest.quarantine_raw_bytes` by default.
const QUARANTINE_RAW_BYTES: usize = 16 * 1024;
const MIB: f64 = 1024.0 * 1024.0;

/// Runs a test body under [`TEST_TIMEOUT`]; what it started is dropped (killed) either way.
async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test finished within its time bound");
}

/// Starts an ingest node for a new tenant; returns the env, the node and an ingest key.
async fn ingest_node(roles: &str) -> (TestEnv, Serve, String) {
    let env = TestEnv::migrated().await;
    let (_, key) = env.tenant_with_key(Scope::Ingest).await;
    let serve = env.serve(roles, &[]).await;
    (env, serve, key)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("compresses");
    encoder.finish().expect("compresses")
}

/// Posts a body to the ingest node; returns the status, the body and how long the answer took.
async fn post(
    serve: &Serve,
    key: &str,
    path: &str,
    content_type: &str,
    gzipped: bool,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>, Duration) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", serve.base))
        .timeout(REQUEST_TIMEOUT)
        .bearer_auth(key)
        .header("content-type", content_type);
    if gzipped {
        request = request.header("content-encoding", "gzip");
    }
    let started = Instant::now();
    let response = request.body(body).send().await.expect("ingest answers");
    let status = response.status();
    let body = response.bytes().await.expect("reads the answer").to_vec();
    (status, body, started.elapsed())
}

fn cloud_event(id: &str, data: Value) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": "security/ingest", "type": "probe",
        "time": chrono::Utc::now().to_rfc3339(), "data": data,
    })
}

/// Prints and returns how much the server's peak memory grew since it was `before`.
/// The JSON of an answer that must have come with `expected`.
fn json_answer(status: StatusCode, expected: StatusCode, answer: &[u8]) -> Value {
    assert_eq!(status, expected, "{}", String::from_utf8_lossy(answer));
    serde_json::from_slice(answer).expect("a JSON answer")
}

fn peak_growth(serve: &Serve, before: u64, what: &str) -> u64 {
    let after = memory(serve, "VmHWM");
    let growth = after.saturating_sub(before);
    eprintln!(
        "{what}: VmHWM {:.1} MiB before, {:.1} MiB after (+{:.1} MiB)",
        before as f64 / MIB,
        after as f64 / MIB,
        growth as f64 / MIB
    );
    growth
}

/// Checks that the peak memory grew by less than [`MAX_PEAK_GROWTH`].
fn assert_flat_peak(growth: u64, what: &str) {
    assert!(
        growth < MAX_PEAK_GROWTH,
        "{what}: the server's peak memory grew by {:.1} MiB",
        growth as f64 / MIB
    );
}

#[tokio::test]
async fn a_gzipped_batch_of_millions_of_tiny_items_is_refused_at_once() {
    bounded(async {
        let (_env, serve, key) = ingest_node("ingest").await;
        let batch_type = "application/cloudevents-batch+json";
        let warm_up = serde_json::to_vec(&json!([cloud_event("warm", json!(1))])).expect("JSON");
        let (status, _, _) =
            post(&serve, &key, "/v1/events", batch_type, true, gzip(&warm_up)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let before = memory(&serve, "VmHWM");

        let items = 2_000_000;
        let mut body = Vec::with_capacity(2 * items + 1);
        body.push(b'[');
        for index in 0..items {
            body.extend_from_slice(if index == 0 { b"0" } else { b",0" });
        }
        body.push(b']');
        assert!(
            body.len() <= 5 * 1024 * 1024,
            "within ingest.max_body_bytes"
        );
        let (status, answer, took) =
            post(&serve, &key, "/v1/events", batch_type, true, gzip(&body)).await;
        let what = "2M-item CloudEvents batch";
        let growth = peak_growth(&serve, before, what);
        eprintln!("{what}: answered {status} in {took:?}");
        let answer = json_answer(status, StatusCode::PAYLOAD_TOO_LARGE, &answer);
        assert_eq!(answer["error"]["code"], "PAYLOAD_TOO_LARGE");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("ingest.max_batch_events"), "{message}");
        assert!(took < ANSWER_WITHIN, "answered in {took:?}");
        assert_flat_peak(growth, what);
    })
    .await;
}

/// Appends a protobuf field (wire type 2: bytes or a message) to `out`.
fn message_field(out: &mut Vec<u8>, number: u64, content: &[u8]) {
    let mut varint = |mut value: u64| loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    };
    varint(number << 3 | 2);
    varint(content.len() as u64);
    out.extend_from_slice(content);
}

/// An `ExportLogsServiceRequest` in protobuf, encoded by hand: one resource with `attributes`
/// string attributes of `value_bytes` bytes each, one scope, and `records` empty log records.
fn logs_request(attributes: usize, value_bytes: usize, records: usize) -> Vec<u8> {
    let mut resource = Vec::new();
    for index in 0..attributes {
        let mut any_value = Vec::new();
        message_field(&mut any_value, 1, "x".repeat(value_bytes).as_bytes()); // string_value
        let mut key_value = Vec::new();
        message_field(&mut key_value, 1, format!("attribute.{index}").as_bytes()); // key
        message_field(&mut key_value, 2, &any_value); // value
        message_field(&mut resource, 1, &key_value); // Resource.attributes
    }
    let mut scope_logs = Vec::with_capacity(2 * records);
    for _ in 0..records {
        message_field(&mut scope_logs, 2, &[]); // ScopeLogs.log_records
    }
    let mut resource_logs = Vec::new();
    message_field(&mut resource_logs, 1, &resource); // ResourceLogs.resource
    message_field(&mut resource_logs, 2, &scope_logs); // ResourceLogs.scope_logs
    let mut request = Vec::new();
    message_field(&mut request, 1, &resource_logs); // ExportLogsServiceRequest.resource_logs
    request
}

#[tokio::test]
async fn an_otlp_body_of_millions_of_records_under_a_large_resource_is_refused_at_once() {
    bounded(async {
        let (_env, serve, key) = ingest_node("ingest").await;
        let protobuf = "application/x-protobuf";
        let warm_up = logs_request(100, 100, 10);
        let (status, _, _) = post(&serve, &key, "/v1/logs", protobuf, false, warm_up).await;
        assert_eq!(status, StatusCode::OK);
        let before = memory(&serve, "VmHWM");

        // ~1 MB of resource attributes, then empty records (2 bytes each) up to ~5 MB.
        let body = logs_request(1_000, 1_000, 1_950_000);
        assert!(
            body.len() <= 5 * 1024 * 1024,
            "within ingest.max_body_bytes"
        );
        let (status, answer, took) = post(&serve, &key, "/v1/logs", protobuf, false, body).await;
        let what = "OTLP resource amplification";
        let growth = peak_growth(&serve, before, what);
        eprintln!("{what}: answered {status} in {took:?}");
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let message = String::from_utf8_lossy(&answer);
        assert!(message.contains("ingest.max_batch_events"), "{message}");
        assert!(took < ANSWER_WITHIN, "answered in {took:?}");
        assert_flat_peak(growth, what);
    })
    .await;
}

#[tokio::test]
async fn otlp_records_too_large_with_their_resource_are_refused_unbuilt() {
    bounded(async {
        let (_env, serve, key) = ingest_node("ingest").await;
        // OTLP/JSON: 500 records, each inheriting ~500 KB of resource attributes.
        let request = |attributes: usize, records: usize| {
            let attributes: Vec<Value> = (0..attributes)
                .map(|index| {
                    json!({"key": format!("attribute.{index}"),
                           "value": {"stringValue": "x".repeat(1_000)}})
                })
                .collect();
            let records: Vec<Value> = (0..records)
                .map(|index| json!({"body": {"stringValue": format!("record {index}")}}))
                .collect();
            serde_json::to_vec(&json!({"resourceLogs": [{
                "resource": {"attributes": attributes},
                "scopeLogs": [{"scope": {"name": "probe"}, "logRecords": records}]
            }]}))
            .expect("JSON")
        };
        let json_type = "application/json";
        let (status, _, _) = post(&serve, &key, "/v1/logs", json_type, false, request(5, 2)).await;
        assert_eq!(status, StatusCode::OK);
        let before = memory(&serve, "VmHWM");

        let (status, answer, _) = post(
            &serve,
            &key,
            "/v1/logs",
            json_type,
            false,
            request(500, 500),
        )
        .await;
        let what = "OTLP records over the limit with their resource";
        let growth = peak_growth(&serve, before, what);
        let answer = json_answer(status, StatusCode::OK, &answer);
        let partial = &answer["partialSuccess"];
        assert_eq!(
            partial["rejectedLogRecords"].as_i64(),
            Some(500),
            "{answer}"
        );
        let message = partial["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("inherited from its resource and scope; the limit is 65536 bytes"),
            "{message}"
        );
        assert_flat_peak(growth, what);
    })
    .await;
}

#[tokio::test]
async fn a_huge_rejected_event_is_quarantined_as_a_bounded_prefix_with_its_length_and_hash() {
    bounded(async {
        let env = TestEnv::migrated().await;
        let (tenant_id, key) = env.tenant_with_key(Scope::Ingest).await;
        let read_key = env.key_for(tenant_id, Scope::Read).await;
        let serve = env.serve("ingest,meter,api", &[]).await;

        // A valid-looking event whose data makes it 2 MB, next to a good one.
        let huge = cloud_event("huge", json!({ "blob": "é".repeat(1024 * 1024) }));
        let huge_bytes = serde_json::to_vec(&huge).expect("JSON");
        let body = serde_json::to_vec(&json!([huge, cloud_event("good", json!(1))])).expect("JSON");
        let batch_type = "application/cloudevents-batch+json";
        let (status, answer, _) = post(&serve, &key, "/v1/events", batch_type, false, body).await;
        let answer = json_answer(status, StatusCode::ACCEPTED, &answer);
        assert_eq!(answer["accepted"], 1);
        let rejected = answer["rejected"].as_array().expect("rejections");
        assert_eq!(rejected.len(), 1, "{answer}");
        assert_eq!(rejected[0]["id"], "huge");

        let expected_hash = hex(&Sha256::digest(&huge_bytes));
        let topic = env.kafka.topics().quarantine;
        let records = read_topic(&env.kafka, &topic, 1, Duration::from_secs(30)).await;
        assert_eq!(records.len(), 1);
        let record: Value = serde_json::from_slice(&records[0].1).expect("a quarantine record");
        let raw = record["raw"].as_str().expect("raw text");
        assert!(
            raw.len() <= QUARANTINE_RAW_BYTES,
            "raw is {} bytes",
            raw.len()
        );
        assert!(
            huge_bytes.starts_with(raw.as_bytes()),
            "raw is the event's start"
        );
        assert_eq!(record["raw_bytes"].as_u64(), Some(huge_bytes.len() as u64));
        assert_eq!(record["raw_sha256"], expected_hash.as_str());

        // The aggregator stores the bounds, and the API shows them.
        let query =
            "{ quarantine(first: 10) { items { eventId raw rawBytes rawSha256 truncated } } }";
        let item = eventually(
            Duration::from_secs(60),
            Duration::from_millis(250),
            async || {
                let seen = graphql_body(&serve, &read_key, query).await;
                match seen["data"]["quarantine"]["items"].get(0) {
                    Some(item) => Ok(item.clone()),
                    None => Err(format!("the quarantine never showed: {seen}")),
                }
            },
        )
        .await;
        assert_eq!(item["eventId"], "huge");
        assert_eq!(item["raw"].as_str(), Some(raw));
        assert_eq!(item["rawBytes"].as_u64(), Some(huge_bytes.len() as u64));
        assert_eq!(item["rawSha256"], expected_hash.as_str());
        assert_eq!(item["truncated"], true);
    })
    .await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn a_flood_of_huge_unique_bearer_values_is_refused_without_growing_memory() {
    bounded(async {
        let (_env, serve, _key) = ingest_node("ingest").await;
        let client = reqwest::Client::new();
        let url = format!("{}/v1/events", serve.base);
        let body = serde_json::to_vec(&json!([cloud_event("e", json!(1))])).expect("JSON");
        let send = |bearer: String| {
            client
                .post(&url)
                .bearer_auth(bearer)
                .header("content-type", "application/cloudevents-batch+json")
                .body(body.clone())
                .send()
        };
        let filler = "k".repeat(300 * 1024);
        // Each is refused: 401, or 429 once this address has failed too often.
        let refused = |status: StatusCode| {
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS
        };
        for warm_up in 0..10 {
            let status = send(format!("{warm_up}-{filler}")).await.expect("answers").status();
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let before = memory(&serve, "VmRSS");

        for index in 0..1_000 {
            let status = send(format!("tly_{index}-{filler}")).await.expect("answers").status();
            assert!(refused(status), "value {index}: {status}");
        }
        let after = memory(&serve, "VmRSS");
        let growth = after.saturating_sub(before);
        eprintln!(
            "1000 unique 300 KB bearer values: VmRSS {:.1} MiB before, {:.1} MiB after (+{:.1} MiB)",
            before as f64 / MIB,
            after as f64 / MIB,
            growth as f64 / MIB
        );
        assert!(
            growth < MAX_RSS_GROWTH,
            "the server's memory grew by {:.1} MiB",
            growth as f64 / MIB
        );
    })
    .await;
}
