//! The billing pages' data: invoices, one invoice with its explained lines, customers with
//! their running totals, plans with their charges in words, and the overview's running total.
//! Each runs the API's billing GraphQL as the signed-in key, then writes amounts out to their
//! currency's minor unit and explains lines in the words of the invoice's PDF
//! (`tally_billing::export::explain`), so that the web page and the document agree.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use tally_api::auth::Caller;
use tally_billing::export::explain;
use tally_billing::invoice::{Explanation, Line};
use tally_billing::money::Currency;
use tally_billing::period::Period;
use tally_billing::plan::Charge;
use tally_billing::price::{PriceModel, Pricing, Tier};
use tally_meter::usage::{Tz, parse_time_zone};

use super::{decode, detail_answer, page, page_answer, refused, run_coded, signed_in};
use crate::data::ME;
use crate::model::{
    CustomerRow, InvoiceDetail, InvoiceLine, InvoiceRow, Money, Page, PlanRow, PlanVersionRow,
    RunningTotals,
};
use crate::server::state::Web;

const CUSTOMER_FIELDS: &str = "id externalId name email currency timezone taxPercent subjects";
const INVOICE_FIELDS: &str = "id number status customerId periodStart periodEnd currency total";

/// A customer as the API's GraphQL answers.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Customer {
    id: String,
    external_id: String,
    name: String,
    email: Option<String>,
    currency: String,
    timezone: String,
    tax_percent: Option<Decimal>,
    subjects: Vec<String>,
}

impl Customer {
    /// Its billing time zone; UTC if the stored name is unknown (it was checked on creation).
    fn zone(&self) -> Tz {
        parse_time_zone(&self.timezone).unwrap_or(Tz::UTC)
    }
}

/// An invoice as the API's GraphQL answers, with the fields only the detail page asks for.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invoice {
    id: String,
    number: Option<String>,
    status: String,
    customer_id: String,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    currency: String,
    total: Decimal,
    #[serde(default)]
    opening: bool,
    #[serde(default)]
    lines: Vec<Line>,
    #[serde(default)]
    subtotal: Decimal,
    #[serde(default)]
    tax_percent: Option<Decimal>,
    #[serde(default)]
    tax: Decimal,
    #[serde(default)]
    grace_until: Option<DateTime<Utc>>,
    #[serde(default)]
    finalized_at: Option<DateTime<Utc>>,
}

/// An amount written out to its currency's minor unit; as stored if the code is unknown.
fn money(amount: Decimal, currency: &str) -> Money {
    let written = currency
        .parse::<Currency>()
        .map(|known| known.written(amount))
        .unwrap_or_else(|_| amount.to_string());
    Money {
        amount: written,
        currency: currency.to_owned(),
    }
}

/// A number without trailing zeros: `1500`, `0.000333`.
fn number(value: Decimal) -> String {
    value.normalize().to_string()
}

fn row(invoice: &Invoice, customers: &HashMap<String, Customer>) -> InvoiceRow {
    let customer = customers.get(&invoice.customer_id);
    let zone = customer.map_or(Tz::UTC, Customer::zone);
    InvoiceRow {
        id: invoice.id.clone(),
        number: invoice.number.clone(),
        status: invoice.status.clone(),
        customer: customer.map_or_else(
            || invoice.customer_id.clone(),
            |customer| customer.name.clone(),
        ),
        customer_external_id: customer
            .map(|customer| customer.external_id.clone())
            .unwrap_or_default(),
        period: explain::days(
            Period {
                start: invoice.period_start,
                end: invoice.period_end,
            },
            zone,
        ),
        period_start: invoice.period_start,
        total: money(invoice.total, &invoice.currency),
    }
}

fn by_id(customers: Vec<Customer>) -> HashMap<String, Customer> {
    customers
        .into_iter()
        .map(|customer| (customer.id.clone(), customer))
        .collect()
}

/// The tenant's invoices, newest period first.
pub(crate) async fn invoices() -> Result<Page<Vec<InvoiceRow>>, ServerFnError> {
    let (_, _, viewer, value) = page_answer(&format!(
        "{{ {ME} invoices {{ {INVOICE_FIELDS} }} customers {{ {CUSTOMER_FIELDS} }} }}"
    ))
    .await?;
    let listed: Vec<Invoice> = decode(value["invoices"].clone())?;
    let customers = by_id(decode(value["customers"].clone())?);
    let mut rows: Vec<InvoiceRow> = listed
        .iter()
        .map(|invoice| row(invoice, &customers))
        .collect();
    // Stable: within a period the API's order (by number) stays.
    rows.sort_by_key(|row| std::cmp::Reverse(row.period_start));
    Ok(page(viewer, rows))
}

