//! What the billing pages show: invoices, customers with their running totals, plans. The
//! server fills these in from the API's billing GraphQL and writes amounts out to their
//! currency's minor unit and periods as the days they cover in the customer's time zone, so
//! the pages show them as the invoice's PDF does.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An amount with its currency, written out to the currency's minor unit: `18.45 EUR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// The amount, such as `18.45` or `500` (JPY).
    pub amount: String,
    /// The ISO 4217 code.
    pub currency: String,
}

impl std::fmt::Display for Money {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} {}", self.amount, self.currency)
    }
}

/// An invoice in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRow {
    /// Its id.
    pub id: String,
    /// Its number once finalized.
    pub number: Option<String>,
    /// DRAFT, FINALIZED, PAID or VOID.
    pub status: String,
    /// The customer's name.
    pub customer: String,
    /// The customer's external id.
    pub customer_external_id: String,
    /// The billing period, as days in the customer's time zone.
    pub period: String,
    /// When its period starts: the list is newest first.
    pub period_start: DateTime<Utc>,
    /// Subtotal plus tax.
    pub total: Money,
}

/// A line of an invoice with how it was computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// The charge's name, with its dimension value or late period.
    pub description: String,
    /// The period it bills, as days.
    pub period: String,
    /// The plan version it was priced with.
    pub plan_version: i32,
    /// A usage line's quantity.
    pub quantity: Option<String>,
    /// What it costs.
    pub amount: Money,
    /// How it was computed, a sentence each (the PDF's wording).
    pub explanation: Vec<String>,
}

/// One invoice with its lines and totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDetail {
    /// The invoice as the list shows it.
    pub row: InvoiceRow,
    /// Whether it is a subscription's opening invoice (the first period's flat fees).
    pub opening: bool,
    /// The lines.
    pub lines: Vec<InvoiceLine>,
    /// The sum of the lines.
    pub subtotal: Money,
    /// The tax rate in percent, if the customer pays tax.
    pub tax_percent: Option<String>,
    /// The tax.
    pub tax: Money,
    /// Until when a draft is recomputed.
    pub grace_until: DateTime<Utc>,
    /// When it was finalized.
    pub finalized_at: Option<DateTime<Utc>>,
}

/// A customer with its running total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRow {
    /// Its id.
    pub id: String,
    /// The tenant's own id for it.
    pub external_id: String,
    /// Its name.
    pub name: String,
    /// Where invoices go.
    pub email: Option<String>,
    /// The currency it is billed in.
    pub currency: String,
    /// The time zone its periods follow.
    pub timezone: String,
    /// Tax in percent, if any.
    pub tax_percent: Option<String>,
    /// The subjects whose usage is its usage.
    pub subjects: Vec<String>,
    /// What its upcoming invoices come to so far, per currency; empty without a running
    /// subscription.
    pub running: Vec<Money>,
}

/// A version of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanVersionRow {
    /// Its number.
    pub version: i32,
    /// When it was published; `None` while a draft.
    pub published_at: Option<DateTime<Utc>>,
    /// The currency.
    pub currency: String,
    /// MONTH or YEAR.
    pub interval: String,
    /// Each charge in a sentence.
    pub charges: Vec<String>,
}

/// A plan with its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRow {
    /// Its key.
    pub key: String,
    /// Its name.
    pub name: String,
    /// Its versions, oldest first.
    pub versions: Vec<PlanVersionRow>,
}

/// This period's running total across the tenant's customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningTotals {
    /// How many customers the tenant has.
    pub customers: usize,
    /// The sum of their upcoming invoices, per currency.
    pub totals: Vec<Money>,
}
