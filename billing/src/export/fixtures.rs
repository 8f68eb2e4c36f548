//! An invoice, its customer and the graduated price of its tokens, for the unit tests of the
//! exports and of invoicing.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_meter::ids::{CustomerId, InvoiceId, MeterKey, SubscriptionId, TenantId};

use crate::customer::Customer;
use crate::invoice::{Computed, Explanation, Invoice, Line, Status};
use crate::money::Currency;
use crate::period::Period;
use crate::price::{PriceModel, Tier};

fn d(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("a time")
}

/// January 2026 in Berlin.
fn january() -> Period {
    Period {
        start: utc("2025-12-31T23:00:00Z"),
        end: utc("2026-01-31T23:00:00Z"),
    }
}

/// Acme, billed in Berlin.
pub fn customer() -> Customer {
    Customer {
        id: CustomerId::generate(),
        tenant_id: TenantId::generate(),
        external_id: "crm-1".to_owned(),
        name: "Acme (Europe) Ltd.".to_owned(),
        email: Some("billing@acme.example".to_owned()),
        currency: "EUR".to_owned(),
        timezone: "Europe/Berlin".to_owned(),
        tax_percent: Some(d("19")),
        subjects: Vec::new(),
        created_at: utc("2025-12-01T00:00:00Z"),
    }
}

/// Tokens on two graduated tiers: the first 1,000 at 0.01 each, the rest at 0.005 (1,500 tokens
/// cost 12.50).
pub fn graduated_tokens() -> PriceModel {
    PriceModel::Graduated {
        tiers: vec![
            Tier {
                up_to: Some(d("1000")),
                unit_price: d("0.01"),
                flat_fee: Decimal::ZERO,
            },
            Tier {
                up_to: None,
                unit_price: d("0.005"),
                flat_fee: Decimal::ZERO,
            },
        ],
    }
}

/// January's finalized invoice with `lines` lines: February's platform fee of 49.00, then
/// usage lines "Tokens (model N)" of 1,500 tokens on two graduated tiers, 12.50 each; 19 % tax.
pub fn invoice(lines: usize) -> Invoice {
    let rating = graduated_tokens().rate(d("1500")).expect("rates");
    let mut all = vec![Line {
        description: "Platform fee".to_owned(),
        period: Period {
            start: utc("2026-01-31T23:00:00Z"),
            end: utc("2026-02-28T23:00:00Z"),
        },
        plan_version: 3,
        amount: d("49"),
        explanation: Explanation::Flat {
            amount: d("49"),
            share: Decimal::ONE,
            full_period: january(),
        },
    }];
    for number in 1..lines {
        all.push(Line {
            description: format!("Tokens (model {number})"),
            period: january(),
            plan_version: 3,
            amount: d("12.50"),
            explanation: Explanation::Usage {
                meter: MeterKey::parse("tokens").expect("a key"),
                events: 42,
                quantity: d("1500"),
                allowance: Decimal::ZERO,
                steps: rating.steps.clone(),
                exact: rating.amount,
            },
        });
    }
    let subtotal: Decimal = all.iter().map(|line| line.amount).sum();
    let currency: Currency = "EUR".parse().expect("EUR");
    let tax = currency.round(subtotal * d("0.19"));
    Invoice {
        id: InvoiceId::generate(),
        tenant_id: TenantId::generate(),
        customer_id: CustomerId::generate(),
        subscription_id: SubscriptionId::generate(),
        period: january(),
        opening: false,
        status: Status::Finalized,
        number: Some("ACME-000042".to_owned()),
        computed: Computed {
            currency,
            lines: all,
            measured: Vec::new(),
            subtotal,
            tax_percent: Some(d("19")),
            tax,
            total: subtotal + tax,
        },
        grace_until: utc("2026-02-01T23:00:00Z"),
        finalized_at: Some(utc("2026-02-02T09:30:00Z")),
    }
}
