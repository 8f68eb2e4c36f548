//! Plans: the tenant's price plans, each version published (immutable, subscriptions pin it)
//! or a draft, with its currency, interval and charges in words. Plans are drafted and
//! published with `tally plan` or the GraphQL mutations.

use leptos::prelude::*;

use crate::data::load_plans;
use crate::layout::{EmptyCard, page, when};
use crate::model::PlanRow;

/// The plans page.
#[component]
pub fn Plans() -> impl IntoView {
    let data = Resource::new(|| (), |()| load_plans());
    page("Plans", data, |_, plans| {
        if plans.is_empty() {
            return view! {
                <EmptyCard>
                    "No plans yet. A plan prices your meters: flat fees in advance, usage in arrears by unit, package, graduated or volume tiers. Draft one with "
                    <code>"tally plan create"</code>
                    " and publish it with "
                    <code>"tally plan publish"</code>
                    "."
                </EmptyCard>
            }
                .into_any();
        }
        plans
            .into_iter()
            .map(|plan| view! { <PlanCard plan=plan /> })
            .collect_view()
            .into_any()
    })
}

#[component]
fn PlanCard(plan: PlanRow) -> impl IntoView {
    view! {
        <section class="card">
            <h2>{plan.name} " " <code>{plan.key}</code></h2>
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Version"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Currency"</th>
                        <th scope="col">"Interval"</th>
                        <th scope="col">"Charges"</th>
                    </tr>
                </thead>
                <tbody>
                    {plan
                        .versions
                        .into_iter()
                        .map(|version| {
                            let state = version.published_at.map_or_else(
                                || "draft".to_owned(),
                                |at| format!("published {}", when(at)),
                            );
                            view! {
                                <tr>
                                    <td class="num">{version.version}</td>
                                    <td>{state}</td>
                                    <td>{version.currency}</td>
                                    <td>{version.interval.to_lowercase()}</td>
                                    <td>
                                        <ul class="charges">
                                            {version.charges.into_iter().map(|charge| view! { <li>{charge}</li> }).collect_view()}
                                        </ul>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}
