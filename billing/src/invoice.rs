//! An invoice's lines and totals, computed from a plan version, its periods and the usage in
//! them: exact, rounded once per line, and each line able to say how it was computed.
//!
//! An invoice covers one billing period of a subscription. Usage charges bill that period's
//! usage (in arrears); flat fees bill the period that follows it (in advance), prorated when
//! the subscription covers only part of it. Tax is a percentage of the subtotal, rounded once.
//! The total is the subtotal plus tax, so an invoice adds up on paper.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_meter::ids::{CustomerId, InvoiceId, MeterKey, SubscriptionId, TenantId};
use tally_meter::{Error, Result};

use crate::money::Currency;
use crate::period::{BillingPeriod, Period};
use crate::plan::{Charge, PlanVersion};
use crate::price::Step;

/// What a charge's meter measured in a period: its value per dimension value (one entry under
/// `""` without dimension prices) and the events counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measured {
    /// The meter's value per value of the dimension group.
    pub quantities: BTreeMap<String, Decimal>,
    /// Events counted.
    pub events: u64,
}

/// How a line came about, for `tally invoice explain` and the invoice's detail page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Explanation {
    /// A flat fee: the plan's amount times the share of the period covered.
    Flat {
        /// The fee for a whole period.
        amount: Decimal,
        /// The share of the full period the subscription covers.
        share: Decimal,
        /// The full period.
        full_period: Period,
    },
    /// A meter's usage, priced.
    Usage {
        /// The meter.
        meter: MeterKey,
        /// Events the meter counted in the period (all dimension values).
        events: u64,
        /// The period's quantity of this line.
        quantity: Decimal,
        /// Units included in the plan, deducted first.
        allowance: Decimal,
        /// The arithmetic, step by step.
        steps: Vec<Step>,
        /// The exact amount before rounding.
        exact: Decimal,
    },
    /// A flat fee billed in advance for time the subscription no longer covers, credited.
    Unused {
        /// The fee for a whole period.
        amount: Decimal,
        /// The share of the full period it was billed for.
        billed_share: Decimal,
        /// The share the subscription covers.
        share: Decimal,
        /// The full period.
        full_period: Period,
    },
    /// Usage of a finalized period that changed after it was billed: what the charge comes
    /// to now less what was billed.
    LateUsage {
        /// The meter.
        meter: MeterKey,
        /// What the invoices so far billed.
        billed: Measured,
        /// What the meter measures now.
        now: Measured,
        /// What the charge came to as billed.
        billed_amount: Decimal,
        /// What it comes to now.
        amount_now: Decimal,
    },
    /// What a charge's lines came to below its minimum commitment.
    TrueUp {
        /// The minimum.
        minimum: Decimal,
        /// What the charge's lines came to.
        charged: Decimal,
    },
}

/// A line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The charge's name, with the dimension value when it has one: "Tokens (model=gpt-5)".
    pub description: String,
    /// The period the line bills.
    pub period: Period,
    /// The plan version it was priced with.
    pub plan_version: i32,
    /// What it costs, rounded to the currency's minor unit.
    pub amount: Decimal,
    /// How.
    pub explanation: Explanation,
}

/// An invoice's lines and totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computed {
    /// The currency.
    pub currency: Currency,
    /// The lines, flat fees first, in the plan's order of charges.
    pub lines: Vec<Line>,
    /// What each usage charge measured in each period the invoice bills.
    pub measured: Vec<Billed>,
    /// The sum of the lines.
    pub subtotal: Decimal,
    /// The tax rate in percent, if the customer pays tax.
    pub tax_percent: Option<Decimal>,
    /// The tax on the subtotal, rounded once.
    pub tax: Decimal,
    /// Subtotal plus tax.
    pub total: Decimal,
}

named_enum! {
    invalid = "an invoice's status is DRAFT, FINALIZED, PAID or VOID";
    /// Where an invoice is in its life.
    pub enum Status {
        /// Recomputed by every run until its grace period ends.
        Draft,
        /// Numbered and frozen.
        Finalized,
        /// Paid.
        Paid,
        /// Cancelled after it was finalized.
        Void,
    }
}

