//! The one-shot commands, run as a user would: migrate, tenants, keys, and the errors a person
//! sees for a bad config or an unreachable dependency.

use secrecy::SecretString;
use tally_meter::catalog::api_keys;

use super::support::{TestEnv, meter_create, run_bounded, words};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `tally migrate` with one more variable in its environment, such as a bad setting.
async fn migrate_with(env: &TestEnv, name: &str, value: &str) -> std::process::Output {
    run_bounded(env.tally().env(name, value).arg("migrate")).await
}

#[tokio::test]
async fn migrate_twice_is_a_no_op() {
    let env = TestEnv::new().await;
    let first = env.run_ok(&["migrate"]).await;
    let postgres_migrations = tally_meter::catalog::migration_checksums().count();
    assert!(
        first.contains(&format!(
            "postgres: applied {postgres_migrations} migrations"
        )),
        "{first}"
    );
    let clickhouse_migrations = tally_meter::analytics::migrations::MIGRATIONS.len();
    assert!(
        first.contains(&format!(
            "clickhouse: applied {clickhouse_migrations} migrations"
        )),
        "{first}"
    );
    assert!(first.contains("kafka: created "), "{first}");
    let second = env.run_ok(&["migrate"]).await;
    assert_eq!(
        second,
        "postgres: up to date\nclickhouse: up to date\nkafka: all 3 topics exist\n"
    );
}

#[tokio::test]
async fn concurrent_migrations_are_safe() {
    let env = TestEnv::new().await;
    let mut first = env.tally();
    let mut second = env.tally();
    let (first, second) = tokio::join!(
        run_bounded(first.arg("migrate")),
        run_bounded(second.arg("migrate"))
    );
    assert!(first.status.success(), "first: {}", stderr_of(&first));
    assert!(second.status.success(), "second: {}", stderr_of(&second));
    let all: Vec<u32> = tally_meter::analytics::migrations::MIGRATIONS
        .iter()
        .map(|migration| migration.version)
        .collect();
    assert_eq!(
        env.analytics().applied_versions().await.expect("reads"),
        all
    );
    let catalog = env.catalog().await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(catalog.pool())
        .await
        .expect("reads");
    assert_eq!(
        usize::try_from(applied).expect("a count"),
        tally_meter::catalog::migration_checksums().count()
    );
}

#[tokio::test]
async fn tenants_and_keys_are_managed_from_the_command_line() {
    let env = TestEnv::migrated().await;

    let tenant_id = env
        .run_ok(&["tenant", "create", "--name", "acme", "--region", "eu-west"])
        .await;
    let tenant_id = tenant_id.trim();
    assert_eq!(tenant_id.len(), 36, "prints the tenant id: {tenant_id}");
    let duplicate = env.run(&["tenant", "create", "--name", "acme"]).await;
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(stderr_of(&duplicate).contains("a tenant named acme already exists"));

    let listing = env.run_ok(&["tenant", "list"]).await;
    assert!(
        listing.contains(tenant_id) && listing.contains("eu-west"),
        "{listing}"
    );

    let key = env
        .run_ok(&["key", "create", "--tenant", "acme", "--scope", "ingest"])
        .await;
    let key = key.trim().to_owned();
    assert!(key.starts_with("tly_"), "prints the key alone: {key}");
    let catalog = env.catalog().await;
    let secret = SecretString::from(key.clone());
    let principal = api_keys::authenticate(&catalog, &secret)
        .await
        .expect("queries")
        .expect("the printed key authenticates");
    assert_eq!(principal.tenant_id.to_string(), tenant_id);

    let keys = env.run_ok(&["key", "list", "--tenant", tenant_id]).await;
    let key_id = principal.key_id.to_string();
    assert!(
        keys.contains(&key_id) && keys.contains(&key[..12]),
        "{keys}"
    );
    assert!(
        !keys.contains(&key),
        "listings never show the secret: {keys}"
    );
    let shown = env.run_ok(&["tenant", "show", "acme"]).await;
    assert!(shown.contains(&key_id), "{shown}");

    env.run_ok(&["key", "revoke", "--tenant", "acme", &key_id])
        .await;
    assert_eq!(
        api_keys::authenticate(&catalog, &secret)
            .await
            .expect("queries"),
        None
    );

    let bad_scope = env
        .run(&["key", "create", "--tenant", "acme", "--scope", "write"])
        .await;
    assert_eq!(bad_scope.status.code(), Some(2));
    assert!(stderr_of(&bad_scope).contains("key scope must be ingest, read, admin or platform"));
    let unknown = env.run(&["key", "list", "--tenant", "nobody"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr_of(&unknown).contains("tenant nobody not found"));
}

#[tokio::test]
async fn a_bad_config_value_is_one_line_naming_the_key() {
    let env = TestEnv::new().await;
    let output = migrate_with(&env, "TALLY__POSTGRES__MAX_CONNECTIONS", "plenty").await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("postgres.max_connections"), "{stderr}");
    assert!(stderr.contains("expected u32"), "{stderr}");
    assert!(
        stderr.contains("TALLY__POSTGRES__MAX_CONNECTIONS"),
        "{stderr}"
    );

    let output = migrate_with(&env, "TALLY__KAFKA__PARTITION", "3").await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("unknown field"),
        "{}",
        stderr_of(&output)
    );
}

