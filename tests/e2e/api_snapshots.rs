//! Snapshots of the GraphQL API's answers: one tenant with a small fixed dataset (event ids,
//! subjects, values and times a few minutes before the minute the test starts), every query
//! and every mutation, compared with `insta` snapshots in `snapshots/`. Ids, tenant ids and
//! names, key prefixes and secrets, creation and ingest times, period starts and cursors are
//! redacted; window and event times become their offset from the test's minute (`[T-7m]`), so
//! the snapshots also pin which minute every value landed in.

use std::time::Duration;

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Timelike, Utc};
use insta::internals::Content;
use serde_json::{Value, json};
use tally_meter::api_key::Scope;

use super::meter_load::post_batch;
use super::support::{Serve, TestEnv, eventually};

/// Posts a GraphQL request with a key and returns the body, insisting on HTTP 200 and no
/// errors.
async fn graphql(serve: &Serve, key: &str, query: &str, variables: Value) -> Value {
    let (status, body) = super::api::graphql(serve, key, query, variables).await;
    assert!(
        status == 200 && body.get("errors").is_none(),
        "{query} answered {status}: {body}"
    );
    body
}

const KEY_FIELDS: &str = "id scope prefix createdAt revokedAt";
const METER_FIELDS: &str =
    "id key eventType aggregation valuePath groupBy { name path } allowedLatenessSecs createdAt";
const QUOTA_FIELDS: &str =
    "ratePerSec burst monthlyEvents monthlyMode isDefault periodStart consumed";
const POINT_FIELDS: &str = "windowStart windowEnd groups { name value } events value";
const EVENT_FIELDS: &str = "id source type subject time ingestTime data";

const LAST_HOUR: &str = "query($meter: String!) { lastHour(meter: $meter) { windowStart windowEnd groups { name value } events value } }";

/// Events the dataset sends and ingest accepts.
const ACCEPTED: u64 = 6;

/// The dataset: five `llm` events for meter `tokens`, one `api.request` for meter `requests`,
/// at fixed offsets before `anchor`, all in one request (so one ingest time).
fn dataset(anchor: DateTime<Utc>) -> Vec<Value> {
    let at = |minutes: i64, seconds: i64| {
        (anchor + TimeDelta::minutes(minutes) + TimeDelta::seconds(seconds))
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    let llm = |id: &str, subject: &str, time: String, tokens: Value, model: &str| {
        json!({ "specversion": "1.0", "id": id, "source": "gateway/eu-1", "type": "llm",
                "subject": subject, "time": time, "data": { "tokens": tokens, "model": model } })
    };
    vec![
        llm("llm-1", "customer-1", at(-7, 5), json!(120), "a"),
        llm("llm-2", "customer-1", at(-7, 40), json!(80.5), "b"),
        llm("llm-3", "customer-2", at(-4, 10), json!(200), "a"),
        llm("llm-4", "customer-2", at(-4, 50), json!(0.25), "a"),
        llm("llm-5", "customer-1", at(-2, 30), json!(42), "b"),
        json!({ "specversion": "1.0", "id": "req-1", "source": "gateway/us-1",
                "type": "api.request", "subject": "customer-2", "time": at(-3, 0),
                "data": { "route": "/v1/search", "ms": 12 } }),
    ]
}

/// The minute the dataset is placed before. Starts early in a minute, so that the whole test
/// usually runs within it (`lastHour` moves with the clock; see [`attempt`]).
async fn anchor_minute() -> DateTime<Utc> {
    let second = Utc::now().second();
    if second >= 35 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }
    Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .expect("a minute-aligned time")
}

fn total_events(body: &Value, field: &str) -> u64 {
    body["data"][field].as_array().map_or(0, |points| {
        points.iter().filter_map(|p| p["events"].as_u64()).sum()
    })
}

fn items(body: &Value, field: &str) -> usize {
    body["data"][field]["items"].as_array().map_or(0, Vec::len)
}