/// An invoice, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Its id.
    pub id: InvoiceId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The customer billed.
    pub customer_id: CustomerId,
    /// The subscription billed.
    pub subscription_id: SubscriptionId,
    /// The billing period whose usage it bills.
    pub period: Period,
    /// Where it is in its life.
    pub status: Status,
    /// Whether it is the subscription's opening invoice, billing the first period's flat fees
    /// in advance.
    pub opening: bool,
    /// Its number, such as `ACME-000123`, once finalized.
    pub number: Option<String>,
    /// Its lines and totals.
    pub computed: Computed,
    /// Until when a draft is recomputed.
    pub grace_until: DateTime<Utc>,
    /// When it was finalized.
    pub finalized_at: Option<DateTime<Utc>>,
}

/// What an invoice bills: the plan version, the usage of the period it closes (none for a
/// subscription's opening invoice), the period whose flat fees it bills in advance, flat fees
/// billed for time the subscription no longer covers, and late usage of periods already
/// finalized.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The subscription's plan version.
    pub version: &'a PlanVersion,
    /// The period whose usage the invoice bills, and what each usage charge measured in it
    /// (keyed by charge name; a charge without an entry measured nothing).
    pub usage: Option<(BillingPeriod, BTreeMap<String, Measured>)>,
    /// The period whose flat fees the invoice bills in advance.
    pub advance: Option<BillingPeriod>,
    /// Flat fees billed in advance for more of a period than the subscription covers.
    pub unused: Vec<Unused>,
    /// Usage of finalized periods that changed after they were billed.
    pub late: Vec<LateUsage>,
    /// The customer's tax rate in percent.
    pub tax_percent: Option<Decimal>,
}

/// A flat fee billed in advance for a share of a period the subscription no longer covers,
/// since it was cancelled or changed plan: credited back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    /// The charge's name.
    pub charge: String,
    /// The fee for a whole period.
    pub amount: Decimal,
    /// The share of the full period it was billed for.
    pub billed_share: Decimal,
    /// What the subscription covers of the period now.
    pub period: BillingPeriod,
}

/// A usage charge's measurement of a finalized period, as billed and as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateUsage {
    /// The period.
    pub period: Period,
    /// The charge's name.
    pub charge: String,
    /// What the invoices so far billed.
    pub billed: Measured,
    /// What the meter measures now.
    pub now: Measured,
}

/// What a usage charge's meter measured in a period, as an invoice billed it: for the period
/// the invoice closes, and for each period whose late usage it adjusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billed {
    /// The period measured.
    pub period: Period,
    /// The charge's name.
    pub charge: String,
    /// What its meter measured.
    pub measured: Measured,
}

