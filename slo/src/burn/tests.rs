//! Tests of the budget and burn-rate math against references written from first principles:
//! lists of single events counted one by one, and fractions compared in integers.

use proptest::prelude::*;

use super::*;
use crate::tier::{Severity, Tier};

/// The minute `n` minutes after a fixed instant.
fn minute(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + n * 60, 0).expect("an instant")
}

/// One event: the minute it falls in and whether it is good.
type Event = (i64, bool);

/// The per-minute series the aggregator would keep for `events`.
fn series_of(events: &[Event]) -> Vec<(DateTime<Utc>, Counts)> {
    let mut series: Vec<(DateTime<Utc>, Counts)> = Vec::new();
    for (at, good) in events {
        let one = Counts {
            good: u64::from(*good),
            total: 1,
        };
        match series
            .iter_mut()
            .find(|(minute_of, _)| *minute_of == minute(*at))
        {
            Some((_, counts)) => *counts += one,
            None => series.push((minute(*at), one)),
        }
    }
    series
}

/// Counts the events in minutes `[from, to)` one by one.
fn count_events(events: &[Event], from: i64, to: i64) -> (u64, u64) {
    let inside: Vec<&Event> = events
        .iter()
        .filter(|(at, _)| from <= *at && *at < to)
        .collect();
    let good = inside.iter().filter(|(_, good)| *good).count();
    (good as u64, inside.len() as u64)
}

/// An objective of `mantissa / 10^scale` percent as its error budget, with the budget as a
/// fraction `numerator / denominator`.
fn budget_of(mantissa: u64, scale: u32) -> (Decimal, u128, u128) {
    let denominator = 10u128.pow(scale + 2);
    let numerator = denominator - u128::from(mantissa);
    let budget = Decimal::from_i128_with_scale(numerator as i128, scale + 2);
    (budget, numerator, denominator)
}

/// Objectives as (mantissa, scale): 0 < mantissa / 10^scale < 100.
fn objectives() -> impl Strategy<Value = (u64, u32)> {
    (0u32..=4).prop_flat_map(|scale| (1u64..100 * 10u64.pow(scale), Just(scale)))
}

fn events(minutes: i64) -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec((0..minutes, proptest::bool::weighted(0.8)), 0..300)
}

#[test]
fn a_range_holds_its_first_minute_and_not_its_end() {
    let at_from = Counts { good: 1, total: 2 };
    let at_to = Counts { good: 5, total: 7 };
    let series = [
        (minute(10), at_from),
        (minute(9), Counts { good: 0, total: 3 }),
        (minute(20), at_to),
    ];
    assert_eq!(sum_range(&series, minute(10), minute(20)), at_from);
    assert_eq!(
        sum_range(&series, minute(9), minute(21)),
        Counts { good: 6, total: 12 }
    );
    assert_eq!(
        sum_range(&series, minute(20), minute(20)),
        Counts::default()
    );
    assert_eq!(
        sum_range(&series, minute(11), minute(20)),
        Counts::default()
    );
}

#[test]
fn burn_rates_divide_the_bad_fraction_by_the_budget() {
    let budget = Decimal::new(1, 3);
    let rate = |good, total| burn_rate(Counts { good, total }, budget);
    assert_eq!(rate(0, 0), None);
    assert_eq!(rate(10, 10), Some(Decimal::ZERO));
    assert_eq!(rate(999, 1000), Some(Decimal::ONE));
    assert_eq!(rate(9856, 10_000), Some(Decimal::new(144, 1)));
    assert_eq!(rate(0, 3), Some(Decimal::from(1000)));
    assert_eq!(burn_rate(Counts { good: 1, total: 2 }, Decimal::ZERO), None);
    let burns = |good, total, factor| burns_at_least(Counts { good, total }, budget, factor);
    assert!(burns(9856, 10_000, Decimal::new(144, 1)));
    assert!(!burns(9857, 10_000, Decimal::new(144, 1)));
    assert!(!burns(0, 0, Decimal::new(1, 4)));
}

