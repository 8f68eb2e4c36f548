//! An OpenSLO `SLO` document read into an [`SloSpec`], refusing what Tally cannot honour with
//! the field that says so.

use chrono::{Datelike, NaiveDateTime, Timelike};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_norway::Value;

use super::document::{
    Calendar, Document, GoodSource, Indicator, Objective, RatioMetric, Source, Spec, TimeWindow,
    TotalSource,
};
use super::{SOURCE_TYPE, TIERS_ANNOTATION};
use crate::spec::{IndicatorSpec, SloSpec};
use crate::tier::{Tier, default_tiers};
use crate::window::{MAX_ROLLING_DAYS, Window};

/// What went wrong, naming the field.
type Refusal = String;

/// The SLO of `document`, unchecked (the caller validates it).
pub(super) fn spec_of(document: Document) -> Result<SloSpec, Refusal> {
    let Document { metadata, spec, .. } = document;
    let Spec {
        description,
        indicator,
        indicator_ref,
        time_window,
        budgeting_method,
        objectives,
        alert_policies,
        ..
    } = spec;
    if indicator_ref.is_some() {
        return Err(
            "spec.indicatorRef: Tally reads the indicator inline, as spec.indicator".into(),
        );
    }
    if alert_policies.is_some() {
        return Err(
            "spec.alertPolicies: Tally alerts by the burn-rate tiers of the annotation \
                    tally/tiers (its default tiers without one); remove alertPolicies"
                .into(),
        );
    }
    if budgeting_method != "Occurrences" {
        return Err(format!(
            "spec.budgetingMethod: Tally budgets Occurrences (good events among all), got \
             {budgeting_method:?}"
        ));
    }
    let indicator = indicator.ok_or("spec.indicator: missing (Tally reads it inline)")?;
    let (indicator, group_by) = indicator_of(indicator)?;
    let tiers = match metadata.annotations.get(TIERS_ANNOTATION) {
        Some(json) => serde_json::from_str::<Vec<Tier>>(json)
            .map_err(|error| format!("metadata.annotations.{TIERS_ANNOTATION}: {error}"))?,
        None => default_tiers(),
    };
    Ok(SloSpec {
        name: metadata.name,
        description,
        indicator,
        objective: objective_of(objectives)?,
        window: window_of(time_window)?,
        group_by,
        tiers,
    })
}

/// Tally's indicator and group from a ratio metric of `tally` sources.
fn indicator_of(
    indicator: Indicator,
) -> Result<(IndicatorSpec, Option<crate::spec::GroupBy>), Refusal> {
    const AT: &str = "spec.indicator.spec";
    if indicator.spec.threshold_metric.is_some() {
        return Err(format!(
            "{AT}.thresholdMetric: Tally counts good events among all, as a ratioMetric"
        ));
    }
    let RatioMetric {
        good,
        bad,
        total,
        raw_type,
        raw,
        ..
    } = indicator
        .spec
        .ratio_metric
        .ok_or_else(|| format!("{AT}.ratioMetric: missing"))?;
    if bad.is_some() {
        return Err(format!(
            "{AT}.ratioMetric.bad: Tally counts good events, as good"
        ));
    }
    if raw.is_some() || raw_type.is_some() {
        return Err(format!(
            "{AT}.ratioMetric.raw: Tally counts good and total events"
        ));
    }
    let good_at = format!("{AT}.ratioMetric.good.metricSource");
    let total_at = format!("{AT}.ratioMetric.total.metricSource");
    let good: GoodSource = source_spec(good, &good_at)?;
    let total: TotalSource = source_spec(total, &total_at)?;
    if total.event_type != good.event_type {
        return Err(format!(
            "{total_at}.spec.eventType: Tally counts the good events among the total's, so \
             both are of one type, got {:?} and {:?}",
            good.event_type, total.event_type
        ));
    }
    let indicator = match (good.good, good.value, good.threshold) {
        (Some(condition), None, None) => IndicatorSpec::Ratio {
            event_type: good.event_type,
            good: condition,
        },
        (None, Some(value), Some(threshold)) => IndicatorSpec::Latency {
            event_type: good.event_type,
            value,
            threshold,
        },
        _ => {
            return Err(format!(
                "{good_at}.spec: either good (a condition such as $.status < 500) or value and \
                 threshold (latency)"
            ));
        }
    };
    Ok((indicator, good.group_by))
}