/// Computes an invoice's lines and totals: flat fees in advance first, then credits for unused
/// time, the usage charges in the plan's order, and adjustments for late usage.
pub fn compute(inputs: &Inputs<'_>) -> Result<Computed> {
    let version = inputs.version;
    let currency = version.spec.currency;
    let mut lines = Vec::new();
    let mut measured = Vec::new();
    if let Some(period) = &inputs.advance {
        for charge in &version.spec.charges {
            if let Charge::Flat { name, amount } = charge {
                let share = period.share();
                lines.push(Line {
                    description: name.clone(),
                    period: period.covered,
                    plan_version: version.version,
                    amount: currency.round(checked(amount.checked_mul(share))?),
                    explanation: Explanation::Flat {
                        amount: *amount,
                        share,
                        full_period: period.full,
                    },
                });
            }
        }
    }
    for unused in &inputs.unused {
        let share = unused.period.share();
        let unused_share = unused.billed_share - share;
        lines.push(Line {
            description: format!("{}: unused time", unused.charge),
            period: Period {
                start: unused.period.covered.end,
                end: unused.period.full.end,
            },
            plan_version: version.version,
            amount: -currency.round(checked(unused.amount.checked_mul(unused_share))?),
            explanation: Explanation::Unused {
                amount: unused.amount,
                billed_share: unused.billed_share,
                share,
                full_period: unused.period.full,
            },
        });
    }
    if let Some((period, by_charge)) = &inputs.usage {
        for charge in &version.spec.charges {
            let Charge::Usage { name, meter, price } = charge else {
                continue;
            };
            let charge_measured = by_charge.get(name).cloned().unwrap_or_default();
            let rated = price.rate(&charge_measured.quantities, &currency)?;
            for line in rated.lines {
                let description = match &line.dimension {
                    Some(value) => format!("{name} ({value})"),
                    None => name.clone(),
                };
                lines.push(Line {
                    description,
                    period: period.covered,
                    plan_version: version.version,
                    amount: line.amount,
                    explanation: Explanation::Usage {
                        meter: meter.clone(),
                        events: charge_measured.events,
                        quantity: line.quantity,
                        allowance: line.allowance,
                        steps: line.rating.steps,
                        exact: line.rating.amount,
                    },
                });
            }
            if let (Some(true_up), Some(minimum)) = (rated.true_up, price.minimum) {
                lines.push(Line {
                    description: format!("{name}: minimum commitment"),
                    period: period.covered,
                    plan_version: version.version,
                    amount: true_up,
                    explanation: Explanation::TrueUp {
                        minimum,
                        charged: minimum - true_up,
                    },
                });
            }
            measured.push(Billed {
                period: period.covered,
                charge: name.clone(),
                measured: charge_measured,
            });
        }
    }
    for late in &inputs.late {
        let Some((meter, price)) = version.spec.charges.iter().find_map(|charge| match charge {
            Charge::Usage { name, meter, price } if *name == late.charge => Some((meter, price)),
            _ => None,
        }) else {
            continue;
        };
        let billed_amount = price.rate(&late.billed.quantities, &currency)?.amount;
        let amount_now = price.rate(&late.now.quantities, &currency)?.amount;
        lines.push(Line {
            description: format!(
                "{}: late usage, {} to {}",
                late.charge,
                late.period.start.format("%Y-%m-%d %H:%M UTC"),
                late.period.end.format("%Y-%m-%d %H:%M UTC")
            ),
            period: late.period,
            plan_version: version.version,
            amount: checked(amount_now.checked_sub(billed_amount))?,
            explanation: Explanation::LateUsage {
                meter: meter.clone(),
                billed: late.billed.clone(),
                now: late.now.clone(),
                billed_amount,
                amount_now,
            },
        });
        measured.push(Billed {
            period: late.period,
            charge: late.charge.clone(),
            measured: late.now.clone(),
        });
    }
    let subtotal = lines
        .iter()
        .try_fold(Decimal::ZERO, |sum, line| sum.checked_add(line.amount));
    let subtotal = checked(subtotal)?;
    let tax = match inputs.tax_percent {
        Some(percent) => currency.round(checked(
            subtotal
                .checked_mul(percent)
                .and_then(|taxed| taxed.checked_div(Decimal::ONE_HUNDRED)),
        )?),
        None => Decimal::ZERO,
    };
    Ok(Computed {
        currency,
        lines,
        measured,
        subtotal,
        tax_percent: inputs.tax_percent,
        tax,
        total: checked(subtotal.checked_add(tax))?,
    })
}

