//! Tests of the OpenSLO mapping: what Tally writes, what it reads, what it refuses, and a
//! round trip over generated SLOs.

use std::time::Duration;

use proptest::prelude::*;
use tally_meter::meter::JsonPath;
use tally_meter::sli::{Comparison, Operand, Predicate};

use super::*;
use crate::spec::GroupBy;
use crate::tier::{Severity, Tier, default_tiers};

const CHECKOUT: &str = r#"{"name": "checkout-availability", "description": "Checkout answers",
    "indicator": {"kind": "ratio", "event_type": "http.request", "good": "$.status < 500"},
    "objective": "99.9", "window": "28d", "group_by": {"route": "$.route"}}"#;

/// An OpenSLO document as another tool would write it, with `{window}`, `{objective}` and
/// `{good}` to fill in.
const FOREIGN: &str = "apiVersion: openslo/v1
kind: SLO
metadata:
  name: search
  displayName: Search works
  labels: {team: [search]}
spec:
  service: search
  indicator:
    metadata: {name: search-errors}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: tally, spec: {good}}}
        total: {metricSource: {type: tally, spec: {eventType: search}}}
  timeWindow: [{window}]
  budgetingMethod: Occurrences
  objectives: [{objective}]
";

fn foreign(window: &str, objective: &str, good: &str) -> String {
    FOREIGN
        .replace("{window}", window)
        .replace("{objective}", objective)
        .replace("{good}", good)
}

fn search(window: &str, objective: &str) -> String {
    foreign(
        window,
        objective,
        r#"{eventType: search, good: "$.ok == 1"}"#,
    )
}

#[test]
fn an_export_is_openslo_v1_and_reads_back() {
    let spec = SloSpec::parse(CHECKOUT).expect("an SLO");
    let yaml = to_openslo(&spec);
    for line in [
        "apiVersion: openslo/v1",
        "kind: SLO",
        "  name: checkout-availability",
        "  service: tally",
        "      ratioMetric:",
        "        counter: true",
        "            type: tally",
        "              eventType: http.request",
        "              good: $.status < 500",
        "                route: $.route",
        "  - duration: 28d",
        "    isRolling: true",
        "  budgetingMethod: Occurrences",
        "  - displayName: 99.9% good over 28d",
        "    target: 0.999",
    ] {
        assert!(
            yaml.lines().any(|written| written == line),
            "{line:?} in\n{yaml}"
        );
    }
    assert!(yaml.contains("tally/tiers"), "{yaml}");
    assert_eq!(from_openslo(&yaml).expect("reads back"), vec![spec]);
}

#[test]
fn a_calendar_month_and_a_latency_indicator_read_back() {
    let spec = SloSpec::parse(
        r#"{"name": "lat", "objective": "95", "window": "month", "tiers": [],
            "indicator": {"kind": "latency", "event_type": "http.request",
                          "value": "$.latency_ms", "threshold": "300.5"}}"#,
    )
    .expect("an SLO");
    let yaml = to_openslo(&spec);
    assert!(
        yaml.contains("duration: 1M") && yaml.contains("timeZone: UTC"),
        "{yaml}"
    );
    assert!(yaml.contains("startTime: 2020-01-01 00:00:00"), "{yaml}");
    assert!(yaml.contains("value: $.latency_ms"), "{yaml}");
    assert_eq!(from_openslo(&yaml).expect("reads back"), vec![spec]);
}

#[test]
fn a_file_holds_several_documents() {
    let first = SloSpec::parse(CHECKOUT).expect("an SLO");
    let mut second = first.clone();
    second.name = "second".to_owned();
    second.window = Window::CalendarMonth;
    let file = format!(
        "---\n{}---\n",
        to_openslo_documents(&[first.clone(), second.clone()])
    );
    assert_eq!(from_openslo(&file).expect("reads"), vec![first, second]);
    assert_eq!(from_openslo("").expect("reads"), vec![]);
}

