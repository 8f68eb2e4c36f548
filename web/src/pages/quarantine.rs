//! Quarantine: recent events Tally refused, with the reason and the event as sent.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::data::load_quarantine;
use crate::layout::{EmptyCard, page, when};
use crate::model::QuarantinePage;

/// The quarantine page, `/quarantine?after=CURSOR`.
#[component]
pub fn Quarantine() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(move || query.get().get("after"), load_quarantine);
    page(
        "Quarantine",
        data,
        |_, page| view! { <QuarantineView page=page /> },
    )
}

/// The raw event, indented when it is JSON.
fn pretty(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| raw.to_owned())
}

#[component]
fn QuarantineView(page: QuarantinePage) -> impl IntoView {
    if page.items.is_empty() {
        return view! {
            <EmptyCard>
                "Nothing in quarantine. Events that fail validation, exceed a limit, arrive too late for a meter or lack a meter's value land here with the reason."
            </EmptyCard>
        }
            .into_any();
    }
    view! {
        <section class="card">
            <p class="help">"Newest first. Fix the sender and send the events again: Tally counts each id once."</p>
            <table class="quarantine">
                <thead>
                    <tr>
                        <th scope="col">"Refused at"</th>
                        <th scope="col">"Event id"</th>
                        <th scope="col">"Reason"</th>
                        <th scope="col">"Event as sent"</th>
                    </tr>
                </thead>
                <tbody>
                    {page
                        .items
                        .into_iter()
                        .map(|item| view! {
                            <tr>
                                <td class="nowrap">{when(item.ingest_time)}</td>
                                <td><code>{item.event_id.unwrap_or_else(|| "—".into())}</code></td>
                                <td>{item.reason}</td>
                                <td>
                                    <details>
                                        <summary>"Show"</summary>
                                        <pre>{pretty(&item.raw)}</pre>
                                    </details>
                                </td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
            {page.next_cursor.map(|cursor| {
                let href = format!("/quarantine?after={cursor}");
                view! { <p><a href=href>"Older events →"</a></p> }
            })}
        </section>
    }
        .into_any()
}
