//! Alerting through GraphQL against the real PostgreSQL and ClickHouse: an admin key manages
//! rules, a read key reads them, their alerts and history, and another tenant sees none of it.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::json;
use tally_alerting::evaluate::Evaluator;
use tally_alerting::history;
use tally_ingest::IngestConfig;
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::catalog::quotas;
use tally_meter::quota::{Limits, QuotaMode, period_of};
use tally_testkit::store::tenant_with_key;

use super::support::Tenant;

#[tokio::test]
async fn a_tenant_manages_its_alert_rules_and_reads_its_alerts_and_no_one_else_sees_them() {
    let Tenant {
        namespace,
        catalog,
        node,
        id: tenant,
        admin,
        reader,
    } = Tenant::start().await;

    let create = "mutation($spec: JSON!) { createAlertRule(spec: $spec) { name kind } }";
    let spec = json!({"name": "quota", "kind": "quota", "percents": [50], "severity": "critical"});
    let created = node
        .graphql(&admin, create, json!({ "spec": spec }))
        .await
        .json();
    assert_eq!(
        created["data"]["createAlertRule"],
        json!({"name": "quota", "kind": "quota"}),
        "{created}"
    );
    for (key, spec, code) in [
        (&reader, json!({"name": "r", "kind": "quota"}), "FORBIDDEN"),
        (
            &admin,
            json!({"name": "quota", "kind": "quota"}),
            "BAD_USER_INPUT",
        ),
        (
            &admin,
            json!({"name": "x", "kind": "quota", "when": 1}),
            "BAD_USER_INPUT",
        ),
        (
            &admin,
            json!({"name": "t", "kind": "threshold", "meter": "nope", "window": "1m",
                   "op": ">", "value": "1"}),
            "BAD_USER_INPUT",
        ),
    ] {
        node.assert_refused(key, create, json!({ "spec": spec }), code)
            .await;
    }

    // Half the monthly quota used: the rule fires once evaluated, and the history says so.
    let limits = Limits {
        rate_per_sec: 100,
        burst: 100,
        monthly_events: Some(10),
        monthly_mode: QuotaMode::Soft,
    };
    let defaults = IngestConfig::default().default_limits();
    quotas::set(&catalog, tenant, &limits, Actor::Operator, &defaults)
        .await
        .expect("sets the quota");
    let now = Utc::now();
    quotas::add_usage(&catalog, period_of(now), &HashMap::from([(tenant, 5)]))
        .await
        .expect("counts usage");
    let evaluator = Evaluator {
        catalog: catalog.clone(),
        analytics: namespace.analytics(),
        default_limits: defaults,
        raw_retention_days: 30,
    };
    let report = evaluator.due(now, now).await.expect("evaluates");
    assert_eq!((report.evaluated, report.transitions), (1, 1), "{report:?}");
    history::export(&evaluator.catalog, &evaluator.analytics)
        .await
        .expect("writes the history");

    let read = node
        .data(
            &reader,
            "{ alertRules { name } alerts { rule series state value labels }
           alertHistory(rule: \"quota\") { series from to value } }",
            json!({}),
        )
        .await;
    assert_eq!(read["alertRules"], json!([{"name": "quota"}]));
    let alert = &read["alerts"][0];
    assert_eq!(
        (&alert["series"], &alert["state"], &alert["value"]),
        (&json!("threshold=50%"), &json!("FIRING"), &json!("50"))
    );
    assert_eq!(alert["labels"]["severity"], json!("critical"));
    assert_eq!(alert["labels"]["tenant"], json!(tenant.to_string()));
    assert_eq!(
        read["alertHistory"],
        json!([{"series": "threshold=50%", "from": "INACTIVE", "to": "FIRING", "value": "50"}])
    );

    // A receiver (its secret never shown again), a routing tree and a silence, which the
    // firing alert is then listed under.
    let set = node
        .graphql(
            &admin,
            "mutation($receiver: JSON!, $routing: JSON!) {
               setAlertReceiver(spec: $receiver) setAlertRouting(spec: $routing) }",
            json!({
                "receiver": {"name": "ops", "kind": "webhook", "url": "https://ops.test/hook",
                             "secret": "sixteen-characters-at-least"},
                "routing": {"receiver": "ops"},
            }),
        )
        .await
        .json();
    assert!(set["errors"].is_null(), "{set}");
    let silenced = node
        .data(
            &admin,
            "mutation { createSilence(matchers: {severity: \"critical\"},
            endsAt: \"2999-01-01T00:00:00Z\", comment: \"maintenance\") { id author } }",
            json!({}),
        )
        .await;
    let silence = &silenced["createSilence"];
    assert!(
        silence["author"]
            .as_str()
            .is_some_and(|author| author.starts_with("key:")),
        "{silence}"
    );
    let read = node
        .data(
            &reader,
            "{ alertReceivers alertRouting silences { id } alerts { silencedBy }
           notificationLog { status } }",
            json!({}),
        )
        .await;
    assert_eq!(read["alertReceivers"][0]["secret"], json!("…"));
    assert_eq!(read["alertRouting"]["receiver"], json!("ops"));
    assert_eq!(read["alerts"][0]["silencedBy"], json!([silence["id"]]));
    assert_eq!(read["notificationLog"], json!([]));

    // Another tenant sees none of it, and cannot delete or end it.
    let (_, other) = tenant_with_key(&catalog, Scope::Admin).await;
    assert_eq!(
        node.data(
            &other,
            "{ alertRules { name } alerts { rule } alertHistory { rule } alertReceivers
               alertRouting silences { id } notificationLog { status } }",
            json!({})
        )
        .await,
        json!({"alertRules": [], "alerts": [], "alertHistory": [], "alertReceivers": [],
               "alertRouting": null, "silences": [], "notificationLog": []})
    );
    for mutation in [
        format!(
            "mutation {{ expireSilence(id: \"{}\") }}",
            silence["id"].as_str().unwrap_or("")
        ),
        "mutation { deleteAlertReceiver(name: \"ops\") }".to_owned(),
    ] {
        node.assert_refused(&other, &mutation, json!({}), "NOT_FOUND")
            .await;
    }
    node.assert_refused(
        &other,
        "mutation { deleteAlertRule(name: \"quota\") }",
        json!({}),
        "NOT_FOUND",
    )
    .await;

    node.data(
        &admin,
        "mutation { deleteAlertRule(name: \"quota\") }",
        json!({}),
    )
    .await;
    assert_eq!(
        node.data(
            &reader,
            "{ alertRules { name } alerts { rule } }",
            json!({})
        )
        .await,
        json!({"alertRules": [], "alerts": []})
    );
}
