//! One SLO: its objective, window and indicator, then per series (one, or one per value of its
//! group) the error budget of its window so far, the budget's burn-down over the whole window
//! against spending it evenly, the burn rates from 5m to 3d and the alert tiers' states.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::data::load_slo;
use crate::layout::{count, page, when};
use crate::model::{BudgetPoint, BurnDown, SloDetail, SloSeries, SloSpecText};
use crate::pages::slos::{
    HowToApply, budget_text, percent, rate_text, series_name, tier_state, window_short,
};

/// The SLO page, `/slos/:name`.
#[component]
pub fn SloPage() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || params.get().get("name").unwrap_or_default(),
        load_slo,
    );
    page("SLO", data, |_, detail| view! { <SloView detail=detail /> })
}

/// `28d` as "28 days, rolling", `month` as "the calendar month (UTC)".
fn window_text(window: &str) -> String {
    match window.strip_suffix('d') {
        Some("1") => "1 day, rolling".to_owned(),
        Some(days) => format!("{days} days, rolling"),
        None if window == "month" => "the calendar month (UTC)".to_owned(),
        None => window.to_owned(),
    }
}

#[component]
fn SloView(detail: SloDetail) -> impl IntoView {
    let SloDetail {
        slo,
        created_at,
        series,
        burn_down,
    } = detail;
    let indicator = slo.spec.indicator.clone();
    let allowed = (Decimal::ONE_HUNDRED - slo.objective).normalize();
    let group = slo
        .spec
        .group_by
        .iter()
        .next()
        .map(|(name, path)| (name.clone(), path.clone()));
    let hourly = burn_down.step == "1h";
    let empty = series.is_empty().then(|| {
        view! {
            <section class="card">
                <p class="empty">
                    "No events yet: no "
                    <code>{indicator.event_type.clone()}</code>
                    {format!(
                        " events have been counted since {}. Events of this type that ingest accepts count from the minute they arrive (up to an hour late).",
                        when(created_at)
                    )}
                </p>
            </section>
        }
    });
    view! {
        <p class="lead">
            <strong>{slo.name.clone()}</strong>
            {format!(" · {} % of ", slo.objective.normalize())}
            <code>{indicator.event_type.clone()}</code>
            {format!(" events good over {}", slo.window)}
        </p>
        {slo.spec.description.clone().map(|description| view! { <p>{description}</p> })}
        <section class="card">
            <h2>"Objective"</h2>
            <dl class="pairs">
                <dt>"Objective"</dt>
                <dd>{format!("{} % of events good: {allowed} % may be bad (the error budget)", slo.objective.normalize())}</dd>
                <dt>"Window"</dt>
                <dd>
                    {format!(
                        "{}: {} to {}",
                        window_text(&slo.window),
                        when(burn_down.window_start),
                        when(burn_down.window_end)
                    )}
                </dd>
                <dt>"Events"</dt>
                <dd><code>{indicator.event_type.clone()}</code></dd>
                <dt>"Good when"</dt>
                <dd><code>{indicator.good_condition()}</code></dd>
                <dt>"Group"</dt>
                <dd>
                    {match group {
                        Some((name, path)) => view! {
                            {name} " (" <code>{path}</code> "): one series per value"
                        }
                            .into_any(),
                        None => view! { "none: one series of all events" }.into_any(),
                    }}
                </dd>
                <dt>"Counting since"</dt>
                <dd>{when(created_at)}</dd>
            </dl>
        </section>
        {empty}
        {series
            .into_iter()
            .map(|one| {
                let points = burn_down
                    .series
                    .iter()
                    .find(|drawn| drawn.group == one.group)
                    .map(|drawn| drawn.points.clone())
                    .unwrap_or_default();
                view! {
                    <SeriesCard
                        series=one
                        spec=slo.spec.clone()
                        objective=slo.objective
                        burn_down=burn_down.clone()
                        points=points
                        hourly=hourly
                    />
                }
            })
            .collect_view()}
        <p class="help"><HowToApply /></p>
    }
    .into_any()
}

