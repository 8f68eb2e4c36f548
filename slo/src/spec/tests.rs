//! Tests of SLO specs.

use serde_json::json;

use super::*;
use crate::tier::{DEFAULT_MIN_EVENTS, Severity};

const CHECKOUT: &str = r#"{"name": "checkout-availability", "description": "Checkout answers",
    "indicator": {"kind": "ratio", "event_type": "http.request", "good": "$.status < 500"},
    "objective": "99.9", "window": "28d", "group_by": {"route": "$.route"},
    "tiers": [{"name": "fast", "severity": "critical", "factor": "14.4", "long": "1h",
               "short": "5m", "min_events": 50}]}"#;

fn minimal(extra: &str) -> String {
    format!(
        r#"{{"name": "s", "indicator": {{"kind": "ratio", "event_type": "e", "good": "$.ok == 1"}},
            "objective": "99", "window": "7d"{extra}}}"#
    )
}

#[test]
fn an_slo_reads_as_written() {
    let spec = SloSpec::parse(CHECKOUT).expect("an SLO");
    assert_eq!(spec.name, "checkout-availability");
    assert_eq!(spec.description.as_deref(), Some("Checkout answers"));
    assert_eq!(spec.indicator.event_type(), "http.request");
    assert_eq!(spec.indicator.good().to_string(), "$.status < 500");
    assert_eq!(spec.objective, Decimal::new(999, 1));
    assert_eq!(spec.error_budget(), Decimal::new(1, 3));
    assert_eq!(spec.window, Window::Rolling { days: 28 });
    let group_by = spec.group_by.as_ref().expect("a group");
    assert_eq!(
        (group_by.name.as_str(), group_by.path.as_str()),
        ("route", "$.route")
    );
    assert_eq!(spec.tiers.len(), 1);
    assert_eq!(spec.tiers[0].severity, Severity::Critical);
    assert_eq!(spec.tiers[0].min_events, 50);
}

#[test]
fn an_slo_writes_back_to_the_same_json() {
    let spec = SloSpec::parse(CHECKOUT).expect("an SLO");
    let written = serde_json::to_value(&spec).expect("serializes");
    assert_eq!(written["group_by"], json!({"route": "$.route"}));
    assert_eq!(written["objective"], "99.9");
    assert_eq!(written["window"], "28d");
    assert_eq!(written["indicator"]["good"], "$.status < 500");
    let again = SloSpec::parse(&written.to_string()).expect("reads back");
    assert_eq!(again, spec);
}