#[test]
fn other_tools_documents_read_with_tallys_defaults() {
    let read = from_openslo(&search(
        "{duration: 4w, isRolling: true}",
        "{target: 0.995}",
    ))
    .expect("an SLO");
    assert_eq!(read.len(), 1);
    let spec = &read[0];
    assert_eq!(spec.name, "search");
    assert_eq!(spec.description, None);
    assert_eq!(spec.window, Window::Rolling { days: 28 });
    assert_eq!(spec.objective, Decimal::new(995, 1));
    assert_eq!(spec.tiers, default_tiers());
    assert_eq!(spec.indicator.good().to_string(), "$.ok == 1");
    let percent = from_openslo(&search(
        "{duration: 1M, isRolling: false}",
        "{displayName: x, targetPercent: '99.95'}",
    ))
    .expect("an SLO");
    assert_eq!(percent[0].objective, Decimal::new(9995, 2));
    assert_eq!(percent[0].window, Window::CalendarMonth);
}

#[test]
fn what_tally_cannot_honour_is_refused_by_field() {
    let rolling = "{duration: 28d, isRolling: true}";
    let target = "{target: 0.99}";
    let good = r#"{eventType: search, good: "$.ok == 1"}"#;
    let cases = [
        (
            search(rolling, target).replace("openslo/v1", "openslo/v1alpha"),
            "apiVersion",
        ),
        (
            search(rolling, target).replace("kind: SLO", "kind: SLI"),
            "kind",
        ),
        (
            search(rolling, target).replace("Occurrences", "Timeslices"),
            "spec.budgetingMethod",
        ),
        (
            search(rolling, "{target: 0.99}, {target: 0.9}"),
            "spec.objectives",
        ),
        (
            search(rolling, "{target: 0.99, op: lte}"),
            "unknown field `op`",
        ),
        (search(rolling, "{displayName: x}"), "spec.objectives[0]"),
        (
            search(&format!("{rolling}, {rolling}"), target),
            "spec.timeWindow",
        ),
        (
            search("{duration: 2h, isRolling: true}", target),
            "spec.timeWindow[0].duration",
        ),
        (
            search("{duration: 1w, isRolling: false}", target),
            "spec.timeWindow[0].duration",
        ),
        (
            search(
                "{duration: 1M, isRolling: false, calendar: {startTime: '2020-01-01 00:00:00', timeZone: Europe/Paris}}",
                target,
            ),
            "calendar.timeZone",
        ),
        (
            search(
                "{duration: 1M, isRolling: false, calendar: {startTime: '2020-01-15 00:00:00', timeZone: UTC}}",
                target,
            ),
            "calendar.startTime",
        ),
        (
            foreign(rolling, target, good).replace(
                "type: tally, spec: {eventType: search}",
                "type: prometheus, spec: {query: up}",
            ),
            "ratioMetric.total.metricSource.type",
        ),
        (
            foreign(rolling, target, r#"{eventType: other, good: "$.ok == 1"}"#),
            "total.metricSource.spec.eventType",
        ),
        (
            foreign(rolling, target, "{eventType: search}"),
            "either good",
        ),
        (
            foreign(
                rolling,
                target,
                r#"{eventType: search, good: "$.ok == 1", query: x}"#,
            ),
            "good.metricSource.spec: unknown field `query`",
        ),
        (
            foreign(rolling, target, "{eventType: search, good: ok}"),
            "a condition looks like",
        ),
        (
            search(rolling, target).replace("        counter: true\n", "        bad: {}\n"),
            "ratioMetric.bad",
        ),
        (
            search(rolling, target).replace(
                "      ratioMetric:",
                "      thresholdMetric: {}\n      ratioMetric:",
            ),
            "thresholdMetric",
        ),
        (
            search(rolling, target).replace(
                "  budgetingMethod",
                "  alertPolicies: [fast]\n  budgetingMethod",
            ),
            "spec.alertPolicies",
        ),
        (
            search(rolling, target)
                .replace("  budgetingMethod", "  colour: red\n  budgetingMethod"),
            "unknown field `colour`",
        ),
        (search(rolling, "{target: 1}"), "objective:"),
        (
            search(rolling, target).replace("name: search\n", "name: Search\n"),
            "SLO name",
        ),
        (
            search(rolling, target).replace(
                "  displayName: Search works",
                "  annotations: {tally/tiers: '[{}]'}",
            ),
            "metadata.annotations.tally/tiers",
        ),
        (
            "kind: SLO\napiVersion: openslo/v1\nmetadata: [\n".to_owned(),
            "not OpenSLO YAML",
        ),
    ];
    for (yaml, reason) in cases {
        let error = from_openslo(&yaml).expect_err(&yaml).to_string();
        assert!(error.contains(reason), "{reason}: {error}\n{yaml}");
    }
    let second = format!(
        "{}---\n{}",
        search(rolling, target),
        search(rolling, "{target: 2}")
    );
    let error = from_openslo(&second)
        .expect_err("a bad second document")
        .to_string();
    assert!(
        error.starts_with("OpenSLO document 2: objective"),
        "{error}"
    );
}

fn json_paths() -> impl Strategy<Value = JsonPath> {
    "\\$\\.[a-z_]{1,8}(\\.[a-z0-9]{1,6})?".prop_map(|text| JsonPath::parse(&text).expect("a path"))
}

fn decimals() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=6).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

