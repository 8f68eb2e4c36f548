//! An invoice as a JSON document: the fields the API's `invoice` query gives (in snake_case,
//! as the REST exports write them), the customer billed, and the lines with their
//! explanations. Amounts are decimal strings as stored, instants RFC 3339 in UTC.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tally_meter::ids::{CustomerId, InvoiceId, SubscriptionId};

use crate::customer::Customer;
use crate::invoice::{Invoice, Line, Status};
use crate::money::Currency;

/// An invoice and its customer, ready to serialize.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceDocument<'a> {
    /// The invoice's id.
    pub id: InvoiceId,
    /// Its number, once finalized.
    pub number: Option<&'a str>,
    /// DRAFT, FINALIZED, PAID or VOID.
    pub status: Status,
    /// The customer billed.
    pub customer: CustomerBlock<'a>,
    /// The subscription billed.
    pub subscription_id: SubscriptionId,
    /// The start of the billing period whose usage it bills.
    pub period_start: DateTime<Utc>,
    /// Its end, exclusive.
    pub period_end: DateTime<Utc>,
    /// The currency.
    pub currency: Currency,
    /// The lines, with how each was computed.
    pub lines: &'a [Line],
    /// The sum of the lines.
    pub subtotal: Decimal,
    /// The tax rate in percent, if the customer pays tax.
    pub tax_percent: Option<Decimal>,
    /// The tax on the subtotal.
    pub tax: Decimal,
    /// Subtotal plus tax.
    pub total: Decimal,
    /// Until when a draft is recomputed.
    pub grace_until: DateTime<Utc>,
    /// When it was finalized.
    pub finalized_at: Option<DateTime<Utc>>,
}

/// Who an invoice bills.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerBlock<'a> {
    /// The customer's id.
    pub id: CustomerId,
    /// The tenant's own id for it.
    pub external_id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Where invoices go.
    pub email: Option<&'a str>,
}

impl<'a> InvoiceDocument<'a> {
    /// Describes an invoice of `customer`.
    pub fn new(invoice: &'a Invoice, customer: &'a Customer) -> Self {
        let computed = &invoice.computed;
        Self {
            id: invoice.id,
            number: invoice.number.as_deref(),
            status: invoice.status,
            customer: CustomerBlock {
                id: customer.id,
                external_id: &customer.external_id,
                name: &customer.name,
                email: customer.email.as_deref(),
            },
            subscription_id: invoice.subscription_id,
            period_start: invoice.period.start,
            period_end: invoice.period.end,
            currency: computed.currency,
            lines: &computed.lines,
            subtotal: computed.subtotal,
            tax_percent: computed.tax_percent,
            tax: computed.tax,
            total: computed.total,
            grace_until: invoice.grace_until,
            finalized_at: invoice.finalized_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::export::fixtures::{customer, invoice};

    #[test]
    fn the_document_holds_the_customer_lines_with_explanations_and_exact_totals() {
        let invoice = invoice(2);
        let customer = customer();
        let document =
            serde_json::to_value(InvoiceDocument::new(&invoice, &customer)).expect("serializes");
        assert_eq!(document["number"], "ACME-000042");
        assert_eq!(document["status"], "FINALIZED");
        assert_eq!(
            document["customer"],
            json!({
                "id": customer.id, "external_id": "crm-1", "name": "Acme (Europe) Ltd.",
                "email": "billing@acme.example",
            })
        );
        assert_eq!(document["period_start"], "2025-12-31T23:00:00Z");
        assert_eq!(document["currency"], "EUR");
        assert_eq!(
            (
                &document["subtotal"],
                &document["tax_percent"],
                &document["tax"],
                &document["total"]
            ),
            (
                &json!("61.50"),
                &json!("19"),
                &json!("11.69"),
                &json!("73.19")
            )
        );
        let usage = &document["lines"][1];
        assert_eq!(usage["description"], "Tokens (model 1)");
        assert_eq!(usage["amount"], "12.50");
        assert_eq!(usage["explanation"]["kind"], "usage");
        assert_eq!(usage["explanation"]["steps"][1]["units"], "500");
        assert_eq!(usage["explanation"]["steps"][1]["unit_price"], "0.005");
    }
}
