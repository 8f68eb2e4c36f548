//! Where SLOs stand at an instant, from their indicators' counts in ClickHouse: per SLO series
//! (one, or one per value of its group), the error budget of its window so far, the burn rates
//! over [`BURN_RATE_WINDOWS`], and the state of each alert tier.
//!
//! Every figure comes from exact sums of good and total counts over a range ending with the
//! current minute (never from averaging ratios). Each range is read in parts, each from the
//! coarsest rollup table whose buckets its bounds fall on ([`aligned_parts`]): a 28-day window
//! starting on a minute reads an hour of minutes at either end, a day of hours at either end
//! and whole days between, rather than 40,320 minutes; each minute lies in one part, so the
//! parts' counts add up to the range's exactly. One ClickHouse query per distinct part answers
//! for every SLO asked about at once ([`Analytics::window_totals`]), and ranges ending with
//! the same minute share their tail parts, so that measuring a thousand SLOs costs a few
//! dozen queries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use tally_meter::Result;
use tally_meter::analytics::Analytics;
use tally_meter::ids::MeterId;
use tally_meter::meter::Meter;
use tally_meter::usage::floor_minute;

use crate::burn::{BURN_RATE_WINDOWS, Budget, Counts, TierState, burn_rate, evaluate_tiers};
use crate::catalog::Slo;

/// The burn rate over one range up to now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BurnRate {
    /// The range's length.
    #[serde(with = "crate::duration_text")]
    pub window: Duration,
    /// Its good and total events.
    pub counts: Counts,
    /// `(bad / total) / error budget`; none without events.
    pub rate: Option<Decimal>,
}

/// One series of an SLO: the whole SLO, or one value of its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesStatus {
    /// The group's value, for an SLO with a group.
    pub group: Option<String>,
    /// The budget of the SLO's window so far.
    pub budget: Budget,
    /// The burn rates over [`BURN_RATE_WINDOWS`].
    pub burn_rates: Vec<BurnRate>,
    /// The alert tiers, in the SLO's order.
    pub tiers: Vec<TierState>,
}

/// An SLO at an instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    /// The SLO.
    pub slo: Slo,
    /// Its window so far: from the window's start to the end of the current minute.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    /// Its series, by group value; one without a group (none before its first event).
    pub series: Vec<SeriesStatus>,
}

/// The fewest events whose budget is a meaningful ratio: those among which one bad event is
/// within budget, `⌈1 / error budget⌉` (1,000 for 99.9 %).
pub fn min_budget_events(error_budget: Decimal) -> u64 {
    if error_budget <= Decimal::ZERO {
        return u64::MAX;
    }
    (Decimal::ONE / error_budget)
        .ceil()
        .to_u64()
        .unwrap_or(u64::MAX)
}

/// Counts per SLO and group value over one range.
type RangeCounts = HashMap<(MeterId, Option<String>), Counts>;

/// A range of whole minutes, `[from, to)`.
type Range = (DateTime<Utc>, DateTime<Utc>);

