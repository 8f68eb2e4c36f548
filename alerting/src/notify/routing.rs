//! A tenant's routing tree, as Alertmanager's: which receivers an alert goes to, how alerts
//! are grouped into notifications, and which alerts mute others (inhibition).
//!
//! ```json
//! {"receiver": "ops", "group_by": ["alertname"], "group_wait": "30s",
//!  "group_interval": "5m", "repeat_interval": "4h",
//!  "routes": [{"match": {"severity": "critical"}, "receiver": "pager", "continue": true}],
//!  "inhibit": [{"source": {"severity": "critical"}, "target": {"severity": "warning"},
//!               "equal": ["subject"]}]}
//! ```
//!
//! An alert enters at the root and goes down the first child route whose `match` labels it
//! has (or every such child, past ones with `continue`); where no child matches, the route
//! itself takes it. A child inherits its parent's receiver, `group_by` and timings unless it
//! sets them.

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_meter::{Error, Result};

use crate::{duration_text, not_json_of};

/// Deepest a routing tree may be.
const MAX_DEPTH: usize = 8;

/// A route and its children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Labels an alert must have, with these values, to take this route (the root matches
    /// every alert).
    #[serde(default, rename = "match")]
    pub matchers: BTreeMap<String, String>,
    /// The receiver's name.
    #[serde(default)]
    pub receiver: Option<String>,
    /// The labels whose values group alerts into one notification.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// How long a new group waits for more alerts before its first notification.
    #[serde(default, with = "duration_text::option")]
    pub group_wait: Option<Duration>,
    /// How long after a notification a group waits before notifying of changes.
    #[serde(default, with = "duration_text::option")]
    pub group_interval: Option<Duration>,
    /// How long after a notification a group that did not change notifies again.
    #[serde(default, with = "duration_text::option")]
    pub repeat_interval: Option<Duration>,
    /// Whether alerts taking this route also try its later siblings.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Child routes, tried in order.
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// A rule of inhibition: a firing alert matching `source` mutes the alerts matching `target`
/// that have the same values of the `equal` labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inhibit {
    /// Labels of the muting alert.
    pub source: BTreeMap<String, String>,
    /// Labels of the muted alerts.
    pub target: BTreeMap<String, String>,
    /// Labels both must agree on.
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A tenant's routing: the root route and the inhibition rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// The root route; it must name a receiver.
    #[serde(flatten)]
    pub root: Route,
    /// Inhibition rules; by default a firing critical alert mutes the warnings of the same
    /// subject.
    #[serde(default = "default_inhibit")]
    pub inhibit: Vec<Inhibit>,
}

fn default_inhibit() -> Vec<Inhibit> {
    vec![Inhibit {
        source: BTreeMap::from([("severity".to_owned(), "critical".to_owned())]),
        target: BTreeMap::from([("severity".to_owned(), "warning".to_owned())]),
        equal: vec!["subject".to_owned()],
    }]
}

/// Where an alert goes: a receiver and how its group is cut and timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The receiver's name.
    pub receiver: String,
    /// The labels that group alerts.
    pub group_by: Vec<String>,
    /// Alertmanager's group_wait.
    pub group_wait: Duration,
    /// Alertmanager's group_interval.
    pub group_interval: Duration,
    /// Alertmanager's repeat_interval.
    pub repeat_interval: Duration,
}

impl Routing {
    /// Reads and checks a routing tree's JSON.
    pub fn parse(json: &str) -> Result<Self> {
        let routing: Self = serde_json::from_str(json).map_err(not_json_of("a routing tree"))?;
        if routing.root.receiver.is_none() {
            return Err(Error::Invalid(
                "the root route names a receiver: every alert goes somewhere".to_owned(),
            ));
        }
        check_depth(&routing.root, 1)?;
        Ok(routing)
    }

    /// Every receiver the tree names.
    pub fn receivers(&self) -> Vec<&str> {
        fn walk<'a>(route: &'a Route, names: &mut Vec<&'a str>) {
            names.extend(route.receiver.as_deref());
            for child in &route.routes {
                walk(child, names);
            }
        }
        let mut names = Vec::new();
        walk(&self.root, &mut names);
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Where an alert with `labels` goes.
    pub fn route(&self, labels: &BTreeMap<String, String>) -> Vec<Destination> {
        let root = Destination {
            receiver: self.root.receiver.clone().unwrap_or_default(),
            group_by: self
                .root
                .group_by
                .clone()
                .unwrap_or_else(|| vec!["alertname".to_owned()]),
            group_wait: self.root.group_wait.unwrap_or(Duration::from_secs(30)),
            group_interval: self.root.group_interval.unwrap_or(Duration::from_secs(300)),
            repeat_interval: self
                .root
                .repeat_interval
                .unwrap_or(Duration::from_secs(4 * 3600)),
        };
        let mut found = Vec::new();
        descend(&self.root, &root, labels, &mut found);
        found
    }

    /// Whether a firing alert among `firing` mutes the alert with `labels`: by one of the
    /// tenant's inhibition rules, or as a slower tier of an SLO series ([`tier_inhibited`]).
    pub fn inhibited(
        &self,
        labels: &BTreeMap<String, String>,
        firing: &[&BTreeMap<String, String>],
    ) -> bool {
        tier_inhibited(labels, firing)
            || self.inhibit.iter().any(|rule| {
                matches(&rule.target, labels)
                    && firing.iter().any(|source| {
                        *source != labels
                            && matches(&rule.source, source)
                            && rule
                                .equal
                                .iter()
                                .all(|name| source.get(name) == labels.get(name))
                    })
            })
    }
}

