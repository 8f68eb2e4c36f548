//! One meter: its definition, its last hour per minute, and a usage table over a chosen range,
//! window and grouping.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use leptos_router::params::ParamsMap;
use rust_decimal::prelude::ToPrimitive;

use crate::chart::{Bar, BarChart};
use crate::data::load_meter;
use crate::layout::{count, duration, page, when};
use crate::model::{MeterDetail, UsagePoint, UsageSelection};

const WINDOWS: [&str; 4] = ["MINUTE", "HOUR", "DAY", "MONTH"];
const RANGES: [(u32, &str); 5] = [
    (1, "Last hour"),
    (24, "Last 24 hours"),
    (24 * 7, "Last 7 days"),
    (24 * 30, "Last 30 days"),
    (24 * 90, "Last 90 days"),
];
/// Most rows the usage table shows.
const MAX_ROWS: usize = 500;

/// What the query string asks the usage table for; anything unknown falls back to the last
/// 24 hours by hour.
fn selection(query: &ParamsMap) -> UsageSelection {
    UsageSelection {
        window: query
            .get("window")
            .filter(|window| WINDOWS.contains(&window.as_str()))
            .unwrap_or_else(|| "HOUR".to_owned()),
        hours: query
            .get("hours")
            .and_then(|hours| hours.parse().ok())
            .filter(|hours| RANGES.iter().any(|(range, _)| range == hours))
            .unwrap_or(24),
        group_by: query.get_all("group_by").unwrap_or_default(),
    }
}

/// The meter page, `/meters/:key?window=HOUR&hours=24&group_by=region`.
#[component]
pub fn MeterPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let key = params.get().get("key").unwrap_or_default();
            (key, selection(&query.get()))
        },
        |(key, selection)| load_meter(key, selection),
    );
    page("Meter", data, move |_, detail| {
        view! { <MeterView detail=detail selection=selection(&query.get_untracked()) /> }
    })
}

fn value_text(point: &UsagePoint) -> String {
    point
        .value
        .map_or_else(|| "—".to_owned(), |value| value.normalize().to_string())
}

#[component]
fn MeterView(detail: MeterDetail, selection: UsageSelection) -> impl IntoView {
    let UsageSelection {
        window,
        hours,
        group_by: grouped,
    } = selection;
    let meter = detail.meter;
    let bars: Vec<Bar> = detail
        .last_hour
        .iter()
        .map(|point| {
            Bar::minute(
                point.window_start,
                format!("{} ({} events)", value_text(point), count(point.events)),
                vec![point.value.and_then(|value| value.to_f64()).unwrap_or(0.0)],
            )
        })
        .collect();
    let events: u64 = detail.last_hour.iter().map(|point| point.events).sum();
    let summary = format!(
        "{} per minute over the last hour, from {} events",
        meter.aggregation,
        count(events)
    );
    let mut rows = detail.usage;
    rows.reverse();
    let total_rows = rows.len();
    rows.truncate(MAX_ROWS);
    let group_names: Vec<String> = grouped.clone();
    let action = format!("/meters/{}", meter.key);
    view! {
        <p class="lead">
            <strong>{meter.key.clone()}</strong>
            {format!(
                " · {} of {} over events of type ",
                meter.aggregation,
                meter.value_path.clone().unwrap_or_else(|| "each event".into())
            )}
            <code>{meter.event_type.clone()}</code>
            {format!(" · accepts events up to {} late", duration(meter.allowed_lateness_secs))}
        </p>
        <section class="card">
            <h2>"Last hour"</h2>
            <BarChart bars=bars series=vec![("Value", "accepted")] summary=summary />
            <p class="help">
                {format!(
                    "{} events in the last hour, per minute of event time. Hover a bar for its exact value.",
                    count(events),
                )}
            </p>
        </section>
        <section class="card">
            <h2>"Usage"</h2>
            <form method="get" action=action class="filters">
                <label for="usage-range">"Range"</label>
                <select id="usage-range" name="hours">
                    {RANGES
                        .iter()
                        .map(|(range, label)| view! { <option value=range.to_string() selected=*range == hours>{*label}</option> })
                        .collect_view()}
                </select>
                <label for="usage-window">"Window"</label>
                <select id="usage-window" name="window">
                    {WINDOWS
                        .iter()
                        .map(|name| view! { <option value=*name selected=*name == window>{name.to_lowercase()}</option> })
                        .collect_view()}
                </select>
                {(!meter.group_by.is_empty()).then(|| view! {
                    <fieldset>
                        <legend>"Group by"</legend>
                        {meter
                            .group_by
                            .iter()
                            .map(|group| {
                                let id = format!("group-{}", group.name);
                                view! {
                                    <input type="checkbox" id=id.clone() name="group_by" value=group.name.clone()
                                        checked=grouped.contains(&group.name) />
                                    <label for=id>{group.name.clone()}</label>
                                }
                            })
                            .collect_view()}
                    </fieldset>
                })}
                <button type="submit">"Show"</button>
            </form>
            {if rows.iter().all(|row| row.events == 0) {
                view! { <p class="empty">"No events counted in this range yet."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Window (UTC)"</th>
                                {group_names.iter().map(|name| view! { <th scope="col">{name.clone()}</th> }).collect_view()}
                                <th scope="col" class="num">"Events"</th>
                                <th scope="col" class="num">"Value"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {rows
                                .iter()
                                .filter(|row| row.events > 0)
                                .map(|row| view! {
                                    <tr>
                                        <td>{when(row.window_start)}</td>
                                        {row.groups.iter().map(|group| view! { <td>{group.value.clone()}</td> }).collect_view()}
                                        <td class="num">{count(row.events)}</td>
                                        <td class="num">{value_text(row)}</td>
                                    </tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
            {(total_rows > MAX_ROWS).then(|| view! {
                <p class="help">{format!("Showing the newest {MAX_ROWS} of {total_rows} windows: choose a wider window or a shorter range, or export with GET /v1/usage.csv.")}</p>
            })}
        </section>
    }
}