/// Splits `[from, to)` (whole minutes) into the contiguous, non-empty parts that the coarsest
/// rollup tables answer: minutes up to the first whole hour, hours up to the first midnight,
/// whole days, then hours and minutes up to `to`. A range without a whole hour is one part of
/// minutes, and one without a whole day has no part of days.
fn aligned_parts(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Range> {
    let first_hour = ceil_to(from, HOUR_SECONDS);
    let last_hour = floor_to(to, HOUR_SECONDS);
    let mut cuts = vec![from];
    if first_hour < last_hour {
        let first_day = ceil_to(first_hour, DAY_SECONDS);
        let last_day = floor_to(last_hour, DAY_SECONDS);
        if first_day < last_day {
            cuts.extend([first_hour, first_day, last_day, last_hour]);
        } else {
            cuts.extend([first_hour, last_hour]);
        }
    }
    cuts.push(to);
    cuts.dedup();
    cuts.windows(2).map(|pair| (pair[0], pair[1])).collect()
}

/// Seconds in an hour and in a day, the buckets of `rollup_hour_v2` and `rollup_day_v2`.
const HOUR_SECONDS: i64 = 3_600;
const DAY_SECONDS: i64 = 86_400;

/// The latest instant at or before `instant` on a multiple of `step` seconds since the epoch.
fn floor_to(instant: DateTime<Utc>, step: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(instant.timestamp().div_euclid(step) * step, 0).unwrap_or(instant)
}

/// The earliest instant at or after `instant` on a multiple of `step` seconds since the epoch.
fn ceil_to(instant: DateTime<Utc>, step: i64) -> DateTime<Utc> {
    let floor = floor_to(instant, step);
    if floor == instant {
        floor
    } else {
        floor + chrono::Duration::seconds(step)
    }
}

/// Measures `slos` at `at`.
pub async fn status(
    analytics: &Analytics,
    slos: &[Slo],
    at: DateTime<Utc>,
) -> Result<Vec<SloStatus>> {
    let end = floor_minute(at) + chrono::Duration::minutes(1);
    let meters: Vec<Meter> = slos.iter().map(|slo| slo.indicator().meter()).collect();
    let all: Vec<&Meter> = meters.iter().collect();
    // The trailing ranges every SLO needs: the reported ones and its tiers' windows.
    let mut lengths: BTreeSet<Duration> = BURN_RATE_WINDOWS.into_iter().collect();
    for slo in slos {
        for tier in &slo.spec.tiers {
            lengths.extend([tier.long, tier.short]);
        }
    }
    let range_of = |length: Duration| {
        (
            end - chrono::Duration::from_std(length).unwrap_or(chrono::TimeDelta::MAX),
            end,
        )
    };
    // The windows so far, by start.
    let starts: BTreeSet<DateTime<Utc>> = slos
        .iter()
        .map(|slo| slo.spec.window.bounds(at).0)
        .collect();
    let ranges: BTreeSet<Range> = lengths
        .iter()
        .map(|length| range_of(*length))
        .chain(starts.iter().map(|start| (*start, end)))
        .collect();
    let parts: BTreeSet<Range> = ranges
        .iter()
        .flat_map(|(from, to)| aligned_parts(*from, *to))
        .collect();
    let mut part_counts: BTreeMap<Range, RangeCounts> = BTreeMap::new();
    for part in parts {
        part_counts.insert(part, counts_over(analytics, &all, part).await?);
    }
    let range_counts = |(from, to): Range| {
        let mut counts = RangeCounts::new();
        for part in aligned_parts(from, to) {
            for (key, part) in &part_counts[&part] {
                *counts.entry(key.clone()).or_default() += *part;
            }
        }
        counts
    };
    let trailing: BTreeMap<Duration, RangeCounts> = lengths
        .into_iter()
        .map(|length| (length, range_counts(range_of(length))))
        .collect();
    let windows: BTreeMap<DateTime<Utc>, RangeCounts> = starts
        .into_iter()
        .map(|start| (start, range_counts((start, end))))
        .collect();
    Ok(slos
        .iter()
        .map(|slo| {
            let start = slo.spec.window.bounds(at).0;
            let window = &windows[&start];
            let id = slo.indicator().id;
            let groups: BTreeSet<Option<String>> = window
                .keys()
                .chain(trailing.values().flat_map(HashMap::keys))
                .filter(|(meter, _)| *meter == id)
                .map(|(_, group)| group.clone())
                .collect();
            let error_budget = slo.spec.error_budget();
            let series = groups
                .into_iter()
                .map(|group| {
                    let key = (id, group.clone());
                    let over = |length: Duration| {
                        trailing
                            .get(&length)
                            .and_then(|counts| counts.get(&key))
                            .copied()
                            .unwrap_or_default()
                    };
                    SeriesStatus {
                        budget: Budget::of(
                            window.get(&key).copied().unwrap_or_default(),
                            error_budget,
                            min_budget_events(error_budget),
                        ),
                        burn_rates: BURN_RATE_WINDOWS
                            .into_iter()
                            .map(|length| BurnRate {
                                window: length,
                                counts: over(length),
                                rate: burn_rate(over(length), error_budget),
                            })
                            .collect(),
                        tiers: evaluate_tiers(&slo.spec.tiers, error_budget, over),
                        group,
                    }
                })
                .collect();
            SloStatus {
                slo: slo.clone(),
                window: (start, end),
                series,
            }
        })
        .collect())
}

/// The good and total counts of every indicator of `meters` over `[from, to)`, per group value.
async fn counts_over(
    analytics: &Analytics,
    meters: &[&Meter],
    range: Range,
) -> Result<RangeCounts> {
    let mut counts: RangeCounts = HashMap::new();
    if meters.is_empty() {
        return Ok(counts);
    }
    for total in analytics.window_totals(meters, range).await? {
        let good = total
            .partial
            .and_then(|good| good.to_u64())
            .unwrap_or_default();
        *counts
            .entry((total.meter_id, total.group_values.into_iter().next()))
            .or_default() += Counts {
            good,
            total: total.events,
        };
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tally_meter::usage::Resolution;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an instant")
    }

    /// The coarsest table whose buckets both bounds of `part` fall on, as the analytics read.
    fn table_of((from, to): Range) -> Resolution {
        Resolution::ALL
            .into_iter()
            .rev()
            .find(|resolution| {
                let seconds = i64::from(resolution.seconds());
                from.timestamp() % seconds == 0 && to.timestamp() % seconds == 0
            })
            .expect("whole minutes")
    }

    #[test]
    fn a_28_day_window_reads_minutes_and_hours_at_its_ends_and_days_between() {
        let parts = aligned_parts(at("2026-10-24T10:56:00Z"), at("2026-11-21T10:57:00Z"));
        let expected = [
            (
                "2026-10-24T10:56:00Z",
                "2026-10-24T11:00:00Z",
                Resolution::Minute,
            ),
            (
                "2026-10-24T11:00:00Z",
                "2026-10-25T00:00:00Z",
                Resolution::Hour,
            ),
            (
                "2026-10-25T00:00:00Z",
                "2026-11-21T00:00:00Z",
                Resolution::Day,
            ),
            (
                "2026-11-21T00:00:00Z",
                "2026-11-21T10:00:00Z",
                Resolution::Hour,
            ),
            (
                "2026-11-21T10:00:00Z",
                "2026-11-21T10:57:00Z",
                Resolution::Minute,
            ),
        ];
        let expected: Vec<(Range, Resolution)> = expected
            .into_iter()
            .map(|(from, to, table)| ((at(from), at(to)), table))
            .collect();
        let read: Vec<(Range, Resolution)> = parts
            .into_iter()
            .map(|part| (part, table_of(part)))
            .collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn short_and_aligned_ranges_are_one_part() {
        let five_minutes = (at("2026-11-21T10:52:00Z"), at("2026-11-21T10:57:00Z"));
        assert_eq!(
            aligned_parts(five_minutes.0, five_minutes.1),
            [five_minutes]
        );
        let across_an_hour = (at("2026-11-21T09:30:00Z"), at("2026-11-21T10:20:00Z"));
        assert_eq!(
            aligned_parts(across_an_hour.0, across_an_hour.1),
            [across_an_hour]
        );
        let month = (at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"));
        assert_eq!(aligned_parts(month.0, month.1), [month]);
    }

    proptest! {
        #[test]
        fn parts_cover_the_range_exactly_each_from_one_table(
            start in 0_i64..200_000,
            minutes in 1_i64..100_000,
        ) {
            let from = at("2026-01-01T00:00:00Z") + chrono::Duration::minutes(start);
            let to = from + chrono::Duration::minutes(minutes);
            let parts = aligned_parts(from, to);
            prop_assert!(!parts.is_empty() && parts.len() <= 5);
            prop_assert_eq!(parts[0].0, from);
            prop_assert_eq!(parts[parts.len() - 1].1, to);
            for pair in parts.windows(2) {
                prop_assert_eq!(pair[0].1, pair[1].0);
            }
            let mut buckets = 0;
            for part in &parts {
                prop_assert!(part.0 < part.1);
                let table = table_of(*part);
                // No coarser bucket fits inside a part read from a finer table, unless the
                // whole range is the part (a range without a whole hour).
                let coarser = match table {
                    Resolution::Minute => Some(HOUR_SECONDS),
                    Resolution::Hour => Some(DAY_SECONDS),
                    Resolution::Day => None,
                };
                if let Some(coarser) = coarser && parts.len() > 1 {
                    prop_assert!(ceil_to(part.0, coarser) >= floor_to(part.1, coarser));
                }
                buckets += (part.1 - part.0).num_seconds() / i64::from(table.seconds());
            }
            // At most an hour of minutes and a day of hours at each end, whole days between.
            prop_assert!(buckets <= 2 * (59 + 23) + minutes / (24 * 60) + 1);
        }
    }
}
