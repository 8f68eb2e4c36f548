//! Security tests: cost (see `tests/e2e/security.rs`). A request or export that would cost
//! without bound is refused before it reaches ClickHouse (checked in `system.query_log`,
//! which `scripts/services.sh` turns on), edge inputs answer BAD_USER_INPUT without taking the
//! server down, and CSV exports cannot smuggle formulas into a spreadsheet.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tally_meter::analytics::Analytics;
use tally_meter::api_key::Scope;

use crate::e2e::api::graphql;
use crate::e2e::meter_load::post_batch;
use crate::e2e::support::{Serve, TestEnv};

/// Upper bound of one request in these tests; the API's own deadline is 10 s.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

/// The `extensions.code` and message of the first error, if any.
fn first_error(body: &Value) -> (Option<&str>, &str) {
    let error = &body["errors"][0];
    (
        error["extensions"]["code"].as_str(),
        error["message"].as_str().unwrap_or_default(),
    )
}

/// Posts a GraphQL query; `Err` when the server dropped the connection or did not answer.
async fn ask(serve: &Serve, key: &str, query: &str, variables: Value) -> Result<Value, String> {
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", serve.base))
        .bearer_auth(key)
        .timeout(ANSWER_WITHIN)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .map_err(|error| format!("no answer: {error}"))?;
    response
        .json()
        .await
        .map_err(|error| format!("no JSON answer: {error}"))
}