/// Uneven traffic: a busy minute with few errors and a quiet one with many. The average of the
/// two minutes' ratios is far from the ratio of the sums, which is what the budget spends.
#[test]
fn rates_are_ratios_of_sums_not_averages_of_ratios() {
    let budget = Decimal::new(1, 2);
    let busy = Counts {
        good: 990,
        total: 1000,
    };
    let quiet = Counts { good: 5, total: 10 };
    let series = [(minute(0), busy), (minute(1), quiet)];
    let averaged = (burn_rate(busy, budget).expect("events")
        + burn_rate(quiet, budget).expect("events"))
        / Decimal::TWO;
    let exact = Decimal::from(15) / Decimal::from(1010) / budget;
    let ours = burn_rate(sum_range(&series, minute(0), minute(2)), budget).expect("events");
    assert_eq!(averaged, Decimal::new(255, 1));
    assert!(
        (ours - exact).abs() < Decimal::new(1, 20),
        "{ours} vs {exact}"
    );
    assert!(
        (averaged - exact).abs() > Decimal::from(20),
        "{averaged} vs {exact}"
    );
}

#[test]
fn a_budget_has_no_ratio_below_its_minimum_of_events() {
    let budget = Decimal::new(1, 2);
    let few = Budget::of(Counts { good: 2, total: 5 }, budget, 10);
    assert_eq!(
        few.consumption,
        Consumption::TooFewEvents { min_events: 10 }
    );
    assert_eq!(
        (few.total, few.bad, few.allowed_bad),
        (5, 3, Decimal::new(5, 2))
    );
    let none = Budget::of(Counts::default(), budget, 0);
    assert_eq!(
        none.consumption,
        Consumption::TooFewEvents { min_events: 0 }
    );
    let spent = Budget::of(
        Counts {
            good: 9_980,
            total: 10_000,
        },
        budget,
        10,
    );
    assert_eq!(spent.allowed_bad, Decimal::from(100));
    assert_eq!(
        spent.consumption,
        Consumption::Measured {
            consumed: Decimal::new(2, 1),
            remaining: Decimal::new(8, 1)
        }
    );
    let overspent = Budget::of(
        Counts {
            good: 9_700,
            total: 10_000,
        },
        budget,
        10,
    );
    assert_eq!(
        overspent.consumption,
        Consumption::Measured {
            consumed: Decimal::from(3),
            remaining: Decimal::from(-2)
        }
    );
    let written = serde_json::to_value(&spent).expect("serializes");
    assert_eq!(written["consumption"]["state"], "measured");
    assert_eq!(written["consumption"]["remaining"], "0.8");
}

#[test]
fn a_burn_down_is_cumulative_per_step_to_the_end() {
    let budget = Decimal::new(1, 1);
    let series = [
        (
            minute(0),
            Counts {
                good: 10,
                total: 10,
            },
        ),
        (minute(59), Counts { good: 8, total: 10 }),
        (minute(60), Counts { good: 0, total: 10 }),
        (minute(150), Counts { good: 0, total: 99 }),
    ];
    let points = burn_down(
        &series,
        (minute(0), minute(150)),
        budget,
        Duration::from_secs(3600),
        1,
    );
    let ats: Vec<DateTime<Utc>> = points.iter().map(|point| point.at).collect();
    assert_eq!(ats, [minute(60), minute(120), minute(150)]);
    let remaining: Vec<Consumption> = points
        .iter()
        .map(|point| point.budget.consumption)
        .collect();
    assert_eq!(
        remaining[0],
        Consumption::Measured {
            consumed: Decimal::ONE,
            remaining: Decimal::ZERO
        }
    );
    assert_eq!(
        remaining[1],
        Consumption::Measured {
            consumed: Decimal::new(4, 0),
            remaining: Decimal::from(-3)
        }
    );
    assert_eq!(points[2].budget.total, 30);
    let empty = burn_down(&[], (minute(0), minute(2)), budget, Duration::ZERO, 1);
    assert_eq!(empty.len(), 2);
    assert_eq!(
        empty[0].budget.consumption,
        Consumption::TooFewEvents { min_events: 1 }
    );
}

fn tier(
    name: &str,
    factor: Decimal,
    long_minutes: u64,
    short_minutes: u64,
    min_events: u64,
) -> Tier {
    Tier {
        name: name.to_owned(),
        severity: Severity::Critical,
        factor,
        long: Duration::from_secs(long_minutes * 60),
        short: Duration::from_secs(short_minutes * 60),
        min_events,
    }
}