fn predicates() -> impl Strategy<Value = Predicate> {
    let comparisons = proptest::sample::select(vec![
        Comparison::Above,
        Comparison::AtLeast,
        Comparison::Below,
        Comparison::AtMost,
        Comparison::Equal,
        Comparison::NotEqual,
    ]);
    (
        json_paths(),
        comparisons,
        decimals(),
        "[a-zA-Z0-9 ._:#-]{0,12}",
        any::<bool>(),
    )
        .prop_map(|(path, op, number, text, as_text)| {
            let operand = if as_text && matches!(op, Comparison::Equal | Comparison::NotEqual) {
                Operand::Text(text)
            } else {
                Operand::Number(number)
            };
            Predicate { path, op, operand }
        })
}

fn indicators() -> impl Strategy<Value = IndicatorSpec> {
    let event_types = "[a-z][a-z0-9._-]{0,20}";
    prop_oneof![
        (event_types, predicates())
            .prop_map(|(event_type, good)| IndicatorSpec::Ratio { event_type, good }),
        (event_types, json_paths(), decimals()).prop_map(|(event_type, value, threshold)| {
            IndicatorSpec::Latency {
                event_type,
                value,
                threshold,
            }
        }),
    ]
}

fn tiers() -> impl Strategy<Value = Vec<Tier>> {
    let severities =
        proptest::sample::select(vec![Severity::Critical, Severity::Warning, Severity::Info]);
    let tier = (
        severities,
        1i64..1_000_000,
        0u32..=4,
        2u64..=44_640,
        any::<u64>(),
    );
    proptest::collection::vec(tier, 0..4).prop_map(|tiers| {
        tiers
            .into_iter()
            .enumerate()
            .map(
                |(index, (severity, factor, scale, long, min_events))| Tier {
                    name: format!("tier-{index}"),
                    severity,
                    factor: Decimal::new(factor, scale).min(Decimal::from(100_000)),
                    long: Duration::from_secs(long * 60),
                    short: Duration::from_secs((long / 3).max(1) * 60),
                    min_events,
                },
            )
            .collect()
    })
}

fn specs() -> impl Strategy<Value = SloSpec> {
    let objectives = (0u32..=6).prop_flat_map(|scale| {
        (1i64..100 * 10i64.pow(scale)).prop_map(move |mantissa| Decimal::new(mantissa, scale))
    });
    let windows = prop_oneof![
        (1u32..=90).prop_map(|days| Window::Rolling { days }),
        Just(Window::CalendarMonth),
    ];
    let group_by = proptest::option::of(("[a-zA-Z0-9_-]{1,10}", json_paths()))
        .prop_map(|group| group.map(|(name, path)| GroupBy { name, path }));
    (
        "[a-z0-9_-]{1,64}",
        proptest::option::of("[ -~]{0,60}"),
        indicators(),
        objectives,
        windows,
        group_by,
        tiers(),
    )
        .prop_map(
            |(name, description, indicator, objective, window, group_by, tiers)| SloSpec {
                name,
                description,
                indicator,
                objective,
                window,
                group_by,
                tiers,
            },
        )
}

proptest! {
    /// Whatever Tally writes reads back to the same SLO, alone or among others.
    #[test]
    fn exports_read_back_to_the_same_slo(spec in specs(), other in specs()) {
        spec.validate().expect("a valid generated SLO");
        let yaml = to_openslo(&spec);
        prop_assert_eq!(from_openslo(&yaml).expect(&yaml), vec![spec.clone()]);
        let both = to_openslo_documents(&[spec.clone(), other.clone()]);
        prop_assert_eq!(from_openslo(&both).expect(&both), vec![spec, other]);
    }
}