/// GETs an export; returns its status and body, or `Err` when there was no answer.
async fn export(serve: &Serve, key: &str, path_and_query: &str) -> Result<(u16, String), String> {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", serve.base))
        .bearer_auth(key)
        .timeout(ANSWER_WITHIN)
        .send()
        .await
        .map_err(|error| format!("no answer: {error}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|error| error.to_string())?;
    Ok((status, body))
}

/// Creates meter `calls` (COUNT of `call` events, grouped by `user`) and returns its id.
async fn create_meter(serve: &Serve, admin: &str) -> String {
    let (_, body) = graphql(
        serve,
        admin,
        "mutation { createMeter(input: { key: \"calls\", eventType: \"call\", aggregation: COUNT, groupBy: [{ name: \"user\", path: \"$.user\" }] }) { id } }",
        json!({}),
    )
    .await;
    body["data"]["createMeter"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("creates a meter: {body}"))
        .to_owned()
}

/// Counts the rows of `system.query_log` of ClickHouse queries whose text holds `needle` (a
/// tenant id: queries carry it as a literal), leaving out these counting queries.
async fn queries_mentioning(analytics: &Analytics, needle: &str) -> u64 {
    analytics
        .client()
        .query("SYSTEM FLUSH LOGS")
        .execute()
        .await
        .expect("flushes the query log");
    analytics
        .client()
        .query(
            "SELECT count() FROM system.query_log
             WHERE position(query, ?) > 0 AND position(query, 'system.query_log') = 0",
        )
        .bind(needle)
        .fetch_one()
        .await
        .expect("reads the query log")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_aliased_event_pages_are_refused_before_any_clickhouse_query() {
    let env = TestEnv::migrated().await;
    let serve = env.serve("api", &[]).await;
    let (tenant, key) = env.tenant_with_key(Scope::Read).await;
    let tenant = tenant.to_string();
    let analytics = env.analytics();

    // One page runs one ClickHouse query, which the log shows, bounded by the API's deadline.
    let page = ask(
        &serve,
        &key,
        "{ events(first: 1) { items { id } } }",
        json!({}),
    )
    .await
    .expect("answers");
    assert_eq!(page["data"]["events"]["items"], json!([]), "{page}");
    let after_one_page = queries_mentioning(&analytics, &tenant).await;
    assert!(after_one_page > 0, "the query log shows the page's query");
    // 18.16's query_log keeps settings as two arrays.
    let deadline: String = analytics
        .client()
        .query(
            "SELECT Settings.Values[indexOf(Settings.Names, 'max_execution_time')]
             FROM system.query_log
             WHERE position(query, ?) > 0 AND position(query, 'system.query_log') = 0 LIMIT 1",
        )
        .bind(&tenant)
        .fetch_one()
        .await
        .expect("reads the query log");
    assert_eq!(
        deadline, "10",
        "the API's ClickHouse queries stop at its deadline"
    );

    let aliases: String = (0..600)
        .map(|index| format!("e{index}: events {{ items {{ id }} }} "))
        .collect();
    let started = Instant::now();
    let flood = ask(&serve, &key, &format!("{{ {aliases} }}"), json!({}))
        .await
        .expect("answers");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused at once"
    );
    let (code, message) = first_error(&flood);
    assert_eq!(code, Some("BAD_USER_INPUT"), "{flood}");
    assert!(
        message.contains("`events` is asked for 600 times") && message.contains("at most 10"),
        "{message}"
    );
    assert_eq!(flood["data"], Value::Null, "{flood}");
    assert_eq!(
        queries_mentioning(&analytics, &tenant).await,
        after_one_page,
        "no ClickHouse query ran for the refused request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_over_the_window_or_row_caps_are_refused_with_400_and_a_clear_message() {
    let env = TestEnv::migrated().await;
    let serve = env.serve("api", &[]).await;
    let (tenant, admin) = env.tenant_with_key(Scope::Admin).await;
    let tenant = tenant.to_string();
    let meter = create_meter(&serve, &admin).await;
    let analytics = env.analytics();

    // Ten years per minute: 5,260,320 windows, refused before any ClickHouse query.
    let started = Instant::now();
    let ten_years =
        "/v1/usage.csv?meter=calls&from=2016-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&window=minute";
    let (status, body) = export(&serve, &admin, ten_years).await.expect("answers");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON error");
    let (code, message) = first_error(&body);
    assert_eq!(code, Some("BAD_USER_INPUT"));
    assert!(
        message.contains("5260320 minute windows, more than the 100000 allowed")
            && message.contains("coarser window"),
        "{message}"
    );
    assert_eq!(queries_mentioning(&analytics, &tenant).await, 0);

    // One minute with 100,001 users: one day by user is 100,001 rows, one more than allowed.
    analytics
        .client()
        .query(
            "INSERT INTO rollup_minute
             SELECT ?, ?, toUInt32(1767225600), '', [concat('user-', toString(number))],
                    toUInt32(0), number, toUInt64(1), toUInt64(1), toDecimal128(1, 9),
                    toDecimal128(1, 9), toDecimal128(1, 9), toInt64(0), toUInt64(0),
                    toDecimal128(1, 9)
             FROM system.numbers LIMIT 100001",
        )
        .bind(&tenant)
        .bind(&meter)
        .execute()
        .await
        .expect("writes rollups");
    let day = "meter=calls&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&window=day";
    for format in ["csv", "json"] {
        let path = format!("/v1/usage.{format}?{day}&group_by=user");
        let (status, body) = export(&serve, &admin, &path).await.expect("answers");
        assert_eq!(status, 400, "{format}: {}", &body[..body.len().min(300)]);
        assert!(
            body.contains(
                "more than 100000 rows: narrow the range, use a coarser window or fewer groups"
            ),
            "{body}"
        );
    }
    let (status, total) = export(&serve, &admin, &format!("/v1/usage.csv?{day}"))
        .await
        .expect("answers");
    assert_eq!(status, 200, "{total}");
    assert!(total.contains(",100001,100001\r\n"), "{total}");

    // GraphQL's usage field stops at 20,000 rows.
    let usage = "{ usage(meter: \"calls\", from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", window: DAY, groupBy: [\"user\"]) { events } }";
    let answer = ask(&serve, &admin, usage, json!({}))
        .await
        .expect("answers");
    let (code, message) = first_error(&answer);
    assert_eq!(code, Some("BAD_USER_INPUT"), "{answer}");
    assert!(message.starts_with("more than 20000 rows"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_dates_windows_and_pages_answer_bad_user_input_and_the_server_stays_up() {
    let env = TestEnv::migrated().await;
    let mut serve = env.serve("api", &[]).await;
    let (_, admin) = env.tenant_with_key(Scope::Admin).await;
    create_meter(&serve, &admin).await;

    let usage = "query($from: DateTime!, $to: DateTime!, $window: Window!) { usage(meter: \"calls\", from: $from, to: $to, window: $window) { events } }";
    let ranges = [
        ("+262142-01-01T00:00:00Z", "+262142-12-31T23:59:59Z", "DAY"),
        (
            "-262143-01-01T00:00:00Z",
            "+262142-12-31T00:00:00Z",
            "MONTH",
        ),
        ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "HOUR"),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "MINUTE"),
    ];
    for (from, to, window) in ranges {
        let variables = json!({ "from": from, "to": to, "window": window });
        let answer = ask(&serve, &admin, usage, variables)
            .await
            .unwrap_or_else(|error| panic!("usage from {from} to {to}: {error}"));
        assert_eq!(first_error(&answer).0, Some("BAD_USER_INPUT"), "{answer}");
    }
    for query in [
        "{ events(first: 0) { nextCursor } }",
        "{ events(first: 99999999999) { nextCursor } }",
        "{ events(first: -1) { nextCursor } }",
        "{ quarantine(first: 4294967296) { nextCursor } }",
        "{ traffic(top: 4294967295) { topTypes { events } } }",
        "{ traffic(top: 99999999999) { topTypes { events } } }",
        "{ auditLog(first: 0) { action } }",
    ] {
        let answer = ask(&serve, &admin, query, json!({}))
            .await
            .unwrap_or_else(|error| panic!("{query}: {error}"));
        assert_eq!(
            first_error(&answer).0,
            Some("BAD_USER_INPUT"),
            "{query}: {answer}"
        );
    }
    for range in [
        "from=%2B262142-01-01T00:00:00Z&to=%2B262142-12-31T23:59:59Z&window=day",
        "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "from=-262143-01-01T00:00:00Z&to=%2B262142-12-31T00:00:00Z&window=month",
    ] {
        let (status, body) = export(
            &serve,
            &admin,
            &format!("/v1/usage.csv?meter=calls&{range}"),
        )
        .await
        .unwrap_or_else(|error| panic!("export {range}: {error}"));
        assert_eq!(status, 400, "{range}: {body}");
    }

    let me = ask(&serve, &admin, "{ me { scope } }", json!({}))
        .await
        .expect("still answers");
    assert_eq!(me["data"]["me"]["scope"], "ADMIN", "{me}");
    assert!(
        serve
            .child
            .try_wait()
            .expect("checks the process")
            .is_none(),
        "tally serve is still running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_neutralise_group_values_that_would_run_as_formulas() {
    let env = TestEnv::migrated().await;
    let serve = env.serve("ingest,meter,api", &[]).await;
    let (_, admin) = env.tenant_with_key(Scope::Admin).await;
    let (_, body) = graphql(
        &serve,
        &admin,
        "mutation { createMeter(input: { key: \"spend\", eventType: \"spend\", aggregation: SUM, valuePath: \"$.amount\", groupBy: [{ name: \"model\", path: \"$.model\" }] }) { key } ingest: createApiKey(scope: INGEST) { secret } }",
        json!({}),
    )
    .await;
    let ingest = body["data"]["ingest"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("creates a meter and a key: {body}"))
        .to_owned();
    // Each model's value as sent, and its cell as the CSV must show it.
    let models = [
        (
            "=HYPERLINK(\"http://evil.example\",\"open\")",
            "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"open\"\")\"",
        ),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("-7", "-7"),
        ("plain", "plain"),
    ];
    let events: Vec<Value> = models
        .iter()
        .enumerate()
        .map(|(number, (model, _))| {
            json!({ "specversion": "1.0", "id": format!("spend-{number}"), "source": "cost-test",
                    "type": "spend", "data": { "model": model, "amount": -1.5 } })
        })
        .collect();
    post_batch(&reqwest::Client::new(), &serve.base, &ingest, &events).await;

    let path = "/v1/usage.csv?meter=spend&from=2020-01-01T00:00:00Z&to=2040-01-01T00:00:00Z&window=month&group_by=model";
    let deadline = Instant::now() + Duration::from_secs(60);
    let csv = loop {
        let (status, csv) = export(&serve, &admin, path).await.expect("answers");
        assert_eq!(status, 200, "{csv}");
        if csv.lines().count() > models.len() {
            break csv;
        }
        assert!(Instant::now() < deadline, "the events never showed: {csv}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for (model, cell) in models {
        assert!(
            csv.lines()
                .any(|line| line.ends_with(&format!(",{cell},1,-1.5"))),
            "{model:?} should show as {cell:?} with the value -1.5 kept a number:\n{csv}"
        );
    }
}