/// The `tally` spec of a metric source at `at`.
fn source_spec<T: DeserializeOwned>(source: Option<Source>, at: &str) -> Result<T, Refusal> {
    let source = source
        .ok_or_else(|| format!("{at}: missing"))?
        .metric_source;
    if source.metric_source_ref.is_some() {
        return Err(format!(
            "{at}.metricSourceRef: Tally reads the source inline"
        ));
    }
    if source.source_type != SOURCE_TYPE {
        return Err(format!(
            "{at}.type: Tally reads its own events, type {SOURCE_TYPE}, got {:?}",
            source.source_type
        ));
    }
    if source.spec == Value::Null {
        return Err(format!("{at}.spec: missing"));
    }
    serde_norway::from_value(source.spec).map_err(|error| format!("{at}.spec: {error}"))
}

/// The one item of a list Tally holds one of, or the refusal `{at}: Tally holds {holds}, got …`.
fn only_one<T>(items: Vec<T>, at: &str, holds: &str) -> Result<T, Refusal> {
    let [item] = <[T; 1]>::try_from(items)
        .map_err(|items| format!("{at}: Tally holds {holds}, got {}", items.len()))?;
    Ok(item)
}

/// The objective, a percent, of the one objective.
fn objective_of(objectives: Vec<Objective>) -> Result<Decimal, Refusal> {
    let objective = only_one(objectives, "spec.objectives", "one objective per SLO")?;
    match (objective.target, objective.target_percent) {
        (Some(target), None) => Ok(target * Decimal::ONE_HUNDRED),
        (None, Some(percent)) => Ok(percent),
        _ => Err("spec.objectives[0]: either target (0.999) or targetPercent (99.9)".into()),
    }
}

/// The window of the one time window.
fn window_of(time_windows: Vec<TimeWindow>) -> Result<Window, Refusal> {
    let time_window = only_one(time_windows, "spec.timeWindow", "an SLO over one window")?;
    const AT: &str = "spec.timeWindow[0]";
    if time_window.is_rolling {
        if time_window.calendar.is_some() {
            return Err(format!("{AT}.calendar: a rolling window has none"));
        }
        return rolling_days(&time_window.duration)
            .map(|days| Window::Rolling { days })
            .ok_or_else(|| {
                format!(
                    "{AT}.duration: a rolling window is 1d to {MAX_ROLLING_DAYS}d (or whole \
                     weeks, 4w), got {:?}",
                    time_window.duration
                )
            });
    }
    if time_window.duration != "1M" {
        return Err(format!(
            "{AT}.duration: a calendar window is one month, 1M, got {:?}",
            time_window.duration
        ));
    }
    if let Some(calendar) = &time_window.calendar {
        check_calendar(calendar)?;
    }
    Ok(Window::CalendarMonth)
}

/// The days of a rolling duration, `28d` or `4w`, within Tally's range.
fn rolling_days(duration: &str) -> Option<u32> {
    let (digits, unit_days) = match duration.strip_suffix('w') {
        Some(weeks) => (weeks, 7),
        None => (duration.strip_suffix('d')?, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let days = digits.parse::<u32>().ok()?.checked_mul(unit_days)?;
    (1..=MAX_ROLLING_DAYS).contains(&days).then_some(days)
}

/// Refuses a calendar whose months do not start at midnight UTC on their first day.
fn check_calendar(calendar: &Calendar) -> Result<(), Refusal> {
    const AT: &str = "spec.timeWindow[0].calendar";
    if !matches!(calendar.time_zone.as_str(), "UTC" | "Etc/UTC") {
        return Err(format!(
            "{AT}.timeZone: Tally's calendar months are UTC, got {:?}",
            calendar.time_zone
        ));
    }
    let start =
        NaiveDateTime::parse_from_str(&calendar.start_time, "%Y-%m-%d %H:%M:%S").map_err(|_| {
            format!(
                "{AT}.startTime: a time such as \"2020-01-01 00:00:00\", got {:?}",
                calendar.start_time
            )
        })?;
    if start.day() != 1 || start.num_seconds_from_midnight() != 0 {
        return Err(format!(
            "{AT}.startTime: Tally's months start on the first at midnight, got {:?}",
            calendar.start_time
        ));
    }
    Ok(())
}