/// Whether a firing tier of the same SLO series (the same labels but `tier`, `severity` and
/// `factor`) burns at a larger factor than the alert with `labels`, which an SLO rule labels
/// with its tier's `factor`: a faster tier inhibits the slower ones.
fn tier_inhibited(labels: &BTreeMap<String, String>, firing: &[&BTreeMap<String, String>]) -> bool {
    let factor_of = |labels: &BTreeMap<String, String>| {
        labels.contains_key("slo").then_some(())?;
        labels.get("factor")?.parse::<Decimal>().ok()
    };
    let Some(factor) = factor_of(labels) else {
        return false;
    };
    let series = |labels: &BTreeMap<String, String>| {
        labels
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "tier" | "severity" | "factor"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect::<Vec<_>>()
    };
    let own = series(labels);
    firing.iter().any(|source| {
        factor_of(source).is_some_and(|faster| faster > factor) && series(source) == own
    })
}

fn check_depth(route: &Route, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Invalid(format!(
            "a routing tree is at most {MAX_DEPTH} routes deep"
        )));
    }
    route
        .routes
        .iter()
        .try_for_each(|child| check_depth(child, depth + 1))
}

/// Whether `labels` has every matcher's value.
pub fn matches(matchers: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    matchers
        .iter()
        .all(|(name, value)| labels.get(name) == Some(value))
}

fn descend(
    route: &Route,
    inherited: &Destination,
    labels: &BTreeMap<String, String>,
    found: &mut Vec<Destination>,
) {
    let here = Destination {
        receiver: route
            .receiver
            .clone()
            .unwrap_or_else(|| inherited.receiver.clone()),
        group_by: route
            .group_by
            .clone()
            .unwrap_or_else(|| inherited.group_by.clone()),
        group_wait: route.group_wait.unwrap_or(inherited.group_wait),
        group_interval: route.group_interval.unwrap_or(inherited.group_interval),
        repeat_interval: route.repeat_interval.unwrap_or(inherited.repeat_interval),
    };
    let mut taken = false;
    for child in &route.routes {
        if matches(&child.matchers, labels) {
            descend(child, &here, labels, found);
            taken = true;
            if !child.continue_matching {
                break;
            }
        }
    }
    if !taken && !found.contains(&here) {
        found.push(here);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn routing() -> Routing {
        Routing::parse(
            r#"{"receiver": "ops", "group_wait": "10s",
                "routes": [
                  {"match": {"severity": "critical"}, "receiver": "pager", "continue": true,
                   "group_by": ["subject"]},
                  {"match": {"team": "plant"}, "receiver": "plant", "group_interval": "1m"}]}"#,
        )
        .expect("a routing tree")
    }

    #[test]
    fn alerts_take_the_first_matching_route_or_every_one_past_continue() {
        let routing = routing();
        let to = |pairs: &[(&str, &str)]| -> Vec<String> {
            routing
                .route(&labels(pairs))
                .into_iter()
                .map(|destination| destination.receiver)
                .collect()
        };
        assert_eq!(to(&[("severity", "warning")]), ["ops"]);
        assert_eq!(to(&[("severity", "critical")]), ["pager"]);
        assert_eq!(
            to(&[("severity", "critical"), ("team", "plant")]),
            ["pager", "plant"]
        );
        assert_eq!(to(&[("severity", "info"), ("team", "plant")]), ["plant"]);
    }

    #[test]
    fn children_inherit_what_they_do_not_set() {
        let routing = routing();
        let pager = &routing.route(&labels(&[("severity", "critical")]))[0];
        assert_eq!(pager.group_by, ["subject"]);
        assert_eq!(pager.group_wait, Duration::from_secs(10));
        assert_eq!(pager.group_interval, Duration::from_secs(300));
        let plant = &routing.route(&labels(&[("team", "plant")]))[0];
        assert_eq!(plant.group_by, ["alertname"]);
        assert_eq!(plant.group_interval, Duration::from_secs(60));
        assert_eq!(plant.repeat_interval, Duration::from_secs(4 * 3600));
    }

    #[test]
    fn a_firing_critical_alert_mutes_the_warnings_of_its_subject_only() {
        let routing = routing();
        let critical = labels(&[("severity", "critical"), ("subject", "s1")]);
        let warning = labels(&[("severity", "warning"), ("subject", "s1")]);
        let other = labels(&[("severity", "warning"), ("subject", "s2")]);
        assert!(routing.inhibited(&warning, &[&critical, &warning]));
        assert!(!routing.inhibited(&other, &[&critical, &other]));
        assert!(!routing.inhibited(&critical, &[&critical]));
    }

    #[test]
    fn a_faster_slo_tier_mutes_the_slower_tiers_of_its_series_only() {
        let routing = routing();
        let tier = |tier: &str, factor: &str, route: &str| {
            labels(&[
                ("alertname", "api"),
                ("slo", "api"),
                ("route", route),
                ("tier", tier),
                ("factor", factor),
                ("severity", "critical"),
            ])
        };
        let fast = tier("fast", "14.4", "/pay");
        let slow = tier("slow", "6", "/pay");
        let other_route = tier("slow", "6", "/cart");
        assert!(routing.inhibited(&slow, &[&fast, &slow, &other_route]));
        assert!(!routing.inhibited(&fast, &[&fast, &slow]));
        assert!(!routing.inhibited(&other_route, &[&fast, &other_route]));
        assert!(!routing.inhibited(&slow, &[&slow]));
    }

    #[test]
    fn a_tree_without_a_root_receiver_or_with_unknown_fields_is_refused() {
        assert!(Routing::parse(r#"{"group_by": ["x"]}"#).is_err());
        assert!(Routing::parse(r#"{"receiver": "a", "routes": [{"mtch": {}}]}"#).is_err());
    }
}
