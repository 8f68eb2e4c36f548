//! Cost (security findings; see `tests/e2e/security.rs`): a request or export that would cost
//! without bound is refused before it reaches ClickHouse (checked in `system.query_log`, which
//! `scripts/services.sh` turns on), edge inputs answer BAD_USER_INPUT and the API keeps
//! answering, and CSV exports cannot smuggle formulas into a spreadsheet.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tally_api::ApiConfig;
use tally_meter::analytics::Analytics;
use tally_meter::api_key::Scope;
use tally_testkit::Namespace;
use tally_testkit::store::tenant_with_key;

use super::support::{Node, first_error};

/// Counts the rows of `system.query_log` of ClickHouse queries whose text holds `needle` (a
/// tenant id: queries carry it as a literal), leaving out these counting queries: all rows, and
/// those of finished queries (`type` 2, QueryFinish).
async fn queries_mentioning(analytics: &Analytics, needle: &str) -> (u64, u64) {
    analytics
        .client()
        .query("SYSTEM FLUSH LOGS")
        .execute()
        .await
        .expect("flushes the query log");
    analytics
        .client()
        .query(
            "SELECT count(), countIf(type = 2) FROM system.query_log
             WHERE position(query, ?) > 0 AND position(query, 'system.query_log') = 0",
        )
        .bind(needle)
        .fetch_one()
        .await
        .expect("reads the query log")
}

