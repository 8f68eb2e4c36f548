//! One evaluation of one rule's series through the state machine, without any store: what
//! it writes and records ([`step_rule`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::Observation;
use crate::catalog::series::{self, StoredSeries};
use crate::rule::{Condition, Labels, Rule};
use crate::state::{self, State};

/// How long a resolved series is kept (and listed) before it is forgotten.
const RESOLVED_KEPT: Duration = Duration::days(1);

/// A change of a series' state, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The series' key.
    pub series: String,
    /// Its labels.
    pub labels: Labels,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The value evaluated.
    pub value: Option<Decimal>,
}

/// What one evaluation of a rule writes: the series to store, the ones to forget (by key),
/// and the transitions, each in the order of the series' keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Series worth keeping, in their new state.
    pub saved: Vec<StoredSeries>,
    /// Stored series to forget: inactive again, or resolved more than a day ago.
    pub forgotten: Vec<String>,
    /// The transitions.
    pub transitions: Vec<Change>,
}

/// Steps every series of `rule` at `at`: the ones `observed` now, and the `stored` ones not
/// measured now, which are still silent for an absence rule and do not breach for the
/// others. Only series worth keeping are saved ([`series::worth_keeping`]).
pub fn step_rule(
    rule: &Rule,
    observed: Vec<Observation>,
    stored: &BTreeMap<String, StoredSeries>,
    at: DateTime<Utc>,
) -> Outcome {
    let timing = rule.spec.timing();
    let mut seen: BTreeMap<String, (Labels, Option<Decimal>, bool)> = BTreeMap::new();
    for observation in observed {
        let own: Vec<(&str, &str)> = observation
            .own
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let labels = Labels::of(rule, &own);
        seen.insert(
            labels.series_key(rule),
            (labels, observation.value, observation.breaching),
        );
    }
    let silent_breaches = matches!(rule.spec.condition, Condition::Absence { .. });
    for (key, series) in stored {
        seen.entry(key.clone())
            .or_insert_with(|| (series.labels.clone(), None, silent_breaches));
    }
    let mut outcome = Outcome::default();
    for (key, (labels, value, breaching)) in seen {
        let before_step = stored
            .get(&key)
            .map_or_else(|| state::Series::new(at), |series| series.state);
        let (after_step, transition) = state::step(before_step, breaching, at, timing);
        if let Some(transition) = transition {
            outcome.transitions.push(Change {
                series: key.clone(),
                labels: labels.clone(),
                from: transition.from,
                to: transition.to,
                value,
            });
        }
        let resolved_long_ago =
            after_step.state == State::Resolved && at - after_step.since > RESOLVED_KEPT;
        if series::worth_keeping(after_step.state) && !resolved_long_ago {
            outcome.saved.push(StoredSeries {
                series: key,
                labels,
                state: after_step,
                value,
                evaluated_at: at,
            });
        } else if stored.contains_key(&key) {
            outcome.forgotten.push(key);
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use tally_meter::ids::TenantId;
    use uuid::Uuid;

    use super::*;
    use crate::rule::RuleSpec;

    fn rule(json: &str) -> Rule {
        Rule {
            id: Uuid::nil(),
            tenant_id: TenantId::generate(),
            spec: RuleSpec::parse(json).expect("a rule"),
            created_at: Utc::now(),
        }
    }

    fn observed(subject: &str, value: i64, breaching: bool) -> Observation {
        Observation {
            own: vec![("subject".to_owned(), subject.to_owned())],
            value: Some(Decimal::from(value)),
            breaching,
        }
    }

    fn minute(n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + n * 60, 0).expect("an instant")
    }

    /// Runs `rule` through evaluations, keeping what each saves as the next one's stored
    /// series; returns every outcome.
    fn run(rule: &Rule, evaluations: Vec<(DateTime<Utc>, Vec<Observation>)>) -> Vec<Outcome> {
        let mut stored: BTreeMap<String, StoredSeries> = BTreeMap::new();
        let mut outcomes = Vec::new();
        for (at, observations) in evaluations {
            let outcome = step_rule(rule, observations, &stored, at);
            for key in &outcome.forgotten {
                stored.remove(key);
            }
            for series in &outcome.saved {
                stored.insert(series.series.clone(), series.clone());
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    fn keys(series: &[StoredSeries]) -> Vec<(&str, State)> {
        series
            .iter()
            .map(|series| (series.series.as_str(), series.state.state))
            .collect()
    }

    #[test]
    fn only_series_that_alert_are_stored_and_resolved_ones_go_after_a_day() {
        let rule = rule(
            r#"{"name": "hot", "kind": "threshold", "meter": "temp", "window": "1m",
                "op": ">", "value": "80"}"#,
        );
        let outcomes = run(
            &rule,
            vec![
                (
                    minute(0),
                    vec![observed("a", 90, true), observed("b", 10, false)],
                ),
                (minute(1), vec![observed("b", 10, false)]),
                (minute(2), vec![]),
                (minute(1) + RESOLVED_KEPT, vec![]),
                (minute(2) + RESOLVED_KEPT, vec![]),
            ],
        );
        assert_eq!(keys(&outcomes[0].saved), [("subject=a", State::Firing)]);
        assert_eq!(outcomes[0].transitions.len(), 1);
        assert_eq!(outcomes[0].transitions[0].value, Some(Decimal::from(90)));
        // Not measured now: no breach, so it resolves, and is kept for a day.
        assert_eq!(keys(&outcomes[1].saved), [("subject=a", State::Resolved)]);
        assert_eq!(outcomes[1].transitions[0].value, None);
        assert_eq!(keys(&outcomes[2].saved), [("subject=a", State::Resolved)]);
        assert!(outcomes[2].transitions.is_empty());
        assert_eq!(keys(&outcomes[3].saved), [("subject=a", State::Resolved)]);
        assert_eq!(outcomes[4].forgotten, ["subject=a"]);
        assert!(outcomes[4].saved.is_empty());
    }

    #[test]
    fn a_pending_series_that_stops_breaching_is_forgotten_with_its_transition() {
        let rule = rule(
            r#"{"name": "hot", "kind": "threshold", "meter": "temp", "window": "1m",
                "op": ">", "value": "80", "for": "5m"}"#,
        );
        let outcomes = run(
            &rule,
            vec![
                (minute(0), vec![observed("a", 90, true)]),
                (minute(1), vec![observed("a", 70, false)]),
            ],
        );
        assert_eq!(keys(&outcomes[0].saved), [("subject=a", State::Pending)]);
        assert!(outcomes[1].saved.is_empty());
        assert_eq!(outcomes[1].forgotten, ["subject=a"]);
        let change = &outcomes[1].transitions[0];
        assert_eq!(
            (change.from, change.to, change.value),
            (State::Pending, State::Inactive, Some(Decimal::from(70)))
        );
    }

    #[test]
    fn an_absence_series_no_longer_seen_stays_silent() {
        let rule = rule(r#"{"name": "gone", "kind": "absence", "event_type": "x", "after": "1m"}"#);
        let outcomes = run(
            &rule,
            vec![
                (minute(0), vec![observed("a", 120, true)]),
                (minute(90), vec![]),
            ],
        );
        assert_eq!(keys(&outcomes[1].saved), [("subject=a", State::Firing)]);
        assert!(outcomes[1].transitions.is_empty());
    }
}