#[test]
fn the_fastest_firing_tier_inhibits_the_slower_ones() {
    let tiers = [
        tier("slow", Decimal::ONE, 60, 5, 10),
        tier("fast", Decimal::from(10), 60, 5, 10),
        tier("quiet", Decimal::from(20), 60, 5, 10_000),
    ];
    // Half the events are bad: a burn rate of 50 over both windows.
    let states = evaluate_tiers(&tiers, Decimal::new(1, 2), |_| Counts {
        good: 50,
        total: 100,
    });
    assert!(states.iter().take(2).all(|state| state.firing));
    assert_eq!(states[0].inhibited_by.as_deref(), Some("fast"));
    assert_eq!(states[1].inhibited_by, None);
    assert!(states[1].notifies() && !states[0].notifies());
    assert!(states[2].guarded && !states[2].firing);
    assert_eq!(states[2].long_rate, Some(Decimal::from(50)));
}

#[test]
fn a_tier_needs_both_windows_burning() {
    let tiers = [tier("t", Decimal::from(2), 60, 5, 1)];
    let budget = Decimal::new(1, 1);
    let counts = |long_good| {
        move |window: Duration| {
            if window == Duration::from_secs(3600) {
                Counts {
                    good: long_good,
                    total: 100,
                }
            } else {
                Counts { good: 0, total: 10 }
            }
        }
    };
    assert!(evaluate_tiers(&tiers, budget, counts(80))[0].firing);
    assert!(!evaluate_tiers(&tiers, budget, counts(81))[0].firing);
    let no_events = evaluate_tiers(&tiers, budget, |_| Counts::default());
    assert!(no_events[0].guarded && no_events[0].long_rate.is_none());
}