/// The count of `queries_mentioning` once a finished query shows: ClickHouse logs a query's
/// end after its client has the whole answer, so the first flush may come too early.
async fn settled_queries_mentioning(analytics: &Analytics, needle: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (all, finished) = queries_mentioning(analytics, needle).await;
        if finished > 0 || Instant::now() > deadline {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn six_hundred_aliased_event_pages_are_refused_before_any_clickhouse_query() {
    let namespace = Namespace::migrated().await;
    let node = Node::start(&namespace, ApiConfig::default()).await;
    let (tenant, key) = tenant_with_key(&namespace.catalog().await, Scope::Read).await;
    let tenant = tenant.to_string();
    let analytics = namespace.analytics();

    // One page runs one ClickHouse query, which the log shows, bounded by the API's deadline.
    let page = node
        .graphql(&key, "{ events(first: 1) { items { id } } }", json!({}))
        .await
        .json();
    assert_eq!(page["data"]["events"]["items"], json!([]), "{page}");
    let after_one_page = settled_queries_mentioning(&analytics, &tenant).await;
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
    let flood = node
        .graphql(&key, &format!("{{ {aliases} }}"), json!({}))
        .await
        .json();
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
        queries_mentioning(&analytics, &tenant).await.0,
        after_one_page,
        "no ClickHouse query ran for the refused request"
    );
}

#[tokio::test]
async fn exports_over_the_window_or_row_caps_are_refused_with_400_and_a_clear_message() {
    let namespace = Namespace::migrated().await;
    let node = Node::start(&namespace, ApiConfig::default()).await;
    let (tenant, admin) = tenant_with_key(&namespace.catalog().await, Scope::Admin).await;
    let tenant = tenant.to_string();
    let meter = node.create_meter(&admin).await;
    let analytics = namespace.analytics();

    // Ten years per minute: 5,260,320 windows, refused before any ClickHouse query.
    let started = Instant::now();
    let ten_years =
        "/v1/usage.csv?meter=calls&from=2016-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&window=minute";
    let refused = node.get(&admin, ten_years).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    let body = refused.json();
    let (code, message) = first_error(&body);
    assert_eq!(code, Some("BAD_USER_INPUT"));
    assert!(
        message.contains("5260320 minute windows, more than the 100000 allowed")
            && message.contains("coarser window"),
        "{message}"
    );
    assert_eq!(queries_mentioning(&analytics, &tenant).await.0, 0);

    // One minute with 100,001 users: one day by user is 100,001 rows, one more than allowed.
    // The minute starts its hour and day, so the same rows are its hour's and day's too.
    analytics
        .client()
        .query(
            "INSERT INTO rollup_writes
             SELECT ?, ?, toUInt32(1767225600), '', [concat('user-', toString(number))],
                    toUInt32(0), number, toUInt64(1), toUInt64(1), toDecimal128(1, 9),
                    toDecimal128(1, 9), toDecimal128(1, 9), toInt64(0), toUInt64(0),
                    toDecimal128(1, 9), arrayJoin(['minute', 'hour', 'day'])
             FROM (SELECT number FROM system.numbers LIMIT 100001)",
        )
        .bind(&tenant)
        .bind(&meter)
        .execute()
        .await
        .expect("writes rollups");
    let day = "meter=calls&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&window=day";
    for format in ["csv", "json"] {
        let path = format!("/v1/usage.{format}?{day}&group_by=user");
        let answer = node.get(&admin, &path).await;
        let body = answer.text();
        assert_eq!(
            answer.status,
            400,
            "{format}: {}",
            &body[..body.len().min(300)]
        );
        assert!(
            body.contains(
                "more than 100000 rows: narrow the range, use a coarser window or fewer groups"
            ),
            "{body}"
        );
    }
    let total = node.get(&admin, &format!("/v1/usage.csv?{day}")).await;
    assert_eq!(total.status, 200, "{}", total.text());
    assert!(
        total.text().contains(",100001,100001\r\n"),
        "{}",
        total.text()
    );

    // GraphQL's usage field stops at 20,000 rows.
    let usage = "{ usage(meter: \"calls\", from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", window: DAY, groupBy: [\"user\"]) { events } }";
    let answer = node.graphql(&admin, usage, json!({})).await.json();
    let (code, message) = first_error(&answer);
    assert_eq!(code, Some("BAD_USER_INPUT"), "{answer}");
    assert!(message.starts_with("more than 20000 rows"), "{message}");
}

#[tokio::test]
async fn edge_dates_windows_and_pages_answer_bad_user_input_and_the_api_keeps_answering() {
    let namespace = Namespace::migrated().await;
    let node = Node::start(&namespace, ApiConfig::default()).await;
    let (_, admin) = tenant_with_key(&namespace.catalog().await, Scope::Admin).await;
    node.create_meter(&admin).await;

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
        node.assert_refused(&admin, usage, variables, "BAD_USER_INPUT")
            .await;
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
        node.assert_refused(&admin, query, json!({}), "BAD_USER_INPUT")
            .await;
    }
    for range in [
        "from=%2B262142-01-01T00:00:00Z&to=%2B262142-12-31T23:59:59Z&window=day",
        "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "from=-262143-01-01T00:00:00Z&to=%2B262142-12-31T00:00:00Z&window=month",
    ] {
        let answer = node
            .get(&admin, &format!("/v1/usage.csv?meter=calls&{range}"))
            .await;
        assert_eq!(answer.status, 400, "{range}: {}", answer.text());
    }

    // No input above panicked a handler: the API still answers.
    let me = node
        .graphql(&admin, "{ me { scope } }", json!({}))
        .await
        .json();
    assert_eq!(me["data"]["me"]["scope"], "ADMIN", "{me}");
}

#[tokio::test]
async fn csv_exports_neutralise_group_values_that_would_run_as_formulas() {
    let namespace = Namespace::migrated().await;
    let node = Node::start(&namespace, ApiConfig::default()).await;
    let (tenant, admin) = tenant_with_key(&namespace.catalog().await, Scope::Admin).await;
    let body = node
        .graphql(
            &admin,
            "mutation { createMeter(input: { key: \"spend\", eventType: \"spend\", aggregation: SUM, valuePath: \"$.amount\", groupBy: [{ name: \"model\", path: \"$.model\" }] }) { id } }",
            json!({}),
        )
        .await
        .json();
    let meter = body["data"]["createMeter"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("creates a meter: {body}"))
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
    // One rollup per model, as the aggregator writes for one event of amount -1.5 (the minute
    // starts its hour and day, so its rows are theirs too).
    for (block, (model, _)) in models.iter().enumerate() {
        namespace
            .analytics()
            .client()
            .query(
                "INSERT INTO rollup_writes
                 SELECT ?, ?, toUInt32(1767225600), '', [?], toUInt32(0), toUInt64(?),
                        toUInt64(1), toUInt64(1), toDecimal128('-1.5', 9),
                        toDecimal128('-1.5', 9), toDecimal128('-1.5', 9), toInt64(0),
                        toUInt64(0), toDecimal128('-1.5', 9), arrayJoin(['minute', 'hour', 'day'])",
            )
            .bind(tenant.to_string())
            .bind(&meter)
            .bind(*model)
            .bind(block as u64)
            .execute()
            .await
            .expect("writes a rollup");
    }

    let path = "/v1/usage.csv?meter=spend&from=2020-01-01T00:00:00Z&to=2040-01-01T00:00:00Z&window=month&group_by=model";
    let answer = node.get(&admin, path).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let csv = answer.text();
    for (model, cell) in models {
        assert!(
            csv.lines()
                .any(|line| line.ends_with(&format!(",{cell},1,-1.5"))),
            "{model:?} should show as {cell:?} with the value -1.5 kept a number:\n{csv}"
        );
    }
}