/// One invoice with its explained lines. Another tenant's invoice, an unknown one or an id
/// that is none answers 404, the same as the API's export.
pub(crate) async fn invoice(id: String) -> Result<Page<InvoiceDetail>, ServerFnError> {
    let (viewer, value) = detail_answer(
        &format!(
            "query($id: ID!) {{ {ME} invoice(id: $id) {{ {INVOICE_FIELDS} opening lines \
             subtotal taxPercent tax graceUntil finalizedAt }} \
             customers {{ {CUSTOMER_FIELDS} }} }}"
        ),
        json!({ "id": id }),
        &["NOT_FOUND", "BAD_USER_INPUT"],
        "There is no such invoice.".to_owned(),
    )
    .await?;
    let invoice: Invoice = decode(value["invoice"].clone())?;
    let customers = by_id(decode(value["customers"].clone())?);
    let zone = customers
        .get(&invoice.customer_id)
        .map_or(Tz::UTC, Customer::zone);
    let currency = invoice.currency.as_str();
    let known = currency.parse::<Currency>().ok();
    let lines = invoice
        .lines
        .iter()
        .map(|line| InvoiceLine {
            description: line.description.clone(),
            period: explain::days(line.period, zone),
            plan_version: line.plan_version,
            quantity: match &line.explanation {
                Explanation::Usage { quantity, .. } => Some(number(*quantity)),
                Explanation::Flat { .. }
                | Explanation::Unused { .. }
                | Explanation::LateUsage { .. }
                | Explanation::TrueUp { .. } => None,
            },
            amount: money(line.amount, currency),
            explanation: known
                .map(|known| explain::sentences(line, known, zone))
                .unwrap_or_default(),
        })
        .collect();
    let detail = InvoiceDetail {
        row: row(&invoice, &customers),
        opening: invoice.opening,
        lines,
        subtotal: money(invoice.subtotal, currency),
        tax_percent: invoice.tax_percent.map(number),
        tax: money(invoice.tax, currency),
        grace_until: invoice.grace_until.unwrap_or(invoice.period_end),
        finalized_at: invoice.finalized_at,
    };
    Ok(page(viewer, detail))
}

/// What a customer's upcoming invoices (one per running subscription) come to so far.
async fn running(
    web: &Web,
    caller: Caller,
    customer: &str,
) -> Result<Vec<(String, Decimal)>, ServerFnError> {
    #[derive(Deserialize)]
    struct Upcoming {
        currency: String,
        total: Decimal,
    }
    let value = run_coded(
        web,
        caller,
        "query($id: ID!) { upcomingInvoice(customerId: $id) { currency total } }",
        json!({ "id": customer }),
    )
    .await
    .map_err(refused)?;
    let upcoming: Vec<Upcoming> = decode(value["upcomingInvoice"].clone())?;
    Ok(upcoming
        .into_iter()
        .map(|invoice| (invoice.currency, invoice.total))
        .collect())
}

/// Sums amounts per currency, written out, by currency code.
fn sums(amounts: impl IntoIterator<Item = (String, Decimal)>) -> Vec<Money> {
    let mut by_currency: BTreeMap<String, Decimal> = BTreeMap::new();
    for (currency, amount) in amounts {
        *by_currency.entry(currency).or_default() += amount;
    }
    by_currency
        .into_iter()
        .map(|(currency, amount)| money(amount, &currency))
        .collect()
}

/// The tenant's customers, each with its running total for the current period.
pub(crate) async fn customers() -> Result<Page<Vec<CustomerRow>>, ServerFnError> {
    let (web, caller, viewer, value) =
        page_answer(&format!("{{ {ME} customers {{ {CUSTOMER_FIELDS} }} }}")).await?;
    let listed: Vec<Customer> = decode(value["customers"].clone())?;
    let mut rows = Vec::with_capacity(listed.len());
    for customer in listed {
        let running = sums(running(&web, caller, &customer.id).await?);
        rows.push(CustomerRow {
            id: customer.id,
            external_id: customer.external_id,
            name: customer.name,
            email: customer.email,
            currency: customer.currency,
            timezone: customer.timezone,
            tax_percent: customer.tax_percent.map(number),
            subjects: customer.subjects,
            running,
        });
    }
    Ok(page(viewer, rows))
}

/// This period's running total across the tenant's customers, per currency.
pub(crate) async fn running_totals() -> Result<RunningTotals, ServerFnError> {
    #[derive(Deserialize)]
    struct Listed {
        id: String,
    }
    let (web, caller) = signed_in()?;
    let value = run_coded(&web, caller, "{ customers { id } }", json!({}))
        .await
        .map_err(refused)?;
    let listed: Vec<Listed> = decode(value["customers"].clone())?;
    let mut amounts = Vec::new();
    for customer in &listed {
        amounts.extend(running(&web, caller, &customer.id).await?);
    }
    Ok(RunningTotals {
        customers: listed.len(),
        totals: sums(amounts),
    })
}

