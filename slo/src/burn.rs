//! Error budgets and burn rates, computed exactly from counts of good and total events.
//!
//! Every figure here is a ratio of sums: the counts of the minutes in a range are added up
//! first and divided once, in [`Decimal`]s, never floats. An average of per-minute ratios
//! would weigh a quiet minute's one error as much as a busy minute's thousand events.
//!
//! The burn rate of a range is how fast it spends the error budget: its bad fraction divided
//! by the budget. At 1 the budget lasts exactly the SLO's window; at 14.4, 2 % of a 30-day
//! budget goes in an hour.

use std::iter::Sum;
use std::ops::{Add, AddAssign};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

mod tiers;

pub use self::tiers::{TierState, evaluate_tiers};

/// The ranges whose burn rates are reported for an SLO: 5m, 30m, 1h, 2h, 6h, 1d and 3d up to
/// now (the windows of the default tiers and the steps between them).
pub const BURN_RATE_WINDOWS: [Duration; 7] = [
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(24 * 3600),
    Duration::from_secs(3 * 24 * 3600),
];

/// The good and total events of a range (of one minute, as the aggregator keeps them, or many
/// added up). `good` is at most `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Counts {
    /// The good events.
    pub good: u64,
    /// All events, good or bad.
    pub total: u64,
}

impl Counts {
    /// The bad events: the total less the good ones.
    pub fn bad(&self) -> u64 {
        self.total.saturating_sub(self.good)
    }
}

impl Add for Counts {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            good: self.good + other.good,
            total: self.total + other.total,
        }
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl Sum for Counts {
    fn sum<I: Iterator<Item = Self>>(counts: I) -> Self {
        counts.fold(Self::default(), Add::add)
    }
}

impl<'a> Sum<&'a Counts> for Counts {
    fn sum<I: Iterator<Item = &'a Self>>(counts: I) -> Self {
        counts.copied().sum()
    }
}

/// Adds up the counts of the minutes of `series` in `[from, to)`: a minute stamped `from` is
/// in, one stamped `to` is out. The series need not be sorted.
pub fn sum_range(
    series: &[(DateTime<Utc>, Counts)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Counts {
    series
        .iter()
        .filter(|(minute, _)| from <= *minute && *minute < to)
        .map(|(_, counts)| counts)
        .sum()
}

/// Adds up the counts of the `length` up to `end` (exclusive): [`sum_range`] over
/// `[end − length, end)`, as [`evaluate_tiers`] asks for them with `end` the end of the current
/// minute.
pub fn sum_trailing(
    series: &[(DateTime<Utc>, Counts)],
    end: DateTime<Utc>,
    length: Duration,
) -> Counts {
    let length = chrono::Duration::from_std(length).unwrap_or(chrono::Duration::MAX);
    let from = end
        .checked_sub_signed(length)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    sum_range(series, from, end)
}

/// How many bad events the budget allows among `total`: `error_budget × total`, exact.
pub fn allowed_bad(total: u64, error_budget: Decimal) -> Decimal {
    error_budget
        .checked_mul(Decimal::from(total))
        .unwrap_or(Decimal::MAX)
}

/// The burn rate of `counts`: `(bad / total) / error_budget`, divided once as
/// `bad / (error_budget × total)`; `None` without events (or without a budget).
pub fn burn_rate(counts: Counts, error_budget: Decimal) -> Option<Decimal> {
    if counts.total == 0 || error_budget <= Decimal::ZERO {
        return None;
    }
    Decimal::from(counts.bad())
        .checked_div(allowed_bad(counts.total, error_budget))
        .map(|rate| rate.normalize())
}

/// Whether `counts` burn at least `factor` times the budget, compared without dividing:
/// `bad ≥ factor × error_budget × total`. False without events.
pub fn burns_at_least(counts: Counts, error_budget: Decimal, factor: Decimal) -> bool {
    if counts.total == 0 {
        return false;
    }
    match factor.checked_mul(allowed_bad(counts.total, error_budget)) {
        Some(threshold) => Decimal::from(counts.bad()) >= threshold,
        // Past 79 octillion: the division is as close as a decimal gets.
        None => burn_rate(counts, error_budget).is_some_and(|rate| rate >= factor),
    }
}

/// The error budget of a range: how much of it its bad events spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// The events of the range.
    pub total: u64,
    /// The bad ones.
    pub bad: u64,
    /// How many bad events the objective allows among them: `error_budget × total`.
    pub allowed_bad: Decimal,
    /// The share spent, unless too few events make it meaningless.
    pub consumption: Consumption,
}

/// How much of a budget is spent: a ratio only where there are enough events to tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Consumption {
    /// Fewer events than `min_events` (or none): one bad event would swing the ratio, so there
    /// is none.
    TooFewEvents {
        /// The fewest events that make a ratio.
        min_events: u64,
    },
    /// Enough events.
    Measured {
        /// The fraction of the budget spent, `bad / allowed_bad`: above 1 when overspent.
        consumed: Decimal,
        /// The fraction left, `1 − consumed`: below 0 when overspent.
        remaining: Decimal,
    },
}