#[test]
fn absent_fields_take_their_defaults() {
    let spec = SloSpec::parse(&minimal("")).expect("an SLO");
    assert_eq!(spec.description, None);
    assert_eq!(spec.group_by, None);
    assert_eq!(spec.tiers, default_tiers());
    assert!(
        spec.tiers
            .iter()
            .all(|tier| tier.min_events == DEFAULT_MIN_EVENTS)
    );
    let written = serde_json::to_value(&spec).expect("serializes");
    assert!(written.get("group_by").is_none() && written.get("description").is_none());
    let no_tiers = SloSpec::parse(&minimal(r#", "tiers": [], "group_by": {}"#)).expect("an SLO");
    assert!(no_tiers.tiers.is_empty());
    assert_eq!(no_tiers.group_by, None);
}

#[test]
fn a_latency_indicator_is_good_at_or_under_its_threshold() {
    let spec = SloSpec::parse(
        r#"{"name": "lat", "objective": "95", "window": "month",
            "indicator": {"kind": "latency", "event_type": "http.request",
                          "value": "$.latency_ms", "threshold": "300"}}"#,
    )
    .expect("an SLO");
    assert_eq!(spec.window, Window::CalendarMonth);
    let good = spec.indicator.good();
    assert_eq!(good.to_string(), "$.latency_ms <= 300");
    assert!(good.holds(&json!({"latency_ms": 300})));
    assert!(!good.holds(&json!({"latency_ms": 300.5})));
    assert_eq!(spec.error_budget(), Decimal::new(5, 2));
}

#[test]
fn the_aggregator_view_carries_the_condition_and_the_group() {
    let spec = SloSpec::parse(CHECKOUT).expect("an SLO");
    let (id, tenant, now) = (MeterId::generate(), TenantId::generate(), Utc::now());
    let indicator = spec.indicator(id, tenant, now);
    assert_eq!(indicator.id, id);
    assert_eq!(indicator.tenant_id, tenant);
    assert_eq!(indicator.created_at, now);
    assert_eq!(indicator.event_type, "http.request");
    assert_eq!(indicator.good, spec.indicator.good());
    let (name, path) = indicator.group_by.expect("a group");
    assert_eq!((name.as_str(), path.as_str()), ("route", "$.route"));
    let ungrouped = SloSpec::parse(&minimal("")).expect("an SLO");
    assert_eq!(ungrouped.indicator(id, tenant, now).group_by, None);
}

#[test]
fn error_budgets_are_exact() {
    for (objective, budget) in [
        ("99.9", "0.001"),
        ("99.95", "0.0005"),
        ("50", "0.5"),
        ("99.999999", "0.00000001"),
        ("0.5", "0.995"),
    ] {
        let spec = SloSpec::parse(&minimal("").replace("\"99\"", &format!("{objective:?}")))
            .expect(objective);
        assert_eq!(
            spec.error_budget(),
            budget.parse::<Decimal>().expect("a decimal")
        );
    }
}

#[test]
fn bad_slos_are_refused_with_the_field() {
    let indicator = r#""indicator": {"kind": "ratio", "event_type": "e", "good": "$.ok == 1"}"#;
    for (json, reason) in [
        (minimal("").replace("\"s\"", "\"S\""), "SLO name"),
        (minimal(r#", "colour": "red""#), "unknown field `colour`"),
        (minimal("").replace("\"99\"", "\"100\""), "objective:"),
        (minimal("").replace("\"99\"", "\"0\""), "objective:"),
        (minimal("").replace("\"99\"", "\"99.9999999\""), "objective:"),
        (minimal("").replace("\"7d\"", "\"91d\""), "window:"),
        (minimal("").replace("\"e\"", "\"\""), "indicator.event_type"),
        (minimal("").replace("$.ok == 1", "ok"), "a condition looks like"),
        (minimal(r#", "group_by": {"a": "$.a", "b": "$.b"}"#), "at most one group"),
        (minimal(r#", "group_by": {"a b": "$.a"}"#), "group_by: a group name"),
        (minimal(r#", "group_by": {"a": "a"}"#), "group_by \"a\""),
        (minimal(&format!(r#", "description": "{}""#, "x".repeat(1051))), "description"),
        (
            minimal(r#", "tiers": [{"name": "t", "factor": "1", "long": "1h", "short": "5m"},
                                  {"name": "t", "factor": "2", "long": "2h", "short": "5m"}]"#),
            "two tiers are named",
        ),
        (
            minimal(r#", "tiers": [{"name": "t", "factor": "-1", "long": "1h", "short": "5m"}]"#),
            "tier \"t\": factor",
        ),
        (
            format!(r#"{{"name": "s", "objective": "99", "window": "7d", {}}}"#,
                    indicator.replace("\"good\"", "\"threshold\": \"1\", \"good\"")),
            "unknown field `threshold`",
        ),
        (
            r#"{"name": "s", "objective": "99", "window": "7d",
                "indicator": {"kind": "latency", "event_type": "e", "value": "x", "threshold": "1"}}"#
                .to_owned(),
            "JSON path",
        ),
        (
            r#"{"name": "s", "objective": "99", "window": "7d",
                "indicator": {"kind": "apdex", "event_type": "e"}}"#.to_owned(),
            "apdex",
        ),
    ] {
        let error = SloSpec::parse(&json).expect_err(&json).to_string();
        assert!(error.contains(reason), "{json}: {error}");
    }
}