proptest! {
    /// `sum_range` counts the events of `[from, to)` as counting them one by one does.
    #[test]
    fn ranges_sum_as_their_events(events in events(60), from in 0i64..70, length in 0i64..70) {
        let (good, total) = count_events(&events, from, from + length);
        let summed = sum_range(&series_of(&events), minute(from), minute(from + length));
        prop_assert_eq!(summed, Counts { good, total });
        prop_assert_eq!(summed.bad(), total - good);
    }

    /// Burn rates and budgets agree with the fractions of a reference in integers, and the
    /// comparison with a factor is exact.
    #[test]
    fn rates_and_budgets_match_integer_fractions(
        good in 0u64..5_000,
        bad in 0u64..5_000,
        (mantissa, scale) in objectives(),
        (factor_mantissa, factor_scale) in (1u64..20_000, 0u32..=2),
        min_events in 0u64..50,
    ) {
        let counts = Counts { good, total: good + bad };
        let (budget, numerator, denominator) = budget_of(mantissa, scale);
        let factor = Decimal::new(factor_mantissa as i64, factor_scale);
        let (bad, total) = (u128::from(bad), u128::from(counts.total));
        // Burn rate = bad × denominator / (total × numerator).
        let burns = bad * denominator * 10u128.pow(factor_scale)
            >= u128::from(factor_mantissa) * total * numerator;
        prop_assert_eq!(burns_at_least(counts, budget, factor), total > 0 && burns);
        let budget_state = Budget::of(counts, budget, min_events);
        prop_assert_eq!(
            budget_state.allowed_bad * Decimal::from(denominator as u64),
            Decimal::from(counts.total) * Decimal::from(numerator as u64)
        );
        match burn_rate(counts, budget) {
            None => prop_assert_eq!(total, 0),
            Some(rate) => {
                let reference = Decimal::from_i128_with_scale((bad * denominator) as i128, 0)
                    / Decimal::from_i128_with_scale((total * numerator) as i128, 0);
                prop_assert!((rate - reference).abs() <= reference * Decimal::new(1, 20) + Decimal::new(1, 20));
                prop_assert_eq!(rate >= factor, burns);
            }
        }
        match budget_state.consumption {
            Consumption::TooFewEvents { .. } => prop_assert!(total < u128::from(min_events.max(1))),
            Consumption::Measured { consumed, remaining } => {
                prop_assert!(total >= u128::from(min_events.max(1)));
                prop_assert_eq!(consumed + remaining, Decimal::ONE);
                prop_assert_eq!(consumed > Decimal::ONE, bad * denominator > total * numerator);
                prop_assert_eq!(consumed == Decimal::ZERO, bad == 0);
            }
        }
    }

    /// Each point of a burn-down is the budget of the events from the start to it, at each
    /// multiple of the step and at the end, whether the series is read per minute or per step.
    #[test]
    fn burn_downs_match_their_events(
        events in events(200),
        start in 0i64..50,
        length in 1i64..150,
        step_minutes in 1i64..40,
        per_step in any::<bool>(),
    ) {
        let budget = Decimal::new(5, 2);
        let end = start + length;
        // `minute(n)` is minute 30,000,000 + n since the epoch: the points fall where that is a
        // multiple of the step.
        let epoch_minute = 30_000_000i64;
        let boundaries: Vec<i64> = (start + 1..end)
            .filter(|n| (epoch_minute + n) % step_minutes == 0)
            .chain([end])
            .collect();
        let minutes = series_of(&events);
        // The same events summed per step, stamped with the start of what each sum covers.
        let steps: Vec<(DateTime<Utc>, Counts)> = std::iter::once(start)
            .chain(boundaries.iter().copied())
            .zip(boundaries.iter().copied())
            .map(|(from, to)| (minute(from), sum_range(&minutes, minute(from), minute(to))))
            .collect();
        let series = if per_step { steps } else { minutes };
        let points = burn_down(&series, (minute(start), minute(end)), budget,
                               Duration::from_secs(step_minutes as u64 * 60), 3);
        prop_assert_eq!(points.len(), boundaries.len());
        for (point, at) in points.iter().zip(boundaries) {
            prop_assert_eq!(point.at, minute(at));
            let (good, total) = count_events(&events, start, at);
            prop_assert_eq!(&point.budget, &Budget::of(Counts { good, total }, budget, 3));
        }
    }

    /// Tiers fire, are guarded and inhibited as a reference over single events says: a
    /// window of d minutes holds the events of the last d minutes.
    #[test]
    fn tiers_match_a_reference_over_events(
        ages in events(130),
        specs in proptest::collection::vec(
            ((1u64..100, 0u32..=1), 2u64..120, 0u64..30), 1..5),
        (mantissa, scale) in (0u32..=2).prop_flat_map(|scale| {
            (80 * 10u64.pow(scale)..100 * 10u64.pow(scale), Just(scale))
        }),
    ) {
        let (budget, numerator, denominator) = budget_of(mantissa, scale);
        let tiers: Vec<Tier> = specs.iter().enumerate().map(|(index, ((fm, fs), long, min))| {
            tier(&format!("t{index}"), Decimal::new(*fm as i64, *fs), *long, long / 2 + (index as u64 % 2), *min)
        }).map(|mut tier| { if tier.short >= tier.long { tier.short = Duration::from_secs(60); } tier }).collect();
        let within = |window: Duration| count_events(&ages, 0, (window.as_secs() / 60) as i64);
        let states = evaluate_tiers(&tiers, budget, |window| {
            let (good, total) = within(window);
            Counts { good, total }
        });
        let burning = |(good, total): (u64, u64), tier: &Tier| {
            let scale = tier.factor.scale();
            let bad = u128::from(total - good);
            total > 0 && bad * denominator * 10u128.pow(scale)
                >= tier.factor.mantissa() as u128 * u128::from(total) * numerator
        };
        let firing: Vec<bool> = tiers.iter().map(|tier| {
            let (long, short) = (within(tier.long), within(tier.short));
            long.1 >= tier.min_events && short.1 >= tier.min_events
                && burning(long, tier) && burning(short, tier)
        }).collect();
        for (index, (tier, state)) in tiers.iter().zip(&states).enumerate() {
            let (long, short) = (within(tier.long), within(tier.short));
            prop_assert_eq!(&state.tier, &tier.name);
            prop_assert_eq!(state.guarded, long.1 < tier.min_events || short.1 < tier.min_events);
            prop_assert_eq!(state.firing, firing[index]);
            let largest_above = tiers.iter().zip(&firing)
                .filter(|(other, fires)| **fires && other.factor > tier.factor)
                .map(|(other, _)| other.factor)
                .max();
            let expected = largest_above.filter(|_| firing[index]).map(|largest| {
                tiers.iter().zip(&firing)
                    .find(|(other, fires)| **fires && other.factor == largest)
                    .map(|(other, _)| other.name.clone())
                    .expect("a tier with the largest factor")
            });
            prop_assert_eq!(&state.inhibited_by, &expected);
        }
    }
}
