//! The alert state machine of one series, as Prometheus runs it, plus `resolved`:
//!
//! ```text
//! inactive/resolved ──breach──► pending ──breach held `for`──► firing ──no breach for
//!        ▲                        │                                     `keep_firing_for`──► resolved
//!        └──────no breach─────────┘
//! ```
//!
//! A rule whose `for` is zero fires on its first breach. A firing alert stays firing until it
//! has not breached for `keep_firing_for`, so a value that flaps around the threshold does not
//! resolve and fire again on every evaluation. Nothing here reads a clock: every step is given
//! the evaluation's instant, so a replay gives the same transitions.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Where a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Not breaching (or never seen).
    Inactive,
    /// Breaching, for less than the rule's `for`.
    Pending,
    /// Breaching long enough: notified.
    Firing,
    /// Was firing, and stopped breaching for `keep_firing_for`: notified as resolved.
    Resolved,
}

impl State {
    /// The name stored and shown: `INACTIVE`, `PENDING`, `FIRING` or `RESOLVED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "INACTIVE",
            Self::Pending => "PENDING",
            Self::Firing => "FIRING",
            Self::Resolved => "RESOLVED",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = tally_meter::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::Inactive, Self::Pending, Self::Firing, Self::Resolved]
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| tally_meter::Error::Invalid(format!("{text:?} is not an alert state")))
    }
}

/// A series' state and the instants the machine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Series {
    /// Where it is.
    pub state: State,
    /// When it entered that state.
    pub since: DateTime<Utc>,
    /// When it last breached, if ever.
    pub last_breach: Option<DateTime<Utc>>,
}

impl Series {
    /// A series never evaluated.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            state: State::Inactive,
            since: at,
            last_breach: None,
        }
    }
}

/// How long a rule holds its states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a breach must last before the alert fires.
    pub pending_for: Duration,
    /// How long a firing alert waits without a breach before it resolves.
    pub keep_firing_for: Duration,
}

/// A change of state, to record and notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The evaluation's instant.
    pub at: DateTime<Utc>,
}

