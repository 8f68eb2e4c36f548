//! Security tests: who may do what. A tenant's admin key can neither mint an operator's platform
//! key (through GraphQL, the web form or the catalog itself) nor raise its own limits; caps
//! bound what one tenant may define; the web UI's forms need the session's form token; failed
//! authentications are throttled per address; and the audit log records all of it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_meter::ids::TenantId;

use crate::e2e::api::{assert_error, code, graphql, graphql_body};
use crate::e2e::support::{Serve, TestEnv, eventually, memory, meter_create};

/// Posts a GraphQL query with a key that names a tenant in `X-Tally-Tenant`; returns the body.
async fn graphql_naming(serve: &Serve, key: &str, tenant: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/graphql", serve.base))
        .bearer_auth(key)
        .header("x-tally-tenant", tenant)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("a JSON body")
}

async fn platform_keys(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE scope = 'platform'")
        .fetch_one(env.catalog().await.pool())
        .await
        .expect("counts keys")
}

/// A browser without scripts: its session cookie, and the pages' form token.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Browser {
    /// Signs in with a key through the sign-in form.
    pub(crate) async fn sign_in(serve: &Serve, key: &str) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a client");
        let page = http
            .get(format!("{}/login", serve.base))
            .send()
            .await
            .expect("the sign-in page");
        let cookie = set_cookie(&page, "tally_sign_in=");
        let html = page.text().await.expect("html");
        let token = attribute_after(&html, r#"name="token" value=""#);
        let signed_in = http
            .post(format!("{}/login", serve.base))
            .header("cookie", cookie)
            .form(&[("key", key), ("token", token.as_str())])
            .send()
            .await
            .expect("signs in");
        assert_eq!(signed_in.headers()["location"], "/", "signed in");
        Self {
            session: set_cookie(&signed_in, "tally_session="),
            http,
            base: serve.base.clone(),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.session)
            .send()
            .await
            .expect("a page")
    }

    /// The form token of the session's pages: every form of the keys page (sign out, create,
    /// revoke) carries the same one.
    pub(crate) async fn form_token(&self) -> String {
        let html = self.get("/keys").await.text().await.expect("html");
        let tokens: Vec<&str> = html
            .split(r#"name="form_token" value=""#)
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(
            tokens.len() >= 3,
            "sign out, create and revoke forms: {html}"
        );
        assert!(
            tokens
                .iter()
                .all(|token| !token.is_empty() && *token == tokens[0]),
            "{tokens:?}"
        );
        tokens[0].to_owned()
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> String {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.session)
            .form(form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let answer = request.send().await.expect("an answer");
        assert_eq!(answer.status().as_u16(), 303, "form posts redirect");
        // The one-time message the redirect carries, decoded.
        let flash = set_cookie(&answer, "tally_flash=");
        let encoded = flash.trim_start_matches("tally_flash=");
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .expect("a base64 message");
        let message: Value = serde_json::from_slice(&bytes).expect("a JSON message");
        message["text"].as_str().unwrap_or_default().to_owned()
    }
}

/// The `name=value` of the first `Set-Cookie` starting with `prefix`.
fn set_cookie(response: &reqwest::Response, prefix: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(prefix))
        .and_then(|value| value.split(';').next())
        .unwrap_or_else(|| panic!("a {prefix} cookie"))
        .to_owned()
}