/// The tenant's plans with their versions, each charge in a sentence.
pub(crate) async fn plans() -> Result<Page<Vec<PlanRow>>, ServerFnError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Version {
        version: i32,
        currency: String,
        interval: String,
        charges: Vec<Charge>,
        published_at: Option<DateTime<Utc>>,
    }
    #[derive(Deserialize)]
    struct Plan {
        key: String,
        name: String,
        versions: Vec<Version>,
    }
    let (_, _, viewer, value) = page_answer(&format!(
        "{{ {ME} plans {{ key name versions {{ version currency interval charges \
         publishedAt }} }} }}"
    ))
    .await?;
    let listed: Vec<Plan> = decode(value["plans"].clone())?;
    let rows = listed
        .into_iter()
        .map(|plan| PlanRow {
            key: plan.key,
            name: plan.name,
            versions: plan
                .versions
                .into_iter()
                .map(|version| PlanVersionRow {
                    version: version.version,
                    published_at: version.published_at,
                    charges: version
                        .charges
                        .iter()
                        .map(|charge| summary(charge, &version.currency, &version.interval))
                        .collect(),
                    currency: version.currency,
                    interval: version.interval,
                })
                .collect(),
        })
        .collect();
    Ok(page(viewer, rows))
}

/// A charge in a sentence: `Base: 10.00 EUR per month, in advance`, `Units: meter units,
/// graduated: up to 100 at 0.1, the rest at 0.05, per month in arrears`.
fn summary(charge: &Charge, currency: &str, interval: &str) -> String {
    let per = interval.to_lowercase();
    match charge {
        Charge::Flat { name, amount } => {
            format!("{name}: {} per {per}, in advance", money(*amount, currency))
        }
        Charge::Usage { name, meter, price } => {
            let pricing = match &price.pricing {
                Pricing::Single { model } => model_summary(model),
                Pricing::ByDimension {
                    group,
                    models,
                    otherwise,
                } => {
                    let listed: Vec<String> = models
                        .iter()
                        .map(|(value, model)| format!("{group}={value}: {}", model_summary(model)))
                        .collect();
                    format!(
                        "{}; any other {group}: {}",
                        listed.join("; "),
                        model_summary(otherwise)
                    )
                }
            };
            let mut text = format!("{name}: meter {meter}, {pricing}");
            if !price.allowance.is_zero() {
                text.push_str(&format!(", {} units included", number(price.allowance)));
            }
            if let Some(minimum) = price.minimum {
                text.push_str(&format!(", at least {}", money(minimum, currency)));
            }
            text.push_str(&format!(", per {per} in arrears"));
            text
        }
    }
}

fn model_summary(model: &PriceModel) -> String {
    match model {
        PriceModel::Unit { unit_price } => format!("{} per unit", number(*unit_price)),
        PriceModel::Package {
            package_price,
            package_size,
            free_units,
        } => {
            let free = if free_units.is_zero() {
                String::new()
            } else {
                format!(" after {} free units", number(*free_units))
            };
            format!(
                "{} per started package of {} units{free}",
                number(*package_price),
                number(*package_size)
            )
        }
        PriceModel::Graduated { tiers } => format!("graduated: {}", tiers_summary(tiers)),
        PriceModel::Volume { tiers } => format!("volume: {}", tiers_summary(tiers)),
    }
}

fn tiers_summary(tiers: &[Tier]) -> String {
    tiers
        .iter()
        .map(|tier| {
            let bound = tier.up_to.map_or_else(
                || "the rest".to_owned(),
                |up_to| format!("up to {}", number(up_to)),
            );
            let fee = if tier.flat_fee.is_zero() {
                String::new()
            } else {
                format!(" + {} once", number(tier.flat_fee))
            };
            format!("{bound} at {}{fee}", number(tier.unit_price))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charges(json: &str) -> Vec<Charge> {
        serde_json::from_str(json).expect("charges")
    }

    #[test]
    fn charges_read_as_sentences() {
        let listed = charges(
            r#"[{"type": "flat", "name": "Base", "amount": "10"},
                {"type": "usage", "name": "Units", "meter": "units", "pricing": "single",
                 "allowance": "5",
                 "model": {"model": "graduated", "tiers": [
                    {"up_to": "100", "unit_price": "0.10"},
                    {"up_to": null, "unit_price": "0.05", "flat_fee": "1"}]}},
                {"type": "usage", "name": "Calls", "meter": "calls", "pricing": "single",
                 "minimum": "20",
                 "model": {"model": "package", "package_price": "2.00", "package_size": "10"}}]"#,
        );
        let read: Vec<String> = listed
            .iter()
            .map(|charge| summary(charge, "EUR", "MONTH"))
            .collect();
        assert_eq!(
            read,
            vec![
                "Base: 10.00 EUR per month, in advance",
                "Units: meter units, graduated: up to 100 at 0.1, the rest at 0.05 + 1 once, \
                 5 units included, per month in arrears",
                "Calls: meter calls, 2 per started package of 10 units, at least 20.00 EUR, \
                 per month in arrears",
            ]
        );
    }

    #[test]
    fn running_totals_add_up_per_currency() {
        let summed = sums([
            ("EUR".to_owned(), Decimal::new(1190, 2)),
            ("USD".to_owned(), Decimal::new(5, 0)),
            ("EUR".to_owned(), Decimal::new(10, 0)),
        ]);
        let shown: Vec<String> = summed.iter().map(ToString::to_string).collect();
        assert_eq!(shown, vec!["21.90 EUR", "5.00 USD"]);
    }
}