fn checked(value: Option<Decimal>) -> Result<Decimal> {
    value.ok_or_else(|| {
        Error::Invalid("an amount is too large for a decimal of 28 digits".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::fixtures::graduated_tokens;
    use crate::plan::{Interval, VersionSpec};
    use crate::price::{PriceModel, Pricing, UsagePrice};
    use tally_meter::ids::{PlanId, PlanVersionId};

    fn d(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    fn period(start: &str, end: &str) -> Period {
        Period {
            start: utc(start),
            end: utc(end),
        }
    }

    /// Each line's description and amount, in order.
    fn descriptions_and_amounts(computed: &Computed) -> Vec<(&str, Decimal)> {
        computed
            .lines
            .iter()
            .map(|line| (line.description.as_str(), line.amount))
            .collect()
    }

    fn version() -> PlanVersion {
        PlanVersion {
            id: PlanVersionId::generate(),
            plan_id: PlanId::generate(),
            version: 3,
            spec: VersionSpec {
                currency: "EUR".parse().expect("EUR"),
                interval: Interval::Month,
                charges: vec![
                    Charge::Flat {
                        name: "Platform fee".to_owned(),
                        amount: d("30.00"),
                    },
                    Charge::Usage {
                        name: "Tokens".to_owned(),
                        meter: MeterKey::parse("tokens").expect("a key"),
                        price: UsagePrice {
                            allowance: Decimal::ZERO,
                            pricing: Pricing::ByDimension {
                                group: "model".to_owned(),
                                models: BTreeMap::from([("large".to_owned(), graduated_tokens())]),
                                otherwise: PriceModel::Unit {
                                    unit_price: d("0.000333"),
                                },
                            },
                            minimum: Some(d("20.00")),
                        },
                    },
                ],
            },
            published_at: None,
        }
    }

    #[test]
    fn usage_in_arrears_flat_fees_in_advance_prorated_and_tax_on_the_subtotal() {
        let november = BillingPeriod {
            covered: period("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
            full: period("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        };
        // The subscription ends on 11 December: a third of December's fee.
        let december = BillingPeriod {
            covered: period("2026-12-01T00:00:00Z", "2026-12-11T08:00:00Z"),
            full: period("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        };
        let measured = BTreeMap::from([(
            "Tokens".to_owned(),
            Measured {
                quantities: BTreeMap::from([
                    ("large".to_owned(), d("1500")),
                    ("small".to_owned(), d("10001")),
                ]),
                events: 42,
            },
        )]);
        let computed = compute(&Inputs {
            version: &version(),
            usage: Some((november, measured)),
            advance: Some(december),
            unused: Vec::new(),
            late: Vec::new(),
            tax_percent: Some(d("19")),
        })
        .expect("computes");
        let lines = descriptions_and_amounts(&computed);
        // 30 × 248 h / 744 h = 10; 1000 × 0.01 + 500 × 0.005 = 12.50; 10001 × 0.000333 =
        // 3.330333 → 3.33; the minimum 20.00 less 15.83 = 4.17.
        assert_eq!(
            lines,
            vec![
                ("Platform fee", d("10.00")),
                ("Tokens (large)", d("12.50")),
                ("Tokens (small)", d("3.33")),
                ("Tokens: minimum commitment", d("4.17")),
            ]
        );
        assert_eq!(computed.subtotal, d("30.00"));
        assert_eq!(computed.tax, d("5.70"));
        assert_eq!(computed.total, d("35.70"));
        assert_eq!(
            computed.lines[2].explanation,
            Explanation::Usage {
                meter: MeterKey::parse("tokens").expect("a key"),
                events: 42,
                quantity: d("10001"),
                allowance: Decimal::ZERO,
                steps: PriceModel::Unit {
                    unit_price: d("0.000333")
                }
                .rate(d("10001"))
                .expect("rates")
                .steps,
                exact: d("3.330333"),
            }
        );
    }

    #[test]
    fn the_last_period_has_no_flat_fee_ahead_and_nothing_measured_costs_the_minimum() {
        let november = BillingPeriod {
            covered: period("2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z"),
            full: period("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        };
        let computed = compute(&Inputs {
            version: &version(),
            usage: Some((november, BTreeMap::new())),
            advance: None,
            unused: Vec::new(),
            late: Vec::new(),
            tax_percent: None,
        })
        .expect("computes");
        let lines = descriptions_and_amounts(&computed);
        assert_eq!(lines, vec![("Tokens: minimum commitment", d("20.00"))]);
        assert_eq!((computed.tax, computed.total), (Decimal::ZERO, d("20.00")));
    }
}
