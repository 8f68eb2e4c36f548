//! The web UI end to end: headless Chromium, driven through chromedriver, signs in as tenant
//! A, opens every page, creates and deletes a meter, sees posted events in its chart, edits
//! the quota, creates and revokes keys, and never sees anything of tenant B. Each page's
//! screenshot is written to `$CARGO_TARGET_TMPDIR/web-screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::catalog::{api_keys, tenants};
use tally_meter::tenant::TenantRef;
use tokio::process::{Child, Command};
use uuid::Uuid;

use super::api::{graphql, graphql_body};
use super::meter_load::post_batch;
use super::support::{Serve, TestEnv, eventually, eventually_holds, free_port, meter_create};

/// How long a page may take to show what the test waits for (the aggregator's lag included).
const SETTLE: Duration = Duration::from_secs(30);

/// chromedriver, with the Chromium profile its session uses.
pub(super) struct Driver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Driver {
    pub(super) fn start() -> Self {
        let port = free_port();
        let child = Command::new(
            std::env::var("TALLY_TEST_CHROMEDRIVER").unwrap_or("/usr/bin/chromedriver".into()),
        )
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starts chromedriver (scripts/install.sh installs it)");
        Self {
            child,
            port,
            profile: std::env::temp_dir().join(format!("tally-chromium-{}", Uuid::new_v4())),
        }
    }

    /// Ends the browser session, then chromedriver.
    pub(super) async fn stop(mut self, browser: Browser) {
        let _ = browser.client.close().await;
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A headless Chromium session on the UI.
#[derive(Clone)]
pub(super) struct Browser {
    pub(super) client: Client,
    base: String,
    shots: PathBuf,
}

impl Browser {
    /// Connects to chromedriver; screenshots go to the `shots` folder of the screenshot folder.
    pub(super) async fn connect(driver: &Driver, base: &str, shots: &str) -> Self {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("TALLY_TEST_CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", driver.profile.display()),
                ],
            }),
        );
        let client = eventually(
            Duration::from_secs(30),
            Duration::from_millis(200),
            async || {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities.clone())
                    .connect(&format!("http://127.0.0.1:{}", driver.port))
                    .await
                    .map_err(|error| format!("no browser session: {error}"))
            },
        )
        .await;
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("web-screenshots")
            .join(shots);
        std::fs::create_dir_all(&shots).expect("creates the screenshot directory");
        Self {
            client,
            base: base.to_owned(),
            shots,
        }
    }

    pub(super) async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("the page loads");
    }

    pub(super) async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("a url")
            .path()
            .to_owned()
    }

    /// The page's visible text. A page that is just being replaced (a redirect after a form,
    /// a hydrated page navigating) is read again.
    pub(super) async fn text(&self) -> String {
        let mut attempts = 0;
        loop {
            let body = self.client.find(Locator::Css("body")).await;
            match body {
                Ok(body) => match body.text().await {
                    Ok(text) => return text,
                    Err(error) if attempts == 10 => panic!("the page's text: {error}"),
                    Err(_) => {}
                },
                Err(error) if attempts == 10 => panic!("the page's body: {error}"),
                Err(_) => {}
            }
            attempts += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asserts that the page's visible text holds every one of `texts`.
    pub(super) async fn assert_shows(&self, texts: &[&str]) {
        let text = self.text().await;
        for expected in texts {
            assert!(text.contains(expected), "{expected:?} is not shown: {text}");
        }
    }

    /// Runs a script in the page and returns what it returned.
    pub(super) async fn script(&self, code: &str) -> Value {
        self.client
            .execute(code, vec![])
            .await
            .expect("the script runs")
    }

    /// Clicks the link `css` of a hydrated page and waits until the page shows every one of
    /// `texts`; insists that the app moved there in place, in the same document.
    pub(super) async fn navigate_in_place(&self, css: &str, texts: &[&str]) {
        self.script("window.tallyMarker = 'same document'; return null")
            .await;
        self.click(css).await;
        eventually(SETTLE, Duration::from_millis(100), async || {
            // While the page's data loads, what it shows may not be there yet.
            let shown = self.text().await;
            if texts.iter().all(|text| shown.contains(text)) {
                Ok(())
            } else {
                Err(format!("{texts:?} never showed after {css}: {shown}"))
            }
        })
        .await;
        assert_eq!(
            self.script("return window.tallyMarker || null").await,
            "same document",
            "navigation stayed in the page"
        );
    }

    pub(super) async fn source(&self) -> String {
        self.client.source().await.expect("the page source")
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.expect(css);
        field.clear().await.expect("clears the field");
        field.send_keys(value).await.expect("types into the field");
    }

    async fn choose(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .select_by_value(value)
            .await
            .expect("selects the option");
    }

    pub(super) async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .expect("clicks");
    }

    /// Clicks a button that submits a form and waits until the next page has loaded.
    async fn submit(&self, css: &str) {
        let old = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("a page");
        self.click(css).await;
        let clicked = Instant::now();
        // The old document's root goes stale once the browser has left it.
        eventually_holds(
            SETTLE,
            Duration::from_millis(50),
            &format!("{css} did not lead to a new page"),
            async || old.tag_name().await.is_err(),
        )
        .await;
        eventually_holds(
            SETTLE.saturating_sub(clicked.elapsed()),
            Duration::from_millis(50),
            &format!("the page after {css} did not load"),
            async || {
                self.client
                    .execute("return document.readyState", vec![])
                    .await
                    .expect("the page's state")
                    == "complete"
            },
        )
        .await;
    }

    async fn value(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .prop("value")
            .await
            .expect("a value")
            .unwrap_or_default()
    }

    pub(super) async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writes the screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    /// Reloads `path` until its text satisfies `ready`; returns that text.
    async fn wait_for_text(&self, path: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
        eventually(SETTLE, Duration::from_millis(500), async || {
            self.open(path).await;
            let text = self.text().await;
            if ready(&text) {
                Ok(text)
            } else {
                Err(format!(
                    "{path} did not show {what} within {SETTLE:?}; it shows:\n{text}"
                ))
            }
        })
        .await
    }

    pub(super) async fn sign_in(&self, key: &str) {
        self.open("/login").await;
        self.fill("#key", key).await;
        self.submit("form[action='/login'] button").await;
    }
}