#[tokio::test]
async fn an_unreachable_dependency_is_a_clear_error() {
    let env = TestEnv::new().await;
    let output = migrate_with(
        &env,
        "TALLY__POSTGRES__URL",
        "postgres://tally@127.0.0.1:1/tally",
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("cannot reach postgres at 127.0.0.1:1/tally"),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let started = std::time::Instant::now();
    let output = migrate_with(&env, "TALLY__KAFKA__BROKERS", "127.0.0.1:1").await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("cannot create topics at 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "gives up in bounded time"
    );
}

#[tokio::test]
async fn meters_are_managed_from_the_command_line() {
    let env = TestEnv::migrated().await;
    env.run_ok(&["tenant", "create", "--name", "acme"]).await;
    env.run_ok(&["tenant", "create", "--name", "other"]).await;

    let created = env
        .run_ok(&meter_create(
            "acme",
            "tokens",
            "llm.completion",
            "sum",
            &[
                "--value",
                "$.usage.tokens",
                "--group-by",
                "model=$.model",
                "--lateness-secs",
                "3600",
            ],
        ))
        .await;
    assert!(
        created.contains("tokens") && created.contains("SUM"),
        "{created}"
    );
    env.run_ok(&meter_create(
        "acme",
        "requests",
        "api.request",
        "count",
        &[],
    ))
    .await;

    let listing = env.run_ok(&["meter", "list", "--tenant", "acme"]).await;
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[1].starts_with("requests") && lines[1].contains("COUNT"),
        "{listing}"
    );
    assert!(
        lines[2].contains("$.usage.tokens")
            && lines[2].contains("model=$.model")
            && lines[2].contains("3600s")
    );
    let others = env.run(&["meter", "list", "--tenant", "other"]).await;
    assert!(
        String::from_utf8_lossy(&others.stdout).is_empty(),
        "another tenant sees no meters"
    );

    let duplicate = env
        .run(&meter_create("acme", "tokens", "x", "count", &[]))
        .await;
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(stderr_of(&duplicate).contains("this tenant already has a meter tokens"));
    let no_value = meter_create("acme", "avg", "x", "avg", &[]);
    env.run_refused(&no_value, "AVG meters need a value path")
        .await;
    let bad_path = env
        .run(&meter_create(
            "acme",
            "m",
            "x",
            "max",
            &["--value", "tokens"],
        ))
        .await;
    assert_eq!(bad_path.status.code(), Some(2));
    assert!(stderr_of(&bad_path).contains("a JSON path looks like $.name"));

    let delete = ["meter", "delete", "--tenant", "acme", "requests"];
    env.run_ok(&delete).await;
    env.run_refused(&delete, "meter requests not found").await;
    // Another tenant cannot delete acme's meter.
    let foreign = env
        .run(&["meter", "delete", "--tenant", "other", "tokens"])
        .await;
    assert_eq!(foreign.status.code(), Some(1));
    assert!(
        env.run_ok(&["meter", "list", "--tenant", "acme"])
            .await
            .contains("tokens")
    );
}

