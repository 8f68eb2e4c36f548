//! The GraphQL API end to end: two tenants with data of their own, and tenant A's keys trying
//! every query and mutation on tenant B's data by id, by key, by filter and by cursor.

use std::time::Duration;

use serde_json::{Value, json};
use tally_meter::api_key::Scope;

use super::meter_load::post_batch;
use super::support::{Serve, TestEnv, eventually};

/// Posts a GraphQL query with a key; returns the HTTP status and the body.
pub async fn graphql(serve: &Serve, key: &str, query: &str, variables: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", serve.base))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("the api answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// Posts a GraphQL query or mutation that takes no variables with a key; returns the body.
pub async fn graphql_body(serve: &Serve, key: &str, query: &str) -> Value {
    graphql(serve, key, query, json!({})).await.1
}

/// The `extensions.code` of the first error, if any.
pub fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// Asserts that the first error of a GraphQL answer has the code `code` and a message that
/// contains `words`.
pub fn assert_error(body: &Value, code: &str, words: &str) {
    assert_eq!(self::code(body), Some(code), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{body}");
}

/// A tenant with an admin key, a read key, an ingest key and a meter `calls` over its events.
struct Tenant {
    id: String,
    admin: String,
    read: String,
    ingest: String,
}

async fn tenant(env: &TestEnv, serve: &Serve) -> Tenant {
    let (id, admin) = env.tenant_with_key(Scope::Admin).await;
    let create = async |scope: &str| {
        let query = format!("mutation {{ createApiKey(scope: {scope}) {{ secret }} }}");
        let body = graphql_body(serve, &admin, &query).await;
        body["data"]["createApiKey"]["secret"]
            .as_str()
            .expect("a new key")
            .to_owned()
    };
    let read = create("READ").await;
    let ingest = create("INGEST").await;
    let body = graphql_body(serve, &admin, "mutation { createMeter(input: { key: \"calls\", eventType: \"call\", aggregation: COUNT, groupBy: [{ name: \"region\", path: \"$.region\" }] }) { key } }").await;
    assert_eq!(body["data"]["createMeter"]["key"], "calls", "{body}");
    Tenant {
        id: id.to_string(),
        admin,
        read,
        ingest,
    }
}

fn events(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|number| {
            json!({ "specversion": "1.0", "id": format!("{prefix}-{number}"), "source": prefix,
                    "type": "call", "subject": format!("{prefix}-subject"),
                    "data": { "region": format!("{prefix}-region") } })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_a_never_reaches_tenant_b_through_any_query_or_mutation() {
    let env = TestEnv::migrated().await;
    let serve = env.serve("ingest,meter,api", &[]).await;
    let a = tenant(&env, &serve).await;
    let b = tenant(&env, &serve).await;
    let client = reqwest::Client::new();
    post_batch(&client, &serve.base, &a.ingest, &events("a", 3)).await;
    post_batch(&client, &serve.base, &b.ingest, &events("b", 5)).await;

    // Wait until B's events are visible to B, so that A's queries would see them if they could.
    let usage = "query($from: DateTime!, $to: DateTime!) { usage(meter: \"calls\", from: $from, to: $to, window: MONTH, groupBy: [\"region\"]) { events groups { value } } }";
    let range = json!({ "from": "2026-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z" });
    let seen_by_a = eventually(
        Duration::from_secs(30),
        Duration::from_millis(300),
        async || {
            let (_, seen_by_b) = graphql(&serve, &b.read, usage, range.clone()).await;
            let (_, seen_by_a) = graphql(&serve, &a.read, usage, range.clone()).await;
            if seen_by_b["data"]["usage"][0]["events"] == 5
                && seen_by_a["data"]["usage"][0]["events"] == 3
            {
                Ok(seen_by_a)
            } else {
                Err(format!("usage never showed: A {seen_by_a} B {seen_by_b}"))
            }
        },
    )
    .await;
    assert_eq!(
        seen_by_a["data"]["usage"][0]["groups"][0]["value"],
        "a-region"
    );
    assert_eq!(seen_by_a["data"]["usage"].as_array().map(Vec::len), Some(1));

    // The REST exports give the same usage, bound to the key's tenant.
    let export = |format: &str, key: &str, query: &str| {
        client
            .get(format!("{}/v1/usage.{format}?{query}", serve.base))
            .bearer_auth(key)
            .send()
    };
    let range_query = "meter=calls&from=2026-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&window=month&group_by=region";
    let csv = export("csv", &a.read, range_query).await.expect("exports");
    assert_eq!(csv.status().as_u16(), 200);
    let csv = csv.text().await.expect("csv text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0], "window_start,window_end,region,events,value",
        "{csv}"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].ends_with(",a-region,3,3"), "{csv}");
    let json_export: Value = export("json", &a.read, range_query)
        .await
        .expect("exports")
        .json()
        .await
        .expect("json");
    assert_eq!(json_export[0]["events"], 3, "{json_export}");
    let missing = export("csv", &a.read, "meter=calls")
        .await
        .expect("answers");
    assert_eq!(missing.status().as_u16(), 400);
    let missing: Value = missing.json().await.expect("json error");
    assert_eq!(code(&missing), Some("BAD_USER_INPUT"), "{missing}");
    let anonymous = client
        .get(format!("{}/v1/usage.json?{range_query}", serve.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(anonymous.status().as_u16(), 401);

    // Identity and listings hold A's things only.
    let me = graphql_body(&serve, &a.read, "{ me { tenantId scope } }").await;
    assert_eq!(me["data"]["me"]["tenantId"], json!(a.id));
    assert_eq!(me["data"]["me"]["scope"], "READ");
    let keys = graphql_body(&serve, &a.admin, "{ apiKeys { id } }").await;
    let b_keys = graphql_body(&serve, &b.admin, "{ apiKeys { id } }").await;
    let a_key_ids: Vec<&Value> = keys["data"]["apiKeys"]
        .as_array()
        .expect("keys")
        .iter()
        .collect();
    assert_eq!(a_key_ids.len(), 3);
    for b_key in b_keys["data"]["apiKeys"].as_array().expect("keys") {
        assert!(!a_key_ids.contains(&b_key), "A sees B's key {b_key}");
    }

    // Events: by filter on B's source or subject, nothing; by B's cursor, still only A's.
    let page = "query($filter: EventFilter, $after: String) { events(first: 2, filter: $filter, after: $after) { items { id } nextCursor } }";
    for filter in [json!({ "source": "b" }), json!({ "subject": "b-subject" })] {
        let (_, found) = graphql(&serve, &a.read, page, json!({ "filter": filter })).await;
        assert_eq!(found["data"]["events"]["items"], json!([]), "{found}");
    }
    let b_page = graphql_body(&serve, &b.read, page).await;
    let b_cursor = b_page["data"]["events"]["nextCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("B has more pages: {b_page}"));
    let (_, with_b_cursor) = graphql(&serve, &a.read, page, json!({ "after": b_cursor })).await;
    for item in with_b_cursor["data"]["events"]["items"]
        .as_array()
        .expect("a page")
    {
        assert!(
            item["id"].as_str().is_some_and(|id| id.starts_with("a-")),
            "{item}"
        );
    }
    let all_of_a = graphql_body(&serve, &a.read, "{ events(first: 200) { items { id } } }").await;
    assert_eq!(
        all_of_a["data"]["events"]["items"].as_array().map(Vec::len),
        Some(3)
    );

    // Quarantine: B's rejected events are B's alone.
    let rejected = json!([{ "specversion": "0.3", "id": "bad", "source": "b", "type": "call" },
                          { "specversion": "0.3", "id": "worse", "source": "b", "type": "call" }]);
    client
        .post(format!("{}/v1/events", serve.base))
        .bearer_auth(&b.ingest)
        .header("content-type", "application/cloudevents-batch+json")
        .json(&rejected)
        .send()
        .await
        .expect("ingest answers");
    let quarantine = "query($after: String) { quarantine(first: 1, after: $after) { items { eventId reason } nextCursor } }";
    let b_quarantine = eventually(
        Duration::from_secs(30),
        Duration::from_millis(300),
        async || {
            let seen = graphql_body(&serve, &b.read, quarantine).await;
            if seen["data"]["quarantine"]["nextCursor"].is_string() {
                Ok(seen)
            } else {
                Err(format!("B's quarantine never showed: {seen}"))
            }
        },
    )
    .await;
    assert!(
        b_quarantine["data"]["quarantine"]["items"][0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("specversion")),
        "{b_quarantine}"
    );
    let b_next = b_quarantine["data"]["quarantine"]["nextCursor"].clone();
    let (_, b_second) = graphql(&serve, &b.read, quarantine, json!({ "after": b_next })).await;
    assert_eq!(
        b_second["data"]["quarantine"]["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    for after in [Value::Null, b_next] {
        let (_, seen_by_a) = graphql(&serve, &a.read, quarantine, json!({ "after": after })).await;
        assert_eq!(
            seen_by_a["data"]["quarantine"]["items"],
            json!([]),
            "{seen_by_a}"
        );
    }

    // Traffic: each tenant's last hour counts its own events only.
    let traffic = "{ traffic { minutes { accepted rejected } topTypes { eventType events } } }";
    let totals = |body: &Value| {
        body["data"]["traffic"]["minutes"]
            .as_array()
            .map(|minutes| {
                minutes.iter().fold((0, 0), |(accepted, rejected), minute| {
                    (
                        accepted + minute["accepted"].as_u64().unwrap_or(0),
                        rejected + minute["rejected"].as_u64().unwrap_or(0),
                    )
                })
            })
            .unwrap_or_default()
    };
    let a_traffic = graphql_body(&serve, &a.read, traffic).await;
    let b_traffic = graphql_body(&serve, &b.read, traffic).await;
    assert_eq!(totals(&a_traffic), (3, 0), "{a_traffic}");
    assert_eq!(totals(&b_traffic).1, 2, "{b_traffic}");
    assert!(
        a_traffic["data"]["traffic"]["topTypes"]
            .as_array()
            .is_some_and(|types| types.iter().all(|row| row["events"].as_u64() <= Some(3))),
        "{a_traffic}"
    );

    // Mutations on B's things by id or key: not found, and B's things are untouched.
    let b_key_id = b_keys["data"]["apiKeys"][0]["id"].clone();
    let (_, revoke) = graphql(
        &serve,
        &a.admin,
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        json!({ "id": b_key_id }),
    )
    .await;
    assert_eq!(code(&revoke), Some("NOT_FOUND"), "{revoke}");
    let b_me = graphql_body(&serve, &b.read, "{ me { tenantId } }").await;
    assert_eq!(b_me["data"]["me"]["tenantId"], json!(b.id));
    let deleted = graphql_body(&serve, &a.admin, "mutation { deleteMeter(key: \"calls\") }").await;
    assert_eq!(deleted["data"]["deleteMeter"], true);
    let b_meters = graphql_body(&serve, &b.read, "{ meters { key } }").await;
    assert_eq!(b_meters["data"]["meters"], json!([{ "key": "calls" }]));
    let (_, gone) = graphql(&serve, &a.read, usage, range.clone()).await;
    assert_eq!(code(&gone), Some("NOT_FOUND"), "{gone}");

    // Scopes and credentials.
    let ingest_reads = graphql_body(&serve, &a.ingest, "{ meters { key } }").await;
    assert_eq!(code(&ingest_reads), Some("FORBIDDEN"));
    let read_writes = graphql_body(
        &serve,
        &a.read,
        "mutation { setQuota(input: { ratePerSec: 5 }) { ratePerSec } }",
    )
    .await;
    assert_eq!(code(&read_writes), Some("FORBIDDEN"));
    let (status, no_key) = graphql(&serve, "tly_not-a-key", "{ me { tenantId } }", json!({})).await;
    assert_eq!((status, code(&no_key)), (401, Some("UNAUTHENTICATED")));
    let quota = graphql_body(
        &serve,
        &a.admin,
        "mutation { setQuota(input: { ratePerSec: 5 }) { ratePerSec burst isDefault } }",
    )
    .await;
    assert_eq!(
        quota["data"]["setQuota"],
        json!({ "ratePerSec": 5, "burst": 10, "isDefault": false })
    );
    let b_quota = graphql_body(&serve, &b.read, "{ quota { isDefault } }").await;
    assert_eq!(b_quota["data"]["quota"]["isDefault"], true);

    // Audit: A's quota change and key creations are recorded, by key, for A's admins only.
    let audit = "{ auditLog { actor action oldValue newValue } }";
    let a_audit = graphql_body(&serve, &a.admin, audit).await;
    let entries = a_audit["data"]["auditLog"].as_array().expect("entries");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "quota.set",
            "meter.deleted",
            "meter.created",
            "key.created",
            "key.created",
            "key.created"
        ],
        "{a_audit}"
    );
    assert_eq!(
        entries[5]["actor"], "operator",
        "the admin key came from the catalog"
    );
    assert!(
        entries[0]["actor"]
            .as_str()
            .is_some_and(|actor| actor.starts_with("key:"))
    );
    assert_eq!(entries[0]["oldValue"], Value::Null);
    assert!(
        entries[0]["newValue"]
            .as_str()
            .is_some_and(|new| new.contains("\"rate_per_sec\":5"))
    );
    let b_audit = graphql_body(&serve, &b.admin, audit).await;
    assert_eq!(
        b_audit["data"]["auditLog"].as_array().map(Vec::len),
        Some(4),
        "{b_audit}"
    );
    let read_audit = graphql_body(&serve, &a.read, audit).await;
    assert_eq!(code(&read_audit), Some("FORBIDDEN"));

    // A platform key acts on the tenant it names; no other key may name one.
    let (_, platform) = env.tenant_with_key(Scope::Platform).await;
    let as_tenant = |key: &str, tenant: &str| {
        client
            .post(format!("{}/graphql", serve.base))
            .bearer_auth(key)
            .header("x-tally-tenant", tenant)
            .json(&json!({ "query": "{ me { tenantId } meters { key } }" }))
            .send()
    };
    let named: Value = as_tenant(&platform, &b.id)
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(named["data"]["me"]["tenantId"], json!(b.id), "{named}");
    assert_eq!(
        named["data"]["meters"],
        json!([{ "key": "calls" }]),
        "{named}"
    );
    let refused = as_tenant(&a.admin, &b.id).await.expect("answers");
    assert_eq!(refused.status().as_u16(), 403);
    let refused: Value = refused.json().await.expect("json");
    assert_eq!(code(&refused), Some("FORBIDDEN"), "{refused}");
    let unknown: Value = as_tenant(&platform, "no-such-tenant")
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(code(&unknown), Some("NOT_FOUND"), "{unknown}");

    // Limits: pages are capped and deep queries refused, with codes.
    let big_page = graphql_body(&serve, &a.read, "{ events(first: 1000) { items { id } } }").await;
    assert_eq!(code(&big_page), Some("BAD_USER_INPUT"), "{big_page}");
    let (_, bad_cursor) = graphql(&serve, &a.read, page, json!({ "after": "zz" })).await;
    assert_eq!(code(&bad_cursor), Some("BAD_USER_INPUT"), "{bad_cursor}");
}