fn attribute_after(html: &str, marker: &str) -> String {
    html.split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{marker} in the page"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_cannot_mint_a_platform_key_anywhere() {
    let env = TestEnv::migrated().await;
    let (a, admin) = env.tenant_with_key(Scope::Admin).await;
    let (b, _) = env.tenant_with_key(Scope::Admin).await;
    let serve = env.serve("api", &[]).await;

    // GraphQL.
    let body = graphql_body(
        &serve,
        &admin,
        "mutation { createApiKey(scope: PLATFORM) { secret } }",
    )
    .await;
    assert_eq!(code(&body), Some("FORBIDDEN"), "{body}");
    assert!(body["data"].is_null() || body["data"]["createApiKey"].is_null());

    // The web form, posted with everything a real form of the session carries.
    let browser = Browser::sign_in(&serve, &admin).await;
    let token = browser.form_token().await;
    let message = browser
        .post(
            "/keys",
            &[("scope", "PLATFORM"), ("form_token", &token)],
            None,
        )
        .await;
    assert!(message.contains("platform"), "{message}");
    assert_eq!(platform_keys(&env).await, 0, "no platform key was made");

    // So nothing of tenant B's is reachable with tenant A's keys.
    let body = graphql_body(&serve, &admin, "{ apiKeys { id } }").await;
    assert_eq!(body["data"]["apiKeys"].as_array().map(Vec::len), Some(1));
    let leak = graphql_naming(&serve, &admin, &b.to_string(), "{ apiKeys { id } }").await;
    assert_eq!(code(&leak), Some("FORBIDDEN"), "{leak}");

    // The catalog itself refuses a platform key that the operator did not issue.
    let refused = sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, scope, prefix, secret_hash, issued_by)
         VALUES (gen_random_uuid(), $1, 'platform', 'tly_x', 'x', 'key:someone')",
    )
    .bind(a)
    .execute(env.catalog().await.pool())
    .await
    .expect_err("the catalog refuses a platform key issued by a tenant's key");
    assert!(
        refused
            .to_string()
            .contains("api_keys_platform_by_operator"),
        "{refused}"
    );

    // The operator still can.
    let a_name = a.to_string();
    env.run_ok(&["key", "create", "--tenant", &a_name, "--scope", "platform"])
        .await;
    assert_eq!(platform_keys(&env).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_may_lower_its_limits_but_never_raise_them() {
    let env = TestEnv::migrated().await;
    let (tenant, admin) = env.tenant_with_key(Scope::Admin).await;
    let serve = env
        .serve(
            "api",
            &[
                ("TALLY__INGEST__DEFAULT_RATE_PER_SEC", "100"),
                ("TALLY__INGEST__DEFAULT_BURST", "200"),
            ],
        )
        .await;
    let set = async |rate: u64, burst: u64| {
        graphql(
            &serve,
            &admin,
            "mutation($rate: Int!, $burst: Int!) { setQuota(input: { ratePerSec: $rate, burst: $burst }) { ratePerSec burst grantedRatePerSec } }",
            json!({ "rate": rate, "burst": burst }),
        )
        .await
        .1
    };
    // Above the defaults, which are the grant of a tenant the operator never set limits for.
    let raised = set(1_000_000, 2_000_000).await;
    assert_error(&raised, "FORBIDDEN", "granted 100 events/s");
    let lowered = set(10, 20).await;
    assert_eq!(lowered["data"]["setQuota"]["ratePerSec"], 10, "{lowered}");
    assert_eq!(lowered["data"]["setQuota"]["grantedRatePerSec"], 100);
    // Back up to the grant is fine; past it is not, whatever the earlier value.
    assert_eq!(set(100, 200).await["data"]["setQuota"]["ratePerSec"], 100);
    assert_eq!(code(&set(101, 200).await), Some("FORBIDDEN"));
    assert_eq!(code(&set(100, 201).await), Some("FORBIDDEN"));

    // The operator raises the grant; then the tenant may go up to it.
    let name = tenant.to_string();
    env.run_ok(&[
        "quota", "set", "--tenant", &name, "--rate", "5000", "--burst", "9000",
    ])
    .await;
    assert_eq!(
        set(4000, 8000).await["data"]["setQuota"]["ratePerSec"],
        4000
    );
    assert_eq!(code(&set(6000, 8000).await), Some("FORBIDDEN"));
    // The catalog refuses limits above the grant, whatever writes them.
    let refused = sqlx::query("UPDATE quotas SET rate_per_sec = 99999 WHERE tenant_id = $1")
        .bind(tenant)
        .execute(env.catalog().await.pool())
        .await
        .expect_err("limits above the grant");
    assert!(
        refused.to_string().contains("quotas_within_grant"),
        "{refused}"
    );

    // A platform key is the operator's: it raises the grant.
    let platform = env
        .run_ok(&["key", "create", "--tenant", &name, "--scope", "platform"])
        .await;
    let raised = graphql_naming(
        &serve,
        platform.trim(),
        &name,
        "mutation { setQuota(input: { ratePerSec: 7000, burst: 14000 }) { ratePerSec grantedRatePerSec } }",
    )
    .await;
    assert_eq!(
        raised["data"]["setQuota"]["grantedRatePerSec"], 7000,
        "{raised}"
    );
}

/// Inserts `count` meters for a tenant straight into the catalog.
async fn fill_meters(env: &TestEnv, tenant: TenantId, count: i64) {
    sqlx::query(
        "INSERT INTO meters (id, tenant_id, key, event_type, aggregation, allowed_lateness_secs)
         SELECT gen_random_uuid(), $1, 'filler_' || n, 'filler', 'COUNT', 0
         FROM generate_series(1, $2) AS n",
    )
    .bind(tenant)
    .bind(count)
    .execute(env.catalog().await.pool())
    .await
    .expect("inserts meters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_refuse_the_1001st_meter_and_other_definitions_past_their_caps() {
    let env = TestEnv::migrated().await;
    let (tenant, admin) = env.tenant_with_key(Scope::Admin).await;
    let serve = env
        .serve("api", &[("TALLY__CAPS__KEYS_PER_TENANT", "3")])
        .await;
    fill_meters(&env, tenant, 999).await;
    let create = async |key: &str, groups: usize| {
        let group_by: Vec<Value> = (0..groups)
            .map(|n| json!({ "name": format!("g{n}"), "path": format!("$.g{n}") }))
            .collect();
        let input =
            json!({ "key": key, "eventType": "call", "aggregation": "COUNT", "groupBy": group_by });
        graphql(
            &serve,
            &admin,
            "mutation($input: MeterInput!) { createMeter(input: $input) { key } }",
            json!({ "input": input }),
        )
        .await
        .1
    };
    let too_many_groups = create("wide", 11).await;
    assert_eq!(
        code(&too_many_groups),
        Some("LIMIT_REACHED"),
        "{too_many_groups}"
    );
    let thousandth = create("thousandth", 10).await;
    assert_eq!(
        thousandth["data"]["createMeter"]["key"], "thousandth",
        "{thousandth}"
    );
    let refused = create("one_too_many", 0).await;
    assert_error(&refused, "LIMIT_REACHED", "caps.meters_per_tenant = 1000");
    // The operator's command line holds to the same cap.
    let name = tenant.to_string();
    let create = meter_create(&name, "cli", "call", "count", &[]);
    env.run_refused(&create, "meters_per_tenant").await;

    // Keys: the admin key and two more are the cap of 3 set for this server.
    let create_read_key = "mutation { createApiKey(scope: READ) { secret } }";
    for _ in 0..2 {
        let body = graphql_body(&serve, &admin, create_read_key).await;
        assert!(body["data"]["createApiKey"]["secret"].is_string(), "{body}");
    }
    let body = graphql_body(&serve, &admin, create_read_key).await;
    assert_eq!(code(&body), Some("LIMIT_REACHED"), "{body}");

    // Event types, through the command line with a cap of 2.
    for (event_type, allowed) in [("a", true), ("b", true), ("a", true), ("c", false)] {
        let output = crate::e2e::support::run_bounded(
            env.tally()
                .env("TALLY__CAPS__EVENT_TYPES_PER_TENANT", "2")
                .args(["event-type", "register", "--tenant", &name, event_type]),
        )
        .await;
        assert_eq!(
            output.status.success(),
            allowed,
            "{event_type}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_forms_need_the_session_s_token_and_pages_are_never_cached() {
    let env = TestEnv::migrated().await;
    let (tenant, admin) = env.tenant_with_key(Scope::Admin).await;
    let serve = env.serve("api", &[]).await;
    let browser = Browser::sign_in(&serve, &admin).await;
    let page = browser.get("/keys").await;
    assert_eq!(
        page.headers()["cache-control"],
        "no-store",
        "a page that may show a secret is never cached"
    );
    let token = browser.form_token().await;
    let meters = || async {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM meters WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(env.catalog().await.pool())
            .await
            .expect("counts");
        count
    };
    // Without the token, with a forged one, or from another origin: refused, nothing changed.
    let forged = browser
        .post("/meters", &meter_form("forged", "")[..3], None)
        .await;
    assert!(forged.contains("another site"), "{forged}");
    let wrong = browser
        .post("/meters", &meter_form("wrong", "0123456789abcdef"), None)
        .await;
    assert!(wrong.contains("another site"), "{wrong}");
    let elsewhere = browser
        .post(
            "/meters",
            &meter_form("elsewhere", &token),
            Some("https://evil.example"),
        )
        .await;
    assert!(elsewhere.contains("another site"), "{elsewhere}");
    let sign_out = browser.post("/logout", &[], None).await;
    assert!(sign_out.contains("another site"), "{sign_out}");
    assert_eq!(meters().await, 0);
    // The page's own form, from the page's own origin.
    let origin = serve.base.clone();
    let created = browser
        .post("/meters", &meter_form("real", &token), Some(&origin))
        .await;
    assert!(created.contains("Meter real created"), "{created}");
    assert_eq!(meters().await, 1);
}

/// The meters page's create form, with a form token.
fn meter_form<'a>(key: &'a str, token: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("key", key),
        ("event_type", "call"),
        ("aggregation", "COUNT"),
        ("form_token", token),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_throttled_per_address_and_never_grow_memory() {
    let env = TestEnv::migrated().await;
    let (_, admin) = env.tenant_with_key(Scope::Admin).await;
    let serve = env.serve("api", &[]).await;
    let http = reqwest::Client::new();
    let query = json!({ "query": "{ me { tenantId } }" });
    let before = memory(&serve, "VmRSS");
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut retry_after = None;
    // 1000 unique bearer values of 300 KB each.
    for number in 0..1000_u32 {
        let bearer = format!("{number:06}{}", "k".repeat(300 * 1024));
        let answer = http
            .post(format!("{}/graphql", serve.base))
            .header("authorization", format!("Bearer {bearer}"))
            .json(&query)
            .send()
            .await
            .expect("an answer");
        let status = answer.status().as_u16();
        if status == 429 {
            retry_after = answer.headers().get("retry-after").cloned();
        }
        *statuses.entry(status).or_default() += 1;
    }
    assert!(started.elapsed() < Duration::from_secs(120));
    let grown = memory(&serve, "VmRSS").saturating_sub(before);
    assert!(
        grown < 50 * 1024 * 1024,
        "memory grew by {grown} bytes for 1000 bad keys"
    );
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        [401, 429],
        "{statuses:?}"
    );
    assert!(
        statuses[&401] >= 20 && statuses[&429] >= 500,
        "a burst of failures, then mostly 429: {statuses:?}"
    );
    assert!(retry_after.is_some(), "429 says when to retry");
    // A good key from the same address is refused only while the address is throttled;
    // another address is not throttled (the failures are per address, not global).
    let from_other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("a client");
    let good = from_other
        .post(format!("{}/graphql", serve.base))
        .bearer_auth(&admin)
        .json(&query)
        .send()
        .await
        .expect("an answer");
    assert_eq!(good.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_changes_sessions_platform_access_and_failures() {
    let env = TestEnv::migrated().await;
    let (tenant, admin) = env.tenant_with_key(Scope::Admin).await;
    let name = tenant.to_string();
    let serve = env.serve("api", &[]).await;
    let body = graphql_body(&serve, &admin, "mutation { createMeter(input: { key: \"calls\", eventType: \"call\", aggregation: COUNT }) { key } deleteMeter(key: \"calls\") }").await;
    assert_eq!(body["data"]["deleteMeter"], true, "{body}");
    env.run_ok(&["event-type", "register", "--tenant", &name, "call"])
        .await;
    env.run_ok(&["event-type", "unregister", "--tenant", &name, "call"])
        .await;
    env.run_ok(&["tenant", "suspend", &name]).await;
    env.run_ok(&["tenant", "activate", &name]).await;
    let browser = Browser::sign_in(&serve, &admin).await;
    let token = browser.form_token().await;
    browser
        .post("/logout", &[("form_token", token.as_str())], None)
        .await;
    let platform = env
        .run_ok(&["key", "create", "--tenant", &name, "--scope", "platform"])
        .await;
    let as_operator = graphql_naming(&serve, platform.trim(), &name, "{ meters { key } }").await;
    assert!(as_operator["data"]["meters"].is_array(), "{as_operator}");
    // A revoked key of the tenant fails, and so does a key of no tenant.
    let read = graphql_body(
        &serve,
        &admin,
        "mutation { createApiKey(scope: READ) { secret key { id } } }",
    )
    .await;
    let read_secret = read["data"]["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let read_id = read["data"]["createApiKey"]["key"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    graphql(
        &serve,
        &admin,
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        json!({ "id": read_id }),
    )
    .await;
    let (status, _) = graphql(&serve, &read_secret, "{ me { tenantId } }", json!({})).await;
    assert_eq!(status, 401);
    let (status, _) = graphql(&serve, "not-a-key", "{ me { tenantId } }", json!({})).await;
    assert_eq!(status, 401);

    // Failures are written in batches, every 10 s.
    let actions = eventually(
        Duration::from_secs(40),
        Duration::from_secs(1),
        async || {
            let body = graphql_body(
                &serve,
                &admin,
                "{ auditLog(first: 100) { actor action client newValue } }",
            )
            .await;
            let entries = body["data"]["auditLog"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if entries.iter().any(|entry| entry["action"] == "auth.failed") {
                Ok(entries)
            } else {
                Err(format!("no auth.failed entry: {body}"))
            }
        },
    )
    .await;
    let has = |action: &str| actions.iter().any(|entry| entry["action"] == action);
    for action in [
        "meter.created",
        "meter.deleted",
        "event_type.registered",
        "event_type.unregistered",
        "tenant.suspended",
        "tenant.activated",
        "session.signed_in",
        "session.signed_out",
        "platform.access",
        "key.created",
        "key.revoked",
        "auth.failed",
    ] {
        assert!(has(action), "{action} missing from {actions:#?}");
    }
    let platform_entry = actions
        .iter()
        .find(|entry| entry["action"] == "platform.access")
        .expect("a platform entry");
    assert!(
        platform_entry["actor"]
            .as_str()
            .unwrap_or_default()
            .starts_with("platform:"),
        "a platform key is flagged as such: {platform_entry}"
    );
    assert_eq!(platform_entry["client"], "127.0.0.1");

    // Exports for admins, and the operator's view with failures of no tenant.
    let csv = reqwest::Client::new()
        .get(format!("{}/v1/audit.csv?limit=100", serve.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("an answer")
        .text()
        .await
        .expect("csv");
    assert!(
        csv.starts_with("at,actor,action,client,old_value,new_value\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("meter.deleted") && csv.contains("auth.failed"),
        "{csv}"
    );
    let operator_view = env
        .run_ok(&["audit", "list", "--json", "--limit", "500"])
        .await;
    assert!(
        operator_view.lines().any(|line| {
            let entry: Value = serde_json::from_str(line).expect("json lines");
            entry["action"] == "auth.failed" && entry["tenant_id"].is_null()
        }),
        "{operator_view}"
    );
}
