//! Customers: whom the tenant bills, with their currency, time zone, tax and subjects, and what
//! their current period comes to so far (the upcoming invoices' running total). Customers are
//! created with `tally customer create` or the `createCustomer` mutation.

use leptos::prelude::*;

use crate::data::load_customers;
use crate::layout::{EmptyCard, amounts, page};
use crate::model::CustomerRow;

/// The customers page.
#[component]
pub fn Customers() -> impl IntoView {
    let data = Resource::new(|| (), |()| load_customers());
    page(
        "Customers",
        data,
        |_, customers| view! { <CustomerTable customers=customers /> },
    )
}

#[component]
fn CustomerTable(customers: Vec<CustomerRow>) -> impl IntoView {
    if customers.is_empty() {
        return view! {
            <EmptyCard>
                "No customers yet. A customer owns subjects: their usage on your meters is its usage. Create one with "
                <code>"tally customer create"</code>
                " or the "
                <code>"createCustomer"</code>
                " mutation."
            </EmptyCard>
        }
            .into_any();
    }
    view! {
        <section class="card">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"External id"</th>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Currency"</th>
                        <th scope="col">"Time zone"</th>
                        <th scope="col" class="num">"Tax"</th>
                        <th scope="col">"Subjects"</th>
                        <th scope="col" class="num">"This period so far"</th>
                    </tr>
                </thead>
                <tbody>
                    {customers
                        .into_iter()
                        .map(|customer| {
                            let subjects = if customer.subjects.is_empty() {
                                "—".to_owned()
                            } else {
                                customer.subjects.join(", ")
                            };
                            let running = amounts(&customer.running, "no subscription");
                            view! {
                                <tr>
                                    <td><code>{customer.external_id}</code></td>
                                    <td>
                                        {customer.name}
                                        {customer.email.map(|email| view! { <br /><span class="help">{email}</span> })}
                                    </td>
                                    <td>{customer.currency}</td>
                                    <td>{customer.timezone}</td>
                                    <td class="num">{customer.tax_percent.map_or_else(|| "—".to_owned(), |percent| format!("{percent} %"))}</td>
                                    <td><code>{subjects}</code></td>
                                    <td class="num nowrap">{running}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <p class="help">
                "This period so far: the upcoming invoices' total, with usage up to this minute and the next period's fees billed in advance."
            </p>
        </section>
    }
        .into_any()
}
