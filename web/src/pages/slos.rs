//! SLOs: the tenant's SLOs by name, each with its objective, window, indicator and where it
//! stands now (the budget left per series, or too few events to tell, and the tiers firing);
//! each leads to its page. Also the words both SLO pages use for budgets, rates and states.

use leptos::prelude::*;
use rust_decimal::Decimal;

use crate::data::load_slos;
use crate::layout::{EmptyCard, page};
use crate::model::{SloRow, SloSeries, SloSpecText, Standing, TierRow};

/// The SLOs page.
#[component]
pub fn Slos() -> impl IntoView {
    let data = Resource::new(|| (), |()| load_slos());
    page("SLOs", data, |_, slos| view! { <SloTable slos=slos /> })
}

/// A window as humantime writes it, shortened as the SLO's spec reads: `1day` as `1d`,
/// `3days` as `3d`; `5m` and `6h` as they are.
pub fn window_short(window: &str) -> String {
    window.replace("days", "d").replace("day", "d")
}

/// A share of the budget as a percent: `75 %`, `−100 %`.
pub fn percent(share: Decimal) -> String {
    let text = (share * Decimal::ONE_HUNDRED)
        .round_dp(2)
        .normalize()
        .to_string();
    format!("{} %", text.replace('-', "−"))
}

/// A burn rate rounded to two decimals, or a dash without events.
pub fn rate_text(rate: Option<Decimal>) -> String {
    rate.map_or_else(
        || "—".to_owned(),
        |rate| rate.round_dp(2).normalize().to_string(),
    )
}

/// A series' name: `route=/pay`, or "All events" for an SLO without a group.
pub fn series_name(spec: &SloSpecText, group: Option<&str>) -> String {
    match (spec.group_name(), group) {
        (Some(name), Some(value)) => format!("{name}={value}"),
        (None, Some(value)) => value.to_owned(),
        (_, None) => "All events".to_owned(),
    }
}

/// The budget left in words: `−100 % of the error budget left`, or too few events to tell.
pub fn budget_text(series: &SloSeries) -> String {
    match (series.budget_remaining, series.too_few_events_below) {
        (Some(remaining), _) => format!("{} of the error budget left", percent(remaining)),
        (None, Some(below)) => format!("too few events to tell (fewer than {below})"),
        (None, None) => "too few events to tell".to_owned(),
    }
}

/// A tier's state: `firing`, `firing (inhibited by page-fast)`, `quiet` or `quiet (too few
/// events)`, with the class of its badge.
pub fn tier_state(tier: &TierRow) -> (String, &'static str) {
    match (&tier.inhibited_by, tier.firing, tier.guarded) {
        (Some(by), _, _) => (format!("firing (inhibited by {by})"), "badge alert pending"),
        (None, true, _) => ("firing".to_owned(), "badge alert firing"),
        (None, false, true) => ("quiet (too few events)".to_owned(), "badge muted"),
        (None, false, false) => ("quiet".to_owned(), "badge alert resolved"),
    }
}

/// How to make an SLO, for empty states.
#[component]
pub fn HowToApply() -> impl IntoView {
    view! {
        "SLOs are made with "
        <code>"tally slo apply --tenant TENANT -f FILE"</code>
        " (OpenSLO YAML or Tally's JSON) or the GraphQL mutation "
        <code>"applySlo"</code>
        " with an admin key; see the README's SLOs section."
    }
}

#[component]
fn SloTable(slos: Vec<SloRow>) -> impl IntoView {
    if slos.is_empty() {
        return view! {
            <EmptyCard>
                "No SLOs yet. An SLO promises a share of good events of one type, such as 99 % of "
                <code>"http.request"</code>
                " events with "
                <code>"$.status < 500"</code>
                " over 28 days. "
                <HowToApply />
            </EmptyCard>
        }
        .into_any();
    }
    view! {
        <section class="card">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col" class="num">"Objective"</th>
                        <th scope="col">"Window"</th>
                        <th scope="col">"Events"</th>
                        <th scope="col">"Now"</th>
                    </tr>
                </thead>
                <tbody>
                    {slos.into_iter().map(|row| view! { <SloListRow row=row /> }).collect_view()}
                </tbody>
            </table>
            <p class="help">
                "Each SLO's budget is that of its window so far; its page has the burn-down, burn rates and alert tiers. "
                <HowToApply />
            </p>
        </section>
    }
    .into_any()
}

#[component]
fn SloListRow(row: SloRow) -> impl IntoView {
    let SloRow { slo, standing } = row;
    let href = format!("/slos/{}", slo.name);
    let indicator = &slo.spec.indicator;
    let standing = match &standing {
        Standing::Unknown(reason) => view! { <p class="error">{reason.clone()}</p> }.into_any(),
        Standing::Series(series) if series.is_empty() => {
            view! { <span class="muted">"No events yet"</span> }.into_any()
        }
        Standing::Series(series) => view! {
            <ul class="standing">
                {series
                    .iter()
                    .map(|one| {
                        let overspent = one.budget_remaining.is_some_and(|left| left < Decimal::ZERO);
                        let text = format!(
                            "{}: {}",
                            series_name(&slo.spec, one.group.as_deref()),
                            budget_text(one)
                        );
                        let firing: Vec<String> = one
                            .tiers
                            .iter()
                            .filter(|tier| tier.firing)
                            .map(|tier| tier.tier.clone())
                            .collect();
                        view! {
                            <li>
                                <span class:bad=overspent>{text}</span>
                                {firing
                                    .into_iter()
                                    .map(|tier| view! { " " <span class="badge alert firing">{format!("{tier} firing")}</span> })
                                    .collect_view()}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        .into_any(),
    };
    view! {
        <tr>
            <td class="nowrap"><a href=href>{slo.name.clone()}</a></td>
            <td class="num nowrap">{format!("{} %", slo.objective.normalize())}</td>
            <td>{slo.window.clone()}</td>
            <td class="indicator">
                <code>{indicator.event_type.clone()}</code>
                " good when "
                <code>{indicator.good_condition()}</code>
            </td>
            <td>{standing}</td>
        </tr>
    }
}
