//! How an SLO's error budget went down over its window so far: per series, the budget from the
//! window's start to the end of each day (each hour for a window of a day), read as one usage
//! query of its indicator's rollups, day or hour windows clipped to the window's start so
//! that every point is exact ([`burn_down`]).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use tally_meter::Result;
use tally_meter::analytics::Analytics;
use tally_meter::usage::{Tz, UsageQuery, Window as UsageWindow, floor_minute};

use crate::burn::{BurnDownPoint, Counts, burn_down};
use crate::catalog::Slo;
use crate::status::min_budget_events;
use crate::window::Window;

/// One series' burn-down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesBurnDown {
    /// The group's value, for an SLO with a group.
    pub group: Option<String>,
    /// The budget at the end of each step of the window so far, the last one now.
    pub points: Vec<BurnDownPoint>,
}

/// An SLO's burn-down at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BurnDown {
    /// The whole window `[start, end)`: a chart's axis, with the future after now.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    /// The step between points: a day, or an hour for a window of a day.
    #[serde(with = "crate::duration_text")]
    pub step: Duration,
    /// Per series (one, or one per value of its group; none before its first event).
    pub series: Vec<SeriesBurnDown>,
}

/// Reads `slo`'s burn-down at `at`: its window's budget so far at each UTC midnight (each hour
/// for a one-day window) and at the end of `at`'s minute. Points with fewer events than a
/// budget needs to be a ratio say so ([`min_budget_events`]).
pub async fn burn_down_at(analytics: &Analytics, slo: &Slo, at: DateTime<Utc>) -> Result<BurnDown> {
    let window = slo.spec.window.bounds(at);
    let now = floor_minute(at) + chrono::Duration::minutes(1);
    let (size, step) = match slo.spec.window {
        Window::Rolling { days: 1 } => (UsageWindow::Hour, Duration::from_secs(3600)),
        _ => (UsageWindow::Day, Duration::from_secs(24 * 3600)),
    };
    let so_far = (window.0, window.1.min(now));
    let indicator = slo.indicator();
    let group_by: Vec<String> = indicator
        .group_by
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let usage = analytics
        .usage(
            &indicator.meter(),
            &UsageQuery {
                from: so_far.0,
                to: so_far.1,
                window: size,
                time_zone: Tz::UTC,
                group_by,
                subject: None,
            },
        )
        .await?;
    let mut by_group: BTreeMap<Option<String>, Vec<(DateTime<Utc>, Counts)>> = BTreeMap::new();
    for point in usage {
        let counts = Counts {
            good: point
                .value
                .and_then(|good| good.to_u64())
                .unwrap_or_default(),
            total: point.events,
        };
        by_group
            .entry(point.groups.into_values().next())
            .or_default()
            .push((point.window_start.with_timezone(&Utc), counts));
    }
    let error_budget = slo.spec.error_budget();
    let min_events = min_budget_events(error_budget);
    Ok(BurnDown {
        window,
        step,
        series: by_group
            .into_iter()
            .map(|(group, series)| SeriesBurnDown {
                points: burn_down(&series, so_far, error_budget, step, min_events),
                group,
            })
            .collect(),
    })
}