impl Budget {
    /// The budget of `counts` under `error_budget`, with a ratio only from `min_events` events
    /// on (and never without events).
    pub fn of(counts: Counts, error_budget: Decimal, min_events: u64) -> Self {
        let allowed_bad = allowed_bad(counts.total, error_budget);
        let consumption = if counts.total < min_events.max(1) || allowed_bad <= Decimal::ZERO {
            Consumption::TooFewEvents { min_events }
        } else {
            let consumed = (Decimal::from(counts.bad()) / allowed_bad).normalize();
            Consumption::Measured {
                consumed,
                remaining: Decimal::ONE - consumed,
            }
        };
        Self {
            total: counts.total,
            bad: counts.bad(),
            allowed_bad: allowed_bad.normalize(),
            consumption,
        }
    }
}

/// One point of a burn-down chart: the budget of the window from its start to `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BurnDownPoint {
    /// The end of the step (exclusive).
    pub at: DateTime<Utc>,
    /// The budget of the events from the window's start to `at`.
    pub budget: Budget,
}

/// The budget of `window` (`[start, end)`, as [`Window::bounds`](crate::window::Window::bounds)
/// gives it) at each multiple of `step` since the Unix epoch after its start (each UTC
/// midnight for a day), and at `end`, cumulative from the start. Points with fewer than
/// `min_events` events so far are [`Consumption::TooFewEvents`]. A step under a minute counts
/// as a minute; pass an `end` of now (the end of its minute) to leave out the window's future.
///
/// `series` holds counts stamped with the start of the range they cover, which must not
/// straddle a point: minutes, or the hours or days of the rollup tables with the first one
/// starting at `start`. Each is added at the first point after its stamp, so the points are
/// exact whatever the granularity.
pub fn burn_down(
    series: &[(DateTime<Utc>, Counts)],
    window: (DateTime<Utc>, DateTime<Utc>),
    error_budget: Decimal,
    step: Duration,
    min_events: u64,
) -> Vec<BurnDownPoint> {
    let (start, end) = window;
    let step = i64::try_from(step.as_secs()).unwrap_or(i64::MAX).max(60);
    let mut stamped: Vec<(DateTime<Utc>, Counts)> = series
        .iter()
        .filter(|(stamp, _)| start <= *stamp && *stamp < end)
        .copied()
        .collect();
    stamped.sort_by_key(|(stamp, _)| *stamp);
    let mut stamped = stamped.into_iter().peekable();
    let mut so_far = Counts::default();
    let mut points = Vec::new();
    let mut at = start;
    while at < end {
        let next = at
            .timestamp()
            .div_euclid(step)
            .saturating_add(1)
            .saturating_mul(step);
        at = DateTime::from_timestamp(next, 0).unwrap_or(end).min(end);
        while let Some((_, counts)) = stamped.next_if(|(stamp, _)| *stamp < at) {
            so_far += counts;
        }
        points.push(BurnDownPoint {
            at,
            budget: Budget::of(so_far, error_budget, min_events),
        });
    }
    points
}

#[cfg(test)]
mod tests;