/// The answers of one tenant's run, in order, named.
struct Answers {
    anchor: DateTime<Utc>,
    answers: Vec<(&'static str, Value)>,
}

/// Builds a fresh tenant's dataset and collects every answer; `None` if the clock passed into
/// another minute before `lastHour` was read (its points would be shifted), so the caller
/// starts over with another tenant.
async fn attempt(env: &TestEnv, serve: &Serve) -> Option<Answers> {
    let mut answers = Vec::new();
    let (_, admin) = env.tenant_with_key(Scope::Admin).await;

    // Mutations.
    let create_key = format!(
        "mutation($scope: Scope!) {{ createApiKey(scope: $scope) {{ key {{ {KEY_FIELDS} }} secret }} }}"
    );
    let mut secrets = Vec::new();
    let mut key_ids = Vec::new();
    for (name, scope) in [
        ("mutation_create_api_key_read", "READ"),
        ("mutation_create_api_key_ingest", "INGEST"),
        ("mutation_create_api_key_admin", "ADMIN"),
    ] {
        let body = graphql(serve, &admin, &create_key, json!({ "scope": scope })).await;
        let created = &body["data"]["createApiKey"];
        secrets.push(created["secret"].as_str().expect("a secret").to_owned());
        key_ids.push(created["key"]["id"].clone());
        answers.push((name, body));
    }
    let [read, ingest, _spare] = <[String; 3]>::try_from(secrets).expect("three keys");

    let create_meter = format!(
        "mutation($input: MeterInput!) {{ createMeter(input: $input) {{ {METER_FIELDS} }} }}"
    );
    for (name, input) in [
        (
            "mutation_create_meter_tokens",
            json!({ "key": "tokens", "eventType": "llm", "aggregation": "SUM",
                    "valuePath": "$.tokens", "groupBy": [{ "name": "model", "path": "$.model" }] }),
        ),
        (
            "mutation_create_meter_requests",
            json!({ "key": "requests", "eventType": "api.request", "aggregation": "COUNT",
                    "allowedLatenessSecs": 3600 }),
        ),
        (
            "mutation_create_meter_scratch",
            json!({ "key": "scratch", "eventType": "llm", "aggregation": "MAX",
                    "valuePath": "$.tokens" }),
        ),
    ] {
        let body = graphql(serve, &admin, &create_meter, json!({ "input": input })).await;
        answers.push((name, body));
    }
    let body = graphql(
        serve,
        &admin,
        "mutation { deleteMeter(key: \"scratch\") }",
        json!({}),
    )
    .await;
    answers.push(("mutation_delete_meter", body));
    let body = graphql(
        serve,
        &admin,
        &format!(
            "mutation($input: QuotaInput!) {{ setQuota(input: $input) {{ {QUOTA_FIELDS} }} }}"
        ),
        json!({ "input": { "ratePerSec": 500, "burst": 1000, "monthlyEvents": 1_000_000,
                           "monthlyMode": "SOFT" } }),
    )
    .await;
    answers.push(("mutation_set_quota", body));
    let body = graphql(
        serve,
        &admin,
        &format!("mutation($id: ID!) {{ revokeApiKey(id: $id) {{ {KEY_FIELDS} }} }}"),
        json!({ "id": key_ids[2] }),
    )
    .await;
    answers.push(("mutation_revoke_api_key", body));

    // The dataset, and one event ingest quarantines.
    let anchor = anchor_minute().await;
    let client = reqwest::Client::new();
    post_batch(&client, &serve.base, &ingest, &dataset(anchor)).await;
    let rejected = client
        .post(format!("{}/v1/events", serve.base))
        .bearer_auth(&ingest)
        .header("content-type", "application/cloudevents+json")
        .body(r#"{"specversion":"0.3","id":"llm-6","source":"gateway/eu-1","type":"llm"}"#)
        .send()
        .await
        .expect("ingest answers");
    assert_eq!(rejected.status().as_u16(), 422);

    // Wait until the aggregator counted and stored everything and ingest reported its usage.
    let last_hour = eventually(Duration::from_secs(60), Duration::from_millis(300), async || {
        let tokens = graphql(serve, &read, LAST_HOUR, json!({ "meter": "tokens" })).await;
        let requests = graphql(serve, &read, LAST_HOUR, json!({ "meter": "requests" })).await;
        let events = graphql(
            serve,
            &read,
            "{ events(first: 200) { items { id } } }",
            json!({}),
        )
        .await;
        let quarantine = graphql(
            serve,
            &read,
            "{ quarantine(first: 200) { items { eventId } } }",
            json!({}),
        )
        .await;
        let quota = graphql(serve, &read, "{ quota { consumed } }", json!({})).await;
        if total_events(&tokens, "lastHour") == 5
            && total_events(&requests, "lastHour") == 1
            && items(&events, "events") == 6
            && items(&quarantine, "quarantine") == 1
            && quota["data"]["quota"]["consumed"] == ACCEPTED
        {
            Ok(tokens)
        } else {
            Err(format!(
                "the dataset never showed in full: {tokens} {requests} {events} {quarantine} {quota}"
            ))
        }
    })
    .await;
    let newest = last_hour["data"]["lastHour"][59]["windowStart"]
        .as_str()
        .and_then(|time| DateTime::parse_from_rfc3339(time).ok());
    if newest != Some(anchor.fixed_offset()) {
        return None;
    }
    answers.push(("query_last_hour", last_hour));

    // Queries without variables; the traffic first, as its minutes move with the clock.
    for (name, key, query) in [
        (
            "query_traffic",
            &read,
            "{ traffic(top: 3) { minutes { minute accepted rejected } topTypes { eventType events } } }"
                .to_owned(),
        ),
        ("query_me", &read, "{ me { tenantId tenantName scope } }".to_owned()),
        ("query_meters", &read, format!("{{ meters {{ {METER_FIELDS} }} }}")),
        (
            "query_quarantine",
            &read,
            "{ quarantine(first: 10) { items { ingestTime eventId reason raw } nextCursor } }"
                .to_owned(),
        ),
        ("query_quota", &read, format!("{{ quota {{ {QUOTA_FIELDS} }} }}")),
        ("query_api_keys", &admin, format!("{{ apiKeys {{ {KEY_FIELDS} }} }}")),
    ] {
        answers.push((name, graphql(serve, key, &query, json!({})).await));
    }

    // Queries with variables.
    let usage = format!(
        "query($from: DateTime!, $to: DateTime!, $groupBy: [String!]! = [], $subject: String) {{
           usage(meter: \"tokens\", from: $from, to: $to, window: MINUTE, groupBy: $groupBy,
                 subject: $subject) {{ {POINT_FIELDS} }} }}"
    );
    let range = |extra: Value| {
        let mut variables = json!({ "from": anchor - TimeDelta::minutes(10), "to": anchor });
        if let (Some(variables), Value::Object(extra)) = (variables.as_object_mut(), extra) {
            variables.extend(extra);
        }
        variables
    };
    let body = graphql(serve, &read, &usage, range(json!({ "groupBy": ["model"] }))).await;
    answers.push(("query_usage_by_model", body));
    let body = graphql(
        serve,
        &read,
        &usage,
        range(json!({ "subject": "customer-2" })),
    )
    .await;
    answers.push(("query_usage_of_subject", body));

