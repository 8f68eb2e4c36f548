//! The overview: the last hour's ingest rate, accepted against rejected, and the busiest
//! event types; it reloads itself every 30 seconds. When the tenant bills customers, it also
//! shows what this period comes to so far across them (loaded once per visit: it prices every
//! customer's usage).

use leptos::prelude::*;
use leptos_meta::Meta;

use crate::chart::{Bar, BarChart};
use crate::data::{load_overview, load_running_totals};
use crate::layout::{amounts, count, hydrated, page};
use crate::model::{RunningTotals, Traffic};

/// Seconds between reloads.
const REFRESH_SECS: u32 = 30;

/// The overview page.
#[component]
pub fn Overview() -> impl IntoView {
    // In the browser the data is fetched again every REFRESH_SECS; without scripts, the page
    // asks to be reloaded.
    let refreshes = RwSignal::new(0_u32);
    let data = Resource::new(move || refreshes.get(), |_| load_overview());
    let totals = Resource::new(|| (), |()| load_running_totals());
    #[cfg(feature = "hydrate")]
    if let Ok(interval) = set_interval_with_handle(
        move || refreshes.update(|count| *count += 1),
        std::time::Duration::from_secs(u64::from(REFRESH_SECS)),
    ) {
        on_cleanup(move || interval.clear());
    }
    let reload = (!hydrated())
        .then(|| view! { <Meta http_equiv="refresh" content=REFRESH_SECS.to_string() /> });
    view! {
        {reload}
        {page(
            "Overview",
            data,
            move |_, traffic| {
                view! {
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            totals.await.ok().map(|totals| view! { <RunningTotal totals=totals /> })
                        })}
                    </Suspense>
                    <TrafficView traffic=traffic />
                }
            },
        )}
    }
}

/// This period's running total across the customers; nothing without customers.
#[component]
fn RunningTotal(totals: RunningTotals) -> impl IntoView {
    (totals.customers > 0).then(|| {
        let figure = amounts(&totals.totals, "nothing yet");
        let customers = if totals.customers == 1 {
            "1 customer".to_owned()
        } else {
            format!("{} customers", count(totals.customers as u64))
        };
        view! {
            <section class="card stat running">
                <h2>"This period so far"</h2>
                <p class="figure">{figure}</p>
                <p class="help">
                    {format!("The upcoming invoices of your {customers}: usage up to this minute and the next period's fees. ")}
                    <a href="/customers">"Per customer"</a>
                </p>
            </section>
        }
    })
}

#[component]
fn TrafficView(traffic: Traffic) -> impl IntoView {
    let accepted: u64 = traffic.minutes.iter().map(|minute| minute.accepted).sum();
    let rejected: u64 = traffic.minutes.iter().map(|minute| minute.rejected).sum();
    // The last complete minute: the current one is still filling.
    let last_full = traffic
        .minutes
        .iter()
        .rev()
        .nth(1)
        .map_or(0, |minute| minute.accepted);
    let rejected_share = if accepted + rejected == 0 {
        "no events".to_owned()
    } else {
        format!(
            "{:.1} % of all",
            rejected as f64 * 100.0 / (accepted + rejected) as f64
        )
    };
    let rejected_class = if rejected > 0 { "figure bad" } else { "figure" };
    let updated = traffic
        .minutes
        .last()
        .map(|minute| minute.minute.format("%H:%M UTC").to_string())
        .unwrap_or_default();
    let bars: Vec<Bar> = traffic
        .minutes
        .iter()
        .map(|minute| {
            Bar::minute(
                minute.minute,
                format!(
                    "{} accepted, {} rejected",
                    count(minute.accepted),
                    count(minute.rejected)
                ),
                vec![minute.accepted as f64, minute.rejected as f64],
            )
        })
        .collect();
    let summary = format!(
        "Events per minute over the last hour: {} accepted and {} rejected in all",
        count(accepted),
        count(rejected)
    );
    let total_types: u64 = traffic.top_types.iter().map(|row| row.events).sum();
    view! {
        <section class="cards" aria-label="Last hour">
            <div class="card stat">
                <h2>"Ingest rate"</h2>
                <p class="figure">{format!("{:.1}", last_full as f64 / 60.0)}</p>
                <p class="help">"events/s in the last full minute"</p>
            </div>
            <div class="card stat">
                <h2>"Accepted"</h2>
                <p class="figure">{count(accepted)}</p>
                <p class="help">"events in the last hour"</p>
            </div>
            <div class="card stat">
                <h2>"Rejected"</h2>
                <p class=rejected_class>{count(rejected)}</p>
                <p class="help">
                    {rejected_share} " · " <a href="/quarantine">"see why"</a>
                </p>
            </div>
        </section>
        <section class="card">
            <h2>"Events per minute"</h2>
            <BarChart
                bars=bars
                series=vec![("Accepted", "accepted"), ("Rejected", "rejected")]
                summary=summary
            />
            <p class="help">
                {format!("Last hour up to {updated}, by ingest time. This page refreshes every {REFRESH_SECS} s.")}
            </p>
        </section>
        <section class="card">
            <h2>"Top event types"</h2>
            {if traffic.top_types.is_empty() {
                view! {
                    <p class="empty">
                        "No events in the last hour. Send some to "
                        <code>"POST /v1/events"</code>
                        " with an ingest key and they appear here within seconds."
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Type"</th>
                                <th scope="col" class="num">"Events"</th>
                                <th scope="col" class="num">"Share"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {traffic
                                .top_types
                                .into_iter()
                                .map(|row| {
                                    let share = row.events as f64 * 100.0
                                        / total_types.max(1) as f64;
                                    view! {
                                        <tr>
                                            <td><code>{row.event_type}</code></td>
                                            <td class="num">{count(row.events)}</td>
                                            <td class="num">{format!("{share:.1} %")}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
    }
}
