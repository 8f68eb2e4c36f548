//! Invoices: the tenant's invoices, newest period first, each with its number (or "draft"),
//! customer, period, status and total; each leads to its page.

use leptos::prelude::*;

use crate::data::load_invoices;
use crate::layout::{EmptyCard, page};
use crate::model::InvoiceRow;

/// The invoices page.
#[component]
pub fn Invoices() -> impl IntoView {
    let data = Resource::new(|| (), |()| load_invoices());
    page(
        "Invoices",
        data,
        |_, invoices| view! { <InvoiceTable invoices=invoices /> },
    )
}

/// An invoice's number, or "draft" until it is finalized.
pub fn number_or_draft(row: &InvoiceRow) -> String {
    row.number.clone().unwrap_or_else(|| "draft".to_owned())
}

/// An invoice's status badge: draft, finalized, paid or void.
#[component]
pub fn Status(
    /// DRAFT, FINALIZED, PAID or VOID.
    status: String,
) -> impl IntoView {
    let status = status.to_lowercase();
    view! { <span class=format!("badge status {status}")>{status.clone()}</span> }
}

#[component]
fn InvoiceTable(invoices: Vec<InvoiceRow>) -> impl IntoView {
    if invoices.is_empty() {
        return view! {
            <EmptyCard>
                "No invoices yet. Each subscription gets one per billing period when the period ends: a draft, recomputed until its grace period ends, then finalized and numbered. "
                <code>"tally invoice run"</code>
                " runs them by hand."
            </EmptyCard>
        }
            .into_any();
    }
    view! {
        <section class="card">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Number"</th>
                        <th scope="col">"Customer"</th>
                        <th scope="col">"Period"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col" class="num">"Total"</th>
                    </tr>
                </thead>
                <tbody>
                    {invoices
                        .into_iter()
                        .map(|row| {
                            let href = format!("/invoices/{}", row.id);
                            view! {
                                <tr>
                                    <td><a href=href>{number_or_draft(&row)}</a></td>
                                    <td>
                                        {row.customer.clone()}
                                        " "
                                        <code class="muted">{row.customer_external_id.clone()}</code>
                                    </td>
                                    <td class="nowrap">{row.period.clone()}</td>
                                    <td><Status status=row.status.clone() /></td>
                                    <td class="num nowrap">{row.total.to_string()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <p class="help">"Newest period first. Periods are days in the customer's time zone."</p>
        </section>
    }
        .into_any()
}
