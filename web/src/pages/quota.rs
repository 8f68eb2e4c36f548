//! Quota: the tenant's limits and this month's consumption against them, with marks at 80 %
//! and 100 %; admin keys may change them.

use leptos::prelude::*;

use crate::chart::QuotaGauge;
use crate::data::load_quota;
use crate::layout::{FormToken, count, page};
use crate::model::Quota;

/// The quota page.
#[component]
pub fn QuotaPage() -> impl IntoView {
    let data = Resource::new(|| (), |()| load_quota());
    page("Quota", data, |viewer, quota| {
        view! { <QuotaView quota=quota admin=viewer.is_admin() /> }
    })
}

#[component]
fn QuotaView(quota: Quota, admin: bool) -> impl IntoView {
    let consumption = match quota.monthly_events {
        Some(limit) => {
            let share = quota.consumed as f64 * 100.0 / limit.max(1) as f64;
            let state = if share >= 100.0 {
                if quota.monthly_mode == "HARD" {
                    "Over the limit: new events are refused until the next period."
                } else {
                    "Over the limit: events are still accepted, with a warning (soft limit)."
                }
            } else if share >= 80.0 {
                "Past 80 % of the monthly limit."
            } else {
                "Within the monthly limit."
            };
            view! {
                <p class="figure-line">
                    <strong>{count(quota.consumed)}</strong>
                    {format!(" of {} events ({share:.1} %) since {}", count(limit), quota.period_start)}
                </p>
                <QuotaGauge used=quota.consumed limit=limit />
                <p class="help">{state}</p>
            }
                .into_any()
        }
        None => view! {
            <p class="figure-line">
                <strong>{count(quota.consumed)}</strong>
                {format!(" events since {}; no monthly limit.", quota.period_start)}
            </p>
        }
        .into_any(),
    };
    let monthly = quota
        .monthly_events
        .map_or_else(|| "none".to_owned(), count);
    let granted = format!(
        "The operator granted at most {} events/s, a burst of {} and {} monthly events{}: you \
         may lower your limits, not raise them past these.",
        count(quota.granted_rate_per_sec),
        count(quota.granted_burst),
        quota
            .granted_monthly_events
            .map_or_else(|| "unlimited".to_owned(), count),
        if quota.granted_monthly_mode == "HARD" && quota.granted_monthly_events.is_some() {
            " (hard)"
        } else {
            ""
        },
    );
    let form = admin.then(|| {
        let mode = quota.monthly_mode.clone();
        view! {
            <section class="card">
                <h2>"Change limits"</h2>
                <p class="help">{granted}</p>
                <form method="post" action="/quota" class="grid">
                    <FormToken />
                    <label for="quota-rate">"Rate (events/s)"</label>
                    <input id="quota-rate" name="rate_per_sec" required inputmode="numeric" value=quota.rate_per_sec.to_string() />
                    <p class="help">"Sustained events per second; above it ingest answers 429."</p>
                    <label for="quota-burst">"Burst"</label>
                    <input id="quota-burst" name="burst" inputmode="numeric" value=quota.burst.to_string() />
                    <p class="help">"Events allowed at once above the rate. Empty: twice the rate."</p>
                    <label for="quota-monthly">"Monthly events"</label>
                    <input id="quota-monthly" name="monthly_events" inputmode="numeric"
                        value=quota.monthly_events.map(|limit| limit.to_string()).unwrap_or_default() />
                    <p class="help">"Empty: no monthly limit."</p>
                    <label for="quota-mode">"When over"</label>
                    <select id="quota-mode" name="monthly_mode">
                        <option value="HARD" selected=mode == "HARD">"refuse events (hard)"</option>
                        <option value="SOFT" selected=mode == "SOFT">"accept with a warning (soft)"</option>
                    </select>
                    <p class="help"></p>
                    <div class="actions">
                        <button type="submit">"Save limits"</button>
                    </div>
                </form>
            </section>
        }
    });
    view! {
        <section class="card">
            <h2>"This month"</h2>
            {consumption}
        </section>
        <section class="card">
            <h2>"Limits"</h2>
            <dl class="pairs">
                <dt>"Rate"</dt>
                <dd>{format!("{} events/s", count(quota.rate_per_sec))}</dd>
                <dt>"Burst"</dt>
                <dd>{format!("{} events", count(quota.burst))}</dd>
                <dt>"Monthly events"</dt>
                <dd>{monthly}</dd>
                <dt>"When over"</dt>
                <dd>{if quota.monthly_mode == "HARD" { "refuse (hard)" } else { "warn (soft)" }}</dd>
            </dl>
            {quota.is_default.then(|| view! { <p class="help">"These are the platform's default limits: your tenant has none of its own."</p> })}
        </section>
        {form}
    }
}