#[tokio::test]
async fn customers_plans_and_subscriptions_are_managed_from_the_command_line() {
    let env = TestEnv::migrated().await;
    env.run_ok(&["tenant", "create", "--name", "acme"]).await;
    env.run_ok(&meter_create(
        "acme",
        "tokens",
        "llm.call",
        "sum",
        &["--value", "$.tokens", "--group-by", "model=$.model"],
    ))
    .await;
    let customer = env
        .run_ok(&[
            "customer",
            "create",
            "--tenant",
            "acme",
            "--external-id",
            "crm-42",
            "--name",
            "Globex",
            "--currency",
            "eur",
            "--timezone",
            "Europe/Berlin",
            "--tax-percent",
            "19",
            "--subject",
            "device-1",
            "--subject",
            "device-2",
        ])
        .await;
    assert!(
        customer.contains("crm-42")
            && customer.contains("EUR")
            && customer.contains("device-1,device-2"),
        "{customer}"
    );
    let taken = words(
        "customer create --tenant acme --external-id crm-43 --name Initech --currency EUR \
         --subject device-2",
    );
    env.run_refused(
        &taken,
        "subject \"device-2\" already belongs to customer crm-42",
    )
    .await;

    let plan = std::env::temp_dir().join(format!("plan-{}.json", tally_testkit::random_id()));
    std::fs::write(
        &plan,
        r#"{"currency": "EUR", "interval": "MONTH", "charges": [
            {"type": "flat", "name": "Platform fee", "amount": "49.00"},
            {"type": "usage", "name": "Tokens", "meter": "tokens", "pricing": "by_dimension",
             "group": "model", "models": {"large": {"model": "unit", "unit_price": "0.00003"}},
             "otherwise": {"model": "unit", "unit_price": "0.000002"}}
        ]}"#,
    )
    .expect("writes the plan");
    let plan_path = plan.to_str().expect("a UTF-8 path");
    env.run_ok(&[
        "plan", "create", "--tenant", "acme", "--key", "pro", "--name", "Pro", "--file", plan_path,
    ])
    .await;
    let subscribe = [
        "subscription",
        "create",
        "--tenant",
        "acme",
        "--customer",
        "crm-42",
        "--plan",
        "pro",
    ];
    env.run_refused(&subscribe, "plan pro has no published version yet")
        .await;
    env.run_ok(&["plan", "publish", "--tenant", "acme", "--key", "pro"])
        .await;
    let shown: serde_json::Value = serde_json::from_str(
        &env.run_ok(&["plan", "show", "--tenant", "acme", "--key", "pro"])
            .await,
    )
    .expect("JSON");
    assert_eq!(
        shown["versions"][0]["spec"]["charges"][0]["amount"],
        "49.00"
    );
    assert!(shown["versions"][0]["published_at"].is_string(), "{shown}");

    let subscribed = env
        .run_ok(&[&subscribe[..], &["--start", "2026-11-01T00:00:00Z"]].concat())
        .await;
    assert!(
        subscribed.contains("CALENDAR") && subscribed.contains("2026-11-01T00:00:00+00:00"),
        "{subscribed}"
    );
    let id = subscribed
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().next())
        .expect("an id");
    let cancelled = env
        .run_ok(&[
            "subscription",
            "cancel",
            "--tenant",
            "acme",
            id,
            "--at",
            "2026-12-15T00:00:00Z",
        ])
        .await;
    assert!(
        cancelled.contains("2026-12-15T00:00:00+00:00"),
        "{cancelled}"
    );
    let listed = env
        .run_ok(&[
            "subscription",
            "list",
            "--tenant",
            "acme",
            "--customer",
            "crm-42",
        ])
        .await;
    assert_eq!(listed.lines().count(), 2, "{listed}");
    std::fs::remove_file(&plan).expect("removes the plan file");
}