    let page = format!(
        "query($filter: EventFilter, $after: String) {{
           events(first: 4, filter: $filter, after: $after) {{ items {{ {EVENT_FIELDS} }} nextCursor }} }}"
    );
    let first = graphql(serve, &read, &page, json!({})).await;
    let cursor = first["data"]["events"]["nextCursor"].clone();
    assert!(cursor.is_string(), "a second page: {first}");
    answers.push(("query_events_page_1", first));
    let body = graphql(serve, &read, &page, json!({ "after": cursor })).await;
    answers.push(("query_events_page_2", body));
    let body = graphql(
        serve,
        &read,
        &page,
        json!({ "filter": { "type": "llm", "subject": "customer-2" } }),
    )
    .await;
    answers.push(("query_events_filtered", body));

    Some(Answers { anchor, answers })
}

/// Replaces a value with `label`, keeping nulls.
fn unless_null(label: &'static str) -> insta::internals::Redaction {
    insta::dynamic_redaction(move |value: Content, _| {
        if value.is_nil() {
            value
        } else {
            Content::from(label)
        }
    })
}

/// Replaces an RFC 3339 time with its offset from `anchor`, such as `[T-6m55s]`.
fn relative_to(anchor: DateTime<Utc>) -> insta::internals::Redaction {
    insta::dynamic_redaction(move |value: Content, _| {
        let Some(time) = value
            .as_str()
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        else {
            return Content::from("[not a time]");
        };
        let offset = time.with_timezone(&Utc) - anchor;
        let sign = if offset < TimeDelta::zero() { '-' } else { '+' };
        let seconds = offset.num_seconds().abs();
        let label = match (seconds / 60, seconds % 60) {
            (minutes, 0) => format!("[T{sign}{minutes}m]"),
            (minutes, rest) => format!("[T{sign}{minutes}m{rest:02}s]"),
        };
        Content::from(label)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_and_mutation_answers_as_snapshotted() {
    let env = TestEnv::migrated().await;
    let serve = env.serve("ingest,meter,api", &[]).await;
    let mut run = None;
    for _ in 0..3 {
        run = attempt(&env, &serve).await;
        if run.is_some() {
            break;
        }
    }
    let Answers { anchor, answers } = run.expect("a run within one minute in three attempts");

    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for selector in [
        ".data.meters[].id",
        ".data.createMeter.id",
        ".data.apiKeys[].id",
        ".data.createApiKey.key.id",
        ".data.revokeApiKey.id",
    ] {
        settings.add_redaction(selector, "[id]");
    }
    settings.add_redaction(".data.me.tenantId", "[tenantId]");
    settings.add_redaction(".data.me.tenantName", "[tenantName]");
    settings.add_redaction(".**.prefix", "[prefix]");
    settings.add_redaction(".**.secret", "[secret]");
    settings.add_redaction(".**.createdAt", "[createdAt]");
    settings.add_redaction(".**.revokedAt", unless_null("[revokedAt]"));
    settings.add_redaction(".**.ingestTime", "[ingestTime]");
    settings.add_redaction(".**.periodStart", "[periodStart]");
    settings.add_redaction(".**.nextCursor", unless_null("[cursor]"));
    for field in [".**.windowStart", ".**.windowEnd", ".**.time", ".**.minute"] {
        settings.add_redaction(field, relative_to(anchor));
    }
    settings.bind(|| {
        for (name, answer) in &answers {
            insta::assert_json_snapshot!(*name, answer);
        }
    });
}
