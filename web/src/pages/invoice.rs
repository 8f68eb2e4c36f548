//! One invoice: its number, customer, period and status, each line with how it was computed
//! (a usage line's meter, events and every step of its price as units × price = amount), the
//! totals, and its downloads as PDF, CSV and JSON.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::data::load_invoice;
use crate::layout::{page, when};
use crate::model::{InvoiceDetail, InvoiceLine};
use crate::pages::invoices::{Status, number_or_draft};

/// The invoice page, `/invoices/:id`.
#[component]
pub fn InvoicePage() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || params.get().get("id").unwrap_or_default(),
        load_invoice,
    );
    page(
        "Invoice",
        data,
        |_, invoice| view! { <InvoiceView invoice=invoice /> },
    )
}

#[component]
fn InvoiceView(invoice: InvoiceDetail) -> impl IntoView {
    let row = invoice.row;
    let state = match (row.status.as_str(), invoice.finalized_at) {
        ("DRAFT", _) => format!(
            "Draft: recomputed by every invoice run until {}, then finalized and numbered.",
            when(invoice.grace_until)
        ),
        (_, Some(at)) => format!("Finalized {}.", when(at)),
        _ => String::new(),
    };
    let download = |extension: &'static str, label: &'static str| {
        let href = format!("/exports/invoices/{}.{extension}", row.id);
        view! { <li><a href=href rel="external" download>{label}</a></li> }
    };
    let tax_label = invoice
        .tax_percent
        .as_ref()
        .map_or_else(|| "Tax".to_owned(), |percent| format!("Tax ({percent} %)"));
    view! {
        <section class="card">
            <h2>
                {number_or_draft(&row)} " " <Status status=row.status.clone() />
                {invoice.opening.then_some(" opening invoice")}
            </h2>
            <dl class="pairs">
                <dt>"Customer"</dt>
                <dd>{row.customer.clone()} " " <code>{row.customer_external_id.clone()}</code></dd>
                <dt>"Period"</dt>
                <dd>{row.period.clone()}</dd>
                <dt>"Total"</dt>
                <dd><strong>{row.total.to_string()}</strong></dd>
            </dl>
            <p class="help">{state}</p>
            <ul class="downloads" aria-label="Downloads">
                {download("pdf", "PDF")}
                {download("csv", "CSV")}
                {download("json", "JSON")}
            </ul>
        </section>
        <section class="card">
            <h2>"Lines"</h2>
            <table class="lines">
                <thead>
                    <tr>
                        <th scope="col">"Line"</th>
                        <th scope="col">"Period"</th>
                        <th scope="col" class="num">"Quantity"</th>
                        <th scope="col" class="num">"Amount"</th>
                    </tr>
                </thead>
                <tbody>
                    {invoice.lines.into_iter().map(|line| view! { <LineRows line=line /> }).collect_view()}
                </tbody>
                <tfoot>
                    <tr>
                        <th scope="row" colspan="3" class="num">"Subtotal"</th>
                        <td class="num nowrap">{invoice.subtotal.to_string()}</td>
                    </tr>
                    <tr>
                        <th scope="row" colspan="3" class="num">{tax_label}</th>
                        <td class="num nowrap">{invoice.tax.to_string()}</td>
                    </tr>
                    <tr class="total">
                        <th scope="row" colspan="3" class="num">"Total"</th>
                        <td class="num nowrap">{row.total.to_string()}</td>
                    </tr>
                </tfoot>
            </table>
        </section>
    }
}

/// A line, and under it how it was computed.
#[component]
fn LineRows(line: InvoiceLine) -> impl IntoView {
    view! {
        <tr class="line">
            <td>{line.description}</td>
            <td class="nowrap">{line.period}</td>
            <td class="num">{line.quantity.unwrap_or_default()}</td>
            <td class="num nowrap">{line.amount.to_string()}</td>
        </tr>
        <tr class="explain">
            <td colspan="4">
                <ul>
                    {line.explanation.into_iter().map(|sentence| view! { <li>{sentence}</li> }).collect_view()}
                    <li>{format!("Plan version {}", line.plan_version)}</li>
                </ul>
            </td>
        </tr>
    }
}