/// What the browser must never show while tenant A is signed in.
struct Secrets {
    tenant: String,
    meter: String,
    event_type: String,
}

impl Secrets {
    fn assert_absent(&self, page: &str, source: &str) {
        for secret in [&self.tenant, &self.meter, &self.event_type] {
            assert!(
                !source.contains(secret.as_str()),
                "{page} shows tenant B's {secret:?}"
            );
        }
    }
}

fn event(id: &str, event_type: &str, data: Value) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": "web-test", "type": event_type,
        "time": chrono::Utc::now().to_rfc3339(), "data": data,
    })
}

pub(super) async fn tenant_name(env: &TestEnv, id: tally_meter::ids::TenantId) -> String {
    tenants::find(&env.catalog().await, &TenantRef::Id(id))
        .await
        .expect("the tenant exists")
        .name
        .to_string()
}

/// Fetches the sign-in page with `http`; returns the token cookie it sets (`name=value`) and
/// the token in its form.
pub(super) async fn sign_in_form(http: &reqwest::Client, serve: &Serve) -> (String, String) {
    let form = http
        .get(format!("{}/login", serve.base))
        .send()
        .await
        .expect("the sign-in page");
    let token_cookie = first_cookie(&form);
    let html = form.text().await.expect("html");
    let token = html
        .split(r#"name="token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's token")
        .to_owned();
    (token_cookie, token)
}

/// The `name=value` of the response's first `Set-Cookie`.
pub(super) fn first_cookie(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned()
}

#[tokio::test]
async fn a_tenant_browses_every_page_without_scripts_and_never_sees_another_tenant() {
    browse(false).await;
}

#[tokio::test]
async fn with_the_browser_bundle_pages_hydrate_and_navigate_in_place() {
    if std::env::var_os("TALLY_TEST_WEB_PKG").is_none() {
        eprintln!("no browser bundle (TALLY_TEST_WEB_PKG): scripts/web.sh could not build one");
        return;
    }
    browse(true).await;
}

/// Tenant B with a meter and events, tenant A with keys, and A's browser session, served with
/// the browser bundle or without any scripts.
async fn browse(hydrated: bool) {
    let env = TestEnv::migrated().await;
    let (a, a_admin) = env.tenant_with_key(Scope::Admin).await;
    let a_ingest = env.key_for(a, Scope::Ingest).await;
    let (b, _) = env.tenant_with_key(Scope::Admin).await;
    let b_ingest = env.key_for(b, Scope::Ingest).await;
    let secrets = Secrets {
        tenant: tenant_name(&env, b).await,
        meter: "zeta_orders".into(),
        event_type: "zeta.order.placed".into(),
    };
    env.run_ok(&meter_create(
        &secrets.tenant,
        &secrets.meter,
        &secrets.event_type,
        "count",
        &[],
    ))
    .await;
    let without_bundle = [("TALLY__WEB__PKG_DIR", "")];
    let serve = env
        .serve(
            "ingest,meter,api",
            if hydrated { &[] } else { &without_bundle },
        )
        .await;
    let http = reqwest::Client::new();
    let b_events: Vec<Value> = (0..37)
        .map(|n| event(&format!("b-{n}"), &secrets.event_type, json!({})))
        .collect();
    post_batch(&http, &serve.base, &b_ingest, &b_events).await;

    if hydrated {
        bundle_is_gzipped_and_revalidated(&serve).await;
    }
    let a_name = tenant_name(&env, a).await;
    let driver = Driver::start();
    let shots = if hydrated { "hydrated" } else { "" };
    let browser = Browser::connect(&driver, &serve.base, shots).await;
    let session = browser.clone();
    let outcome = tokio::spawn(async move {
        scenario(
            &session, &serve, &a_admin, &a_ingest, &a_name, &secrets, hydrated,
        )
        .await;
    })
    .await;
    driver.stop(browser).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

async fn scenario(
    browser: &Browser,
    serve: &Serve,
    admin: &str,
    ingest: &str,
    tenant: &str,
    secrets: &Secrets,
    hydrated: bool,
) {
    // Signed out, every page leads to the sign-in form.
    browser.open("/meters").await;
    assert_eq!(browser.path().await, "/login");
    browser.shot("01-sign-in").await;
    browser.sign_in("tly_not-a-real-key").await;
    assert!(browser.text().await.contains("That key is not valid"));
    browser.sign_in(ingest).await;
    assert!(browser.text().await.contains("That is an ingest key"));

    browser.sign_in(admin).await;
    assert_eq!(browser.path().await, "/");
    browser.assert_shows(&["Overview", tenant]).await;

    if hydrated {
        hydration_takes_over(browser).await;
    } else {
        let scripts = browser
            .client
            .find_all(Locator::Css("script[src], script[type='module']"))
            .await
            .expect("a query");
        assert!(scripts.is_empty(), "the page has no scripts to run");
    }

    // Meters: empty, a refused form keeps what was typed, then a meter is created.
    browser.open("/meters").await;
    assert!(browser.text().await.contains("No meters yet"));
    browser.fill("#meter-key", "Bad Key").await;
    browser.fill("#meter-type", "llm.call").await;
    browser.click("form[action='/meters'] button").await;
    // The browser's own pattern check stops the form: nothing was posted.
    assert_eq!(browser.path().await, "/meters");
    browser.fill("#meter-key", "tokens").await;
    browser.choose("#meter-aggregation", "SUM").await;
    browser.fill("#meter-value", "$.tokens").await;
    browser.fill("#meter-groups", "model").await;
    browser.submit("form[action='/meters'] button").await;
    browser
        .assert_shows(&["Group by entries are name=path"])
        .await;
    assert_eq!(
        browser.value("#meter-key").await,
        "tokens",
        "the form is filled again"
    );
    browser.fill("#meter-groups", "model=$.model").await;
    browser.submit("form[action='/meters'] button").await;
    browser
        .assert_shows(&["Meter tokens created.", "$.tokens", "model=$.model"])
        .await;
    browser.shot("03-meters").await;

    // Events posted now show in the meter's chart and usage table, and on the overview.
    let http = reqwest::Client::new();
    let events: Vec<Value> = (1..=30)
        .map(|n| {
            let model = if n % 2 == 0 { "large" } else { "small" };
            event(
                &format!("a-{n}"),
                "llm.call",
                json!({ "tokens": n, "model": model }),
            )
        })
        .collect();
    post_batch(&http, &serve.base, ingest, &events).await;
    let refused = http
        .post(format!("{}/v1/events", serve.base))
        .bearer_auth(ingest)
        .json(&json!([{ "specversion": "0.3", "id": "broken-1", "source": "web-test", "type": "llm.call" }]))
        .send()
        .await
        .expect("ingest answers");
    assert_eq!(refused.status().as_u16(), 422);

    let text = browser
        .wait_for_text("/meters/tokens", "the posted events", |text| {
            text.contains("30 events in the last hour")
        })
        .await;
    assert!(
        text.contains("Last hour") && text.contains("Usage"),
        "{text}"
    );
    let chart = browser.source().await;
    assert!(
        chart.contains("<svg")
            && chart.contains("SUM per minute over the last hour, from 30 events")
    );
    browser.shot("04-meter").await;
    if hydrated {
        wait_until_hydrated(browser, "/meters/tokens").await;
    }
    // Split by model over the last hour: the values add up to 1 + 2 + … + 30.
    browser
        .open("/meters/tokens?hours=1&window=HOUR&group_by=model")
        .await;
    let mut total = Decimal::ZERO;
    for cell in browser
        .client
        .find_all(Locator::Css("table tbody tr td:last-child"))
        .await
        .expect("usage rows")
    {
        total += Decimal::from_str(&cell.text().await.expect("a value")).expect("a number");
    }
    assert_eq!(total, Decimal::from(465));
    browser.assert_shows(&["large", "small"]).await;

    let text = browser
        .wait_for_text("/", "the accepted and rejected events", |text| {
            text.contains("llm.call") && !text.contains("Rejected\n0\n")
        })
        .await;
    assert!(text.contains("Events per minute"), "{text}");
    browser.shot("02-overview").await;
    secrets.assert_absent("the overview", &browser.source().await);

    // Quarantine: the refused event with its reason and payload.
    let text = browser
        .wait_for_text("/quarantine", "the refused event", |text| {
            text.contains("broken-1")
        })
        .await;
    assert!(text.contains("specversion"), "{text}");
    browser.click("details summary").await;
    let text = browser.text().await;
    assert!(
        text.contains("\"specversion\": \"0.3\""),
        "the payload, indented: {text}"
    );
    browser.shot("05-quarantine").await;
    secrets.assert_absent("quarantine", &browser.source().await);

    // Quota: defaults, then limits of the tenant's own with its consumption marked.
    browser.open("/quota").await;
    assert!(browser.text().await.contains("default limits"));
    browser.fill("#quota-rate", "500").await;
    browser.fill("#quota-burst", "").await;
    browser.fill("#quota-monthly", "40").await;
    browser.choose("#quota-mode", "SOFT").await;
    browser.submit("form[action='/quota'] button").await;
    browser
        .assert_shows(&["Quota saved.", "1,000 events", "of 40 events"])
        .await;
    browser.shot("06-quota").await;

    // Keys: a new read key is shown once; the ingest key is revoked.
    browser.open("/keys").await;
    browser.choose("#key-scope", "READ").await;
    browser.submit("form[action='/keys'] button").await;
    let read_key = browser.value("#new-secret").await;
    assert!(browser.text().await.contains("you are signed in with it"));
    assert!(
        read_key.starts_with("tly_"),
        "the new key is shown: {read_key:?}"
    );
    browser.open("/keys").await;
    assert!(
        !browser.source().await.contains(&read_key),
        "the secret is shown only once"
    );
    let ingest_prefix = &ingest[..12];
    browser
        .submit(&format!("button[aria-label='Revoke key {ingest_prefix}…']"))
        .await;
    let text = browser.text().await;
    assert!(
        text.contains(&format!("Key {ingest_prefix}… revoked")),
        "{text}"
    );
    let row = browser
        .client
        .find(Locator::XPath(&format!(
            "//tr[td/code[text()='{ingest_prefix}…']]"
        )))
        .await
        .expect("the revoked key's row")
        .text()
        .await
        .expect("its text");
    assert!(row.contains("revoked"), "{row}");
    browser.shot("07-keys").await;
    secrets.assert_absent("the keys page", &browser.source().await);

    // The meter is deleted.
    browser.open("/meters").await;
    browser
        .submit("button[aria-label='Delete meter tokens']")
        .await;
    browser
        .assert_shows(&["Meter tokens deleted.", "No meters yet"])
        .await;
    secrets.assert_absent("the meters page", &browser.source().await);

    // Tenant B's meter is not there for A, even by its address.
    browser.open(&format!("/meters/{}", secrets.meter)).await;
    let source = browser.source().await;
    assert!(!source.contains(&secrets.event_type) && !source.contains(&secrets.tenant));
    // Random tokens, nonces and asset hashes may hold the digits "37": look for the number.
    assert!(
        !contains_number(&source, "37"),
        "no figure of tenant B: {source}"
    );

    // Sign out; the read key sees everything and may change nothing.
    browser.submit("form[action='/logout'] button").await;
    assert!(browser.text().await.contains("You are signed out."));
    browser.open("/keys").await;
    assert_eq!(browser.path().await, "/login");
    browser.sign_in(&read_key).await;
    browser.open("/meters").await;
    let text = browser.text().await;
    assert!(
        text.contains("read key") && !text.contains("Create a meter"),
        "{text}"
    );
    assert!(
        browser
            .client
            .find_all(Locator::Css("form[action='/meters']"))
            .await
            .expect("a query")
            .is_empty()
    );
    browser.shot("08-meters-read-key").await;

    if hydrated {
        // The key goes while its page is open: the next page the browser loads in place
        // says so instead of failing silently.
        let keys = graphql_body(serve, admin, "{ apiKeys { id prefix } }").await;
        let read_id = keys["data"]["apiKeys"]
            .as_array()
            .and_then(|keys| {
                keys.iter()
                    .find(|key| read_key.starts_with(key["prefix"].as_str().unwrap_or("-")))
            })
            .map(|key| key["id"].clone())
            .expect("the read key is listed");
        let (_, revoked) = graphql(
            serve,
            admin,
            "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
            json!({ "id": read_id }),
        )
        .await;
        assert!(revoked["errors"].is_null(), "{revoked}");
        browser.click("nav a[href='/quota']").await;
        eventually_holds(
            SETTLE,
            Duration::from_millis(100),
            "the ended session was not reported",
            async || {
                browser
                    .text()
                    .await
                    .contains("Your session has ended: sign in again.")
            },
        )
        .await;
        browser.shot("09-session-ended").await;
        browser.submit("a[href='/login']").await;
        assert_eq!(browser.path().await, "/login");
        return;
    }

    // On a phone-sized screen the same page still fits.
    browser
        .client
        .set_window_size(400, 860)
        .await
        .expect("resizes the window");
    browser.open("/").await;
    let overflow = browser
        .script("return document.documentElement.scrollWidth > window.innerWidth")
        .await;
    assert_eq!(
        overflow, false,
        "the overview scrolls sideways on a narrow screen"
    );
    browser.shot("09-overview-narrow").await;
}

/// With the browser bundle, every page hydrates (the app marks the document once hydration
/// finished without a panic), and the navigation then moves between pages in place, loading
/// their data through the server functions.
async fn hydration_takes_over(browser: &Browser) {
    for page in ["/quota", "/meters", "/quarantine", "/keys", "/"] {
        browser.open(page).await;
        wait_until_hydrated(browser, page).await;
    }
    browser
        .navigate_in_place("nav a[href='/quota']", &["This month", "Rate"])
        .await;
    assert_eq!(browser.path().await, "/quota");
}

/// The bundle comes gzipped with an entity tag, and a revalidation gets 304 without a body.
async fn bundle_is_gzipped_and_revalidated(serve: &Serve) {
    let url = format!("{}/pkg/tally-web_bg.wasm", serve.base);
    let http = reqwest::Client::new();
    let first = http.get(&url).send().await.expect("an answer");
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(first.headers()["content-encoding"], "gzip");
    let etag = first.headers()["etag"].clone();
    let again = http
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .await
        .expect("an answer");
    assert_eq!(again.status().as_u16(), 304);
}

pub(super) async fn wait_until_hydrated(browser: &Browser, page: &str) {
    eventually_holds(
        SETTLE,
        Duration::from_millis(100),
        &format!("{page} never hydrated"),
        async || {
            browser
                .script("return document.documentElement.hasAttribute('data-hydrated')")
                .await
                == true
        },
    )
    .await;
}

/// The cookie a sign-in sets, and what a revoked key does to the session.
#[tokio::test]
async fn sessions_are_strict_http_only_cookies_that_end_with_their_key() {
    let env = TestEnv::migrated().await;
    let (a, admin) = env.tenant_with_key(Scope::Admin).await;
    // A small per-key rate, which the pages share with the API.
    let serve = env
        .serve(
            "api",
            &[
                ("TALLY__API__RATE_PER_KEY_PER_SEC", "1"),
                ("TALLY__API__BURST_PER_KEY", "3"),
            ],
        )
        .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    // The sign-in page hands out the token its form sends back, in a cookie and in the form.
    let (token_cookie, token) = sign_in_form(&http, &serve).await;
    assert!(token_cookie.starts_with("tally_sign_in="), "{token_cookie}");
    assert_eq!(token_cookie, format!("tally_sign_in={token}"));
    let post = |proto: &'static str, token: &str, cookie: &str| {
        http.post(format!("{}/login", serve.base))
            .header("x-forwarded-proto", proto)
            .header("cookie", cookie.to_owned())
            .form(&[("key", admin.as_str()), ("token", token)])
            .send()
    };
    let sign_in = |proto: &'static str| post(proto, &token, &token_cookie);
    // A form posted from elsewhere has neither the token nor the SameSite=Strict cookie.
    for (token, cookie) in [
        ("", ""),
        (token.as_str(), ""),
        ("forged", token_cookie.as_str()),
    ] {
        let forged = post("http", token, cookie).await.expect("an answer");
        assert_eq!(forged.status().as_u16(), 303);
        assert_eq!(forged.headers()["location"], "/login");
        assert!(
            forged
                .headers()
                .get_all("set-cookie")
                .iter()
                .all(|value| !value
                    .to_str()
                    .unwrap_or_default()
                    .starts_with("tally_session=")),
            "no session for a form without its token"
        );
    }
    let response = sign_in("http").await.expect("an answer");
    assert_eq!(response.status().as_u16(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(cookie.starts_with("tally_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let over_tls = sign_in("https").await.expect("an answer");
    let tls_cookie = over_tls.headers()["set-cookie"].to_str().expect("text");
    assert!(
        tls_cookie.starts_with("__Host-tally_session=") && tls_cookie.contains("; Secure"),
        "over TLS the session cookie is a __Host- cookie: {tls_cookie}"
    );

    let session = cookie.split(';').next().expect("name=value").to_owned();
    let page = |path: &'static str| {
        http.get(format!("{}{path}", serve.base))
            .header("cookie", session.clone())
            .send()
    };
    assert_eq!(
        page("/keys").await.expect("an answer").status().as_u16(),
        200
    );
    // Without JavaScript, pages are whole HTML documents.
    let html = page("/quota")
        .await
        .expect("an answer")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("<h1>Quota</h1>") && html.contains("Rate"),
        "{html}"
    );
    let mut limited = None;
    for _ in 0..20 {
        let answer = page("/").await.expect("an answer");
        if answer.status().as_u16() == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("a key past its rate gets 429 on pages too");
    assert!(limited.headers().contains_key("retry-after"));
    let text = limited.text().await.expect("text");
    assert!(
        text.starts_with("Slow down: this key may send 1 requests per second"),
        "{text}"
    );

    let key_id = api_keys::list(&env.catalog().await, a).await.expect("keys")[0].id;
    api_keys::revoke(&env.catalog().await, a, key_id, Actor::Operator)
        .await
        .expect("revokes");
    let after = page("/keys").await.expect("an answer");
    assert_eq!(after.status().as_u16(), 303);
    assert_eq!(after.headers()["location"], "/login");
    let missing = http
        .get(format!("{}/no-such-page", serve.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(missing.status().as_u16(), 404);
    assert!(
        missing
            .text()
            .await
            .expect("html")
            .contains("Page not found")
    );
}

/// Whether `number` stands in `page` as a number of its own, not as part of a longer word
/// such as a random token.
fn contains_number(page: &str, number: &str) -> bool {
    page.match_indices(number).any(|(at, _)| {
        let before = page[..at].chars().next_back();
        let after = page[at + number.len()..].chars().next();
        ![before, after]
            .into_iter()
            .flatten()
            .any(|c| c.is_ascii_alphanumeric())
    })
}