/// One evaluation of a series at `at`: whether it breaches now, and the state it moves to,
/// with the transition if it moved.
pub fn step(
    series: Series,
    breaching: bool,
    at: DateTime<Utc>,
    timing: Timing,
) -> (Series, Option<Transition>) {
    let last_breach = if breaching {
        Some(at)
    } else {
        series.last_breach
    };
    let next = match (series.state, breaching) {
        (State::Inactive | State::Resolved, true) if timing.pending_for <= Duration::zero() => {
            State::Firing
        }
        (State::Inactive | State::Resolved, true) => State::Pending,
        (State::Pending, true) if at - series.since >= timing.pending_for => State::Firing,
        (State::Pending, false) => State::Inactive,
        (State::Firing, false)
            if last_breach.is_none_or(|breach| at - breach >= timing.keep_firing_for) =>
        {
            State::Resolved
        }
        (state, _) => state,
    };
    if next == series.state {
        return (
            Series {
                last_breach,
                ..series
            },
            None,
        );
    }
    (
        Series {
            state: next,
            since: at,
            last_breach,
        },
        Some(Transition {
            from: series.state,
            to: next,
            at,
        }),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn minute(n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + n * 60, 0).expect("an instant")
    }

    fn timing(pending: i64, keep: i64) -> Timing {
        Timing {
            pending_for: Duration::minutes(pending),
            keep_firing_for: Duration::minutes(keep),
        }
    }

    /// Runs a series through breaches, one evaluation a minute, and returns its transitions.
    fn run(breaches: &[bool], timing: Timing) -> Vec<(State, State, i64)> {
        let mut series = Series::new(minute(0));
        let mut seen = Vec::new();
        for (n, breaching) in breaches.iter().enumerate() {
            let n = i64::try_from(n).expect("small");
            let (next, transition) = step(series, *breaching, minute(n), timing);
            if let Some(transition) = transition {
                seen.push((transition.from, transition.to, n));
            }
            series = next;
        }
        seen
    }

    #[test]
    fn a_breach_held_for_its_duration_fires_and_resolves_once_it_stops() {
        use State::*;
        let seen = run(&[true, true, true, false, false], timing(2, 0));
        assert_eq!(
            seen,
            vec![
                (Inactive, Pending, 0),
                (Pending, Firing, 2),
                (Firing, Resolved, 3)
            ]
        );
    }

    #[test]
    fn a_breach_shorter_than_its_duration_never_fires() {
        use State::*;
        let seen = run(&[true, false, true, true, false], timing(5, 0));
        assert_eq!(
            seen,
            vec![
                (Inactive, Pending, 0),
                (Pending, Inactive, 1),
                (Inactive, Pending, 2),
                (Pending, Inactive, 4)
            ]
        );
    }

    #[test]
    fn without_a_duration_the_first_breach_fires() {
        use State::*;
        let seen = run(&[true, false, true], timing(0, 0));
        assert_eq!(
            seen,
            vec![
                (Inactive, Firing, 0),
                (Firing, Resolved, 1),
                (Resolved, Firing, 2)
            ]
        );
    }

    #[test]
    fn keep_firing_for_rides_out_a_flapping_value() {
        use State::*;
        let flapping = [true, false, true, false, true, false, false, false];
        let seen = run(&flapping, timing(0, 2));
        assert_eq!(seen, vec![(Inactive, Firing, 0), (Firing, Resolved, 6)]);
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in [
            State::Inactive,
            State::Pending,
            State::Firing,
            State::Resolved,
        ] {
            assert_eq!(state.as_str().parse::<State>().expect("a state"), state);
        }
        assert!("firing".parse::<State>().is_err());
    }

    proptest! {
        /// Against a reference that looks back over the whole history: a series is firing at
        /// minute n exactly when some run of breaches lasted `pending` minutes and the last
        /// breach since is at most `keep` minutes old; transitions only go along the machine's
        /// edges; and firing and resolved alternate.
        #[test]
        fn firing_matches_a_reference_over_the_whole_history(
            breaches in proptest::collection::vec(any::<bool>(), 1..60),
            pending in 0i64..5,
            keep in 0i64..4,
        ) {
            let mut series = Series::new(minute(0));
            let mut notified = Vec::new();
            for (n, breaching) in breaches.iter().enumerate() {
                let n = i64::try_from(n).expect("small");
                let (next, transition) = step(series, *breaching, minute(n), timing(pending, keep));
                if let Some(transition) = transition {
                    let allowed = matches!(
                        (transition.from, transition.to),
                        (State::Inactive | State::Resolved, State::Pending | State::Firing)
                            | (State::Pending, State::Firing | State::Inactive)
                            | (State::Firing, State::Resolved)
                    );
                    prop_assert!(allowed, "{transition:?}");
                    if matches!(transition.to, State::Firing | State::Resolved) {
                        notified.push(transition.to);
                    }
                }
                series = next;
                prop_assert_eq!(series.state == State::Firing, reference_firing(&breaches[..=n as usize], pending, keep));
            }
            for pair in notified.windows(2) {
                prop_assert_ne!(pair[0], pair[1]);
            }
        }
    }

    /// Whether the reference calls the series firing after the evaluations `breaches`: it
    /// fires at the minute a run of breaches has lasted `pending` minutes, and then stays
    /// firing while its newest breach is less than `keep` minutes old.
    fn reference_firing(breaches: &[bool], pending: i64, keep: i64) -> bool {
        let mut firing = false;
        let mut run_start: Option<usize> = None;
        let mut last_breach: Option<usize> = None;
        for (n, breaching) in breaches.iter().enumerate() {
            if *breaching {
                run_start.get_or_insert(n);
                last_breach = Some(n);
            } else if !firing {
                run_start = None;
            }
            if firing {
                let quiet = last_breach.map_or(i64::MAX, |last| (n - last) as i64);
                if !*breaching && quiet >= keep {
                    firing = false;
                    run_start = None;
                }
            } else if let Some(start) = run_start
                && *breaching
                && (n - start) as i64 >= pending
            {
                firing = true;
            }
        }
        firing
    }
}