#[component]
fn SeriesCard(
    series: SloSeries,
    spec: SloSpecText,
    objective: Decimal,
    burn_down: BurnDown,
    points: Vec<BudgetPoint>,
    hourly: bool,
) -> impl IntoView {
    let overspent = series
        .budget_remaining
        .is_some_and(|left| left < Decimal::ZERO);
    let figure = series
        .budget_remaining
        .map_or_else(|| "—".to_owned(), percent);
    let counts = format!(
        "{} events in the window so far, {} bad, {} allowed by {} %: {}.",
        count(series.total),
        count(series.bad),
        series.allowed_bad.round_dp(2).normalize(),
        objective.normalize(),
        budget_text(&series)
    );
    view! {
        <section class="card">
            <h2>{series_name(&spec, series.group.as_deref())}</h2>
            <p class="figure" class:bad=overspent>{figure}</p>
            <p class="help">{counts}</p>
            <h3>"Budget over the window"</h3>
            <BurnDownChart burn_down=burn_down points=points hourly=hourly />
            <div class="slo-tables">
                <BurnRates series=series.clone() />
                <Tiers series=series spec=spec />
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn BurnRates(series: SloSeries) -> impl IntoView {
    view! {
        <div>
            <h3>"Burn rates"</h3>
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Last"</th>
                        <th scope="col" class="num">"Good"</th>
                        <th scope="col" class="num">"Total"</th>
                        <th scope="col" class="num">"Rate"</th>
                    </tr>
                </thead>
                <tbody>
                    {series
                        .burn_rates
                        .into_iter()
                        .map(|burn| {
                            let fast = burn.rate.is_some_and(|rate| rate > Decimal::ONE);
                            view! {
                                <tr>
                                    <td>{window_short(&burn.window)}</td>
                                    <td class="num">{count(burn.good)}</td>
                                    <td class="num">{count(burn.total)}</td>
                                    <td class="num" class:bad=fast>{rate_text(burn.rate)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <p class="help">"1 spends exactly the budget over the window; above 1 spends it sooner."</p>
        </div>
    }
    .into_any()
}

#[component]
fn Tiers(series: SloSeries, spec: SloSpecText) -> impl IntoView {
    let body = if series.tiers.is_empty() {
        view! { <p class="empty">"This SLO has no alert tiers."</p> }.into_any()
    } else {
        view! {
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Tier"</th>
                        <th scope="col">"Fires at"</th>
                        <th scope="col" class="num">"Long rate"</th>
                        <th scope="col" class="num">"Short rate"</th>
                        <th scope="col">"State"</th>
                    </tr>
                </thead>
                <tbody>
                    {series
                        .tiers
                        .iter()
                        .map(|tier| {
                            let (state, class) = tier_state(tier);
                            let fires_at = spec
                                .tiers
                                .iter()
                                .find(|written| written.name == tier.tier)
                                .map(|written| format!("{}× over {} and {}", written.factor.normalize(), window_short(&written.long), window_short(&written.short)))
                                .unwrap_or_default();
                            view! {
                                <tr>
                                    <td>{tier.tier.clone()} " " <span class="muted">{tier.severity.clone()}</span></td>
                                    <td class="nowrap">{fires_at}</td>
                                    <td class="num">{rate_text(tier.long_rate)}</td>
                                    <td class="num">{rate_text(tier.short_rate)}</td>
                                    <td><span class=class>{state}</span></td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <div>
            <h3>"Alert tiers"</h3>
            {body}
            <p class="help">"A tier fires while the burn rates over both its long and short windows reach its factor; a firing tier mutes the slower ones."</p>
        </div>
    }
    .into_any()
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 24.0;

/// The percent steps of the budget axis, the smallest that gives at most six gridlines.
fn percent_step(span: f64) -> f64 {
    [25.0, 50.0, 100.0, 250.0, 500.0]
        .into_iter()
        .chain((3..12).flat_map(|power| {
            let unit = 10f64.powi(power);
            [unit, 2.5 * unit, 5.0 * unit]
        }))
        .find(|step| span / step <= 6.0)
        .unwrap_or(span)
}

/// The runs of consecutive points with enough events to tell, as (instant, percent left):
/// each is one line of the chart, and a point without a figure is a gap between two.
fn measured_runs(points: &[BudgetPoint]) -> Vec<Vec<(DateTime<Utc>, f64)>> {
    let mut runs: Vec<Vec<(DateTime<Utc>, f64)>> = Vec::new();
    let mut gap = true;
    for point in points {
        match point.budget_remaining.and_then(|left| left.to_f64()) {
            Some(left) => {
                if gap {
                    runs.push(Vec::new());
                }
                if let Some(run) = runs.last_mut() {
                    run.push((point.at, left * 100.0));
                }
                gap = false;
            }
            None => gap = true,
        }
    }
    runs
}

/// The budget left over the whole window: a line through the points that have enough events
/// (a gap where they do not), a dot per point with its figures, the straight line of spending
/// the budget evenly from 100 % at the start to 0 % at the end, and a mark at now.
#[component]
fn BurnDownChart(burn_down: BurnDown, points: Vec<BudgetPoint>, hourly: bool) -> impl IntoView {
    let (start, end) = (burn_down.window_start, burn_down.window_end);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let measured: Vec<(DateTime<Utc>, f64, &BudgetPoint)> = points
        .iter()
        .filter_map(|point| {
            let left = point.budget_remaining?.to_f64()? * 100.0;
            Some((point.at, left, point))
        })
        .collect();
    let lowest = measured
        .iter()
        .map(|(_, left, _)| *left)
        .fold(0.0, f64::min);
    let step = percent_step(100.0 - lowest);
    let bottom = (lowest / step).floor() * step;
    let seconds = (end - start).num_seconds().max(1) as f64;
    let x = |at: DateTime<Utc>| {
        LEFT + ((at - start).num_seconds() as f64 / seconds).clamp(0.0, 1.0) * plot_width
    };
    let y = |left: f64| TOP + (100.0 - left) / (100.0 - bottom) * plot_height;
    let mut ticks: Vec<f64> = (0..)
        .map(|index| bottom + step * f64::from(index))
        .take_while(|value| *value <= 100.0)
        .collect();
    if ticks.last().is_none_or(|last| y(*last) - y(100.0) >= 14.0) {
        ticks.push(100.0);
    }
    let grid = ticks
        .into_iter()
        .map(|value| {
            let at = y(value);
            let label = percent(Decimal::from_f64_retain(value / 100.0).unwrap_or_default());
            view! {
                <line class={if value == 0.0 { "baseline" } else { "grid" }}
                    x1=LEFT.to_string() x2=(WIDTH - RIGHT).to_string()
                    y1=format!("{at:.1}") y2=format!("{at:.1}") />
                <text class="axis" x=(LEFT - 6.0).to_string() y=format!("{:.1}", at + 4.0) text-anchor="end">{label}</text>
            }
        })
        .collect_view();
    let dates = (0..=4)
        .map(|quarter| {
            let at = start + (end - start) * quarter / 4;
            let label = if hourly { at.format("%H:%M").to_string() } else { at.format("%b %-d").to_string() };
            let anchor = match quarter {
                0 => "start",
                4 => "end",
                _ => "middle",
            };
            view! {
                <text class="axis" x=format!("{:.1}", x(at)) y=(HEIGHT - 6.0).to_string() text-anchor=anchor>{label}</text>
            }
        })
        .collect_view();
    let runs = measured_runs(&points)
        .into_iter()
        .map(|run| {
            run.into_iter()
                .map(|(at, left)| (x(at), y(left)))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    let lines = runs
        .into_iter()
        .filter(|run| run.len() > 1)
        .map(|run| {
            let path: Vec<String> = run
                .iter()
                .map(|(px, py)| format!("{px:.1},{py:.1}"))
                .collect();
            view! { <polyline class="burn" points=path.join(" ") /> }
        })
        .collect_view();
    let dots = measured
        .iter()
        .map(|(at, left, point)| {
            let title = format!(
                "{}: {} events, {} bad, {} of the budget left",
                when(*at),
                count(point.total),
                count(point.bad),
                percent(point.budget_remaining.unwrap_or_default())
            );
            view! {
                <circle class="burn-point" cx=format!("{:.1}", x(*at)) cy=format!("{:.1}", y(*left)) r="4">
                    <title>{title}</title>
                </circle>
            }
        })
        .collect_view();
    let now = points.last().map(|point| point.at).filter(|at| *at < end).map(|at| {
        let at_x = format!("{:.1}", x(at));
        view! {
            <line class="now" x1=at_x.clone() x2=at_x.clone() y1=TOP.to_string() y2=(TOP + plot_height).to_string() />
            <text class="axis" x=at_x y=(TOP + 10.0).to_string() dx="4">"now"</text>
        }
    });
    let summary = format!(
        "Error budget left over the window from {} to {}: {} now; the dashed line spends it evenly.",
        when(start),
        when(end),
        points
            .last()
            .and_then(|point| point.budget_remaining)
            .map_or_else(|| "too few events to tell".to_owned(), percent)
    );
    let ideal = (
        format!("{:.1}", x(start)),
        format!("{:.1}", y(100.0)),
        format!("{:.1}", x(end)),
        format!("{:.1}", y(0.0)),
    );
    view! {
        <figure class="chart burn-down">
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=summary>
                {grid}
                {dates}
                <line class="ideal" x1=ideal.0 y1=ideal.1 x2=ideal.2 y2=ideal.3 />
                {now}
                {lines}
                {dots}
            </svg>
            <ul class="legend">
                <li><span class="swatch burn"></span>"Budget left"</li>
                <li><span class="swatch ideal"></span>"Spent evenly"</li>
            </ul>
            <p class="help">
                {format!(
                    "The budget of the window from its start to each {} and to now; a gap where too few events had come to tell. Hover a dot for its figures.",
                    if hourly { "hour" } else { "midnight (UTC)" }
                )}
            </p>
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_axis_has_at_most_six_round_steps() {
        let steps = [
            (100.0, 25.0),
            (200.0, 50.0),
            (500.0, 100.0),
            (1_000.0, 250.0),
            (100_000.0, 25_000.0),
        ];
        for (span, step) in steps {
            assert_eq!(percent_step(span), step, "{span}");
        }
        let windows = [
            ("28d", "28 days, rolling"),
            ("1d", "1 day, rolling"),
            ("month", "the calendar month (UTC)"),
        ];
        for (window, text) in windows {
            assert_eq!(window_text(window), text);
        }
    }

    #[test]
    fn points_without_enough_events_are_gaps_in_the_line() {
        let day =
            |days: i64| DateTime::from_timestamp(1_767_225_600 + days * 86_400, 0).expect("a time");
        let point = |days: i64, left: Option<i64>| BudgetPoint {
            at: day(days),
            total: 1_000,
            bad: 0,
            budget_remaining: left.map(|left| Decimal::new(left, 2)),
        };
        let points = [
            point(1, None),
            point(2, Some(100)),
            point(3, Some(50)),
            point(4, None),
            point(5, Some(-20)),
        ];
        assert_eq!(
            measured_runs(&points),
            vec![vec![(day(2), 100.0), (day(3), 50.0)], vec![(day(5), -20.0)]]
        );
    }
}
