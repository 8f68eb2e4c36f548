//! Infra cost attribution: each shared cost line of a month split across tenants in proportion
//! to their measured use of the line's resource, to the currency's minor unit, exactly.
//!
//! A line's shares are its amount times each tenant's part of the resource's total use,
//! rounded down to the minor unit; the minor units left over go one each to the tenants with
//! the largest remainders (ties to the larger use, then the smaller tenant id), so the shares
//! always add up to the line. A line whose resource nobody used stays unattributed.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use tally_meter::ids::TenantId;
use tally_meter::{Error, Result};

use crate::money::Currency;
use crate::platform::{PlatformUsage, Resource};

/// A shared cost of the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostLine {
    /// What the cost is split by.
    pub resource: Resource,
    /// What it is, for people: "ClickHouse disks".
    pub description: String,
    /// How much it cost.
    pub amount: Decimal,
    /// In which currency.
    pub currency: Currency,
}

/// Reads a cost file: CSV with the header `resource,description,amount,currency`, a line per
/// cost. Amounts are decimals of at most the currency's minor unit, zero or more.
pub fn parse_costs(text: &str) -> Result<Vec<CostLine>> {
    #[derive(Deserialize)]
    struct Row {
        resource: String,
        description: String,
        amount: String,
        currency: String,
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut lines = Vec::new();
    for (index, row) in reader.deserialize::<Row>().enumerate() {
        let line = index + 2;
        let row = row.map_err(|error| {
            Error::Invalid(format!(
                "line {line} of the cost file is not resource,description,amount,currency: \
                 {error}"
            ))
        })?;
        let currency: Currency = row
            .currency
            .parse()
            .map_err(|error| Error::Invalid(format!("line {line}: {error}")))?;
        let amount: Decimal = row.amount.parse().map_err(|_| {
            Error::Invalid(format!("line {line}: {:?} is not an amount", row.amount))
        })?;
        if amount < Decimal::ZERO || currency.round(amount) != amount {
            return Err(Error::Invalid(format!(
                "line {line}: an amount is zero or more, in whole {} of {} ({} decimal places), \
                 not {amount}",
                if currency.minor_units() == 0 {
                    "units"
                } else {
                    "minor units"
                },
                currency.code(),
                currency.minor_units()
            )));
        }
        lines.push(CostLine {
            resource: row
                .resource
                .parse()
                .map_err(|error| Error::Invalid(format!("line {line}: {error}")))?,
            description: row.description,
            amount,
            currency,
        });
    }
    if lines.is_empty() {
        return Err(Error::Invalid(
            "the cost file has no lines under its header resource,description,amount,currency"
                .to_owned(),
        ));
    }
    Ok(lines)
}

/// A tenant's share of one cost line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Share {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its use of the line's resource.
    pub usage: Decimal,
    /// Its share of the amount.
    pub amount: Decimal,
}

/// One cost line, split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attributed {
    /// The line.
    pub line: CostLine,
    /// The tenants' shares, by tenant id; tenants that did not use the resource are left out.
    pub shares: Vec<Share>,
    /// What no tenant's use accounts for: the whole amount when nobody used the resource.
    pub unattributed: Decimal,
}

/// Splits every line across the tenants by their use of its resource.
pub fn attribute(lines: &[CostLine], usage: &PlatformUsage) -> Result<Vec<Attributed>> {
    lines
        .iter()
        .map(|line| {
            let weights: Vec<(TenantId, Decimal)> = usage
                .iter()
                .filter_map(|(tenant, used)| {
                    used.get(&line.resource)
                        .filter(|amount| **amount > Decimal::ZERO)
                        .map(|amount| (*tenant, *amount))
                })
                .collect();
            let amounts = split(line.amount, line.currency, &weights)?;
            let shares: Vec<Share> = weights
                .iter()
                .zip(amounts)
                .map(|((tenant_id, usage), amount)| Share {
                    tenant_id: *tenant_id,
                    usage: *usage,
                    amount,
                })
                .collect();
            let unattributed = if shares.is_empty() {
                line.amount
            } else {
                Decimal::ZERO
            };
            Ok(Attributed {
                line: line.clone(),
                shares,
                unattributed,
            })
        })
        .collect()
}

/// Splits `amount` by `weights` (each above zero) into amounts of the currency's minor unit
/// that add up to it: largest remainders get the minor units rounding down left over.
pub fn split(
    amount: Decimal,
    currency: Currency,
    weights: &[(TenantId, Decimal)],
) -> Result<Vec<Decimal>> {
    if weights.is_empty() {
        return Ok(Vec::new());
    }
    let overflow = || Error::Invalid(format!("{amount} cannot be split exactly: too large"));
    let total = weights
        .iter()
        .try_fold(Decimal::ZERO, |sum, (_, weight)| sum.checked_add(*weight))
        .ok_or_else(overflow)?;
    let unit = Decimal::new(1, currency.minor_units());
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (index, (_, weight)) in weights.iter().enumerate() {
        let exact = amount
            .checked_mul(*weight)
            .and_then(|product| product.checked_div(total))
            .ok_or_else(overflow)?;
        let floor = exact.round_dp_with_strategy(currency.minor_units(), RoundingStrategy::ToZero);
        shares.push(floor);
        remainders.push((exact - floor, *weight, index));
    }
    let handed: Decimal = shares.iter().sum();
    let mut left = ((amount - handed) / unit).round().to_usize().unwrap_or(0);
    remainders.sort_by(|one, other| {
        other
            .0
            .cmp(&one.0)
            .then(other.1.cmp(&one.1))
            .then(weights[one.2].0.cmp(&weights[other.2].0))
    });
    for (_, _, index) in remainders {
        if left == 0 {
            break;
        }
        shares[index] += unit;
        left -= 1;
    }
    Ok(shares)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    fn eur() -> Currency {
        "EUR".parse().expect("EUR")
    }

    #[test]
    fn a_third_each_leaves_a_cent_to_the_largest_remainder() {
        let tenants = [
            TenantId::generate(),
            TenantId::generate(),
            TenantId::generate(),
        ];
        let weights: Vec<(TenantId, Decimal)> =
            tenants.iter().map(|tenant| (*tenant, d("1"))).collect();
        let shares = split(d("100.00"), eur(), &weights).expect("splits");
        assert_eq!(shares.iter().sum::<Decimal>(), d("100.00"));
        let mut sorted = shares.clone();
        sorted.sort();
        assert_eq!(sorted, [d("33.33"), d("33.33"), d("33.34")]);
    }

    #[test]
    fn the_cost_file_is_read_and_checked() {
        let lines = parse_costs(
            "resource,description,amount,currency\n\
             events, Kafka cluster ,1200.00,EUR\n\
             stored_gb_hours,\"Disks, ClickHouse\",450,eur\n",
        )
        .expect("reads");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].resource, Resource::StoredGbHours);
        assert_eq!(lines[1].description, "Disks, ClickHouse");
        assert_eq!(lines[0].description, "Kafka cluster");
        let error = parse_costs("resource,description,amount,currency\ncpu,x,1,EUR\n")
            .expect_err("an unknown resource");
        assert!(error.to_string().contains("line 2"), "{error}");
        let error = parse_costs("resource,description,amount,currency\nevents,x,1.001,EUR\n")
            .expect_err("too many places");
        assert!(error.to_string().contains("2 decimal places"), "{error}");
    }

    proptest! {
        #[test]
        fn shares_add_up_and_each_is_within_a_minor_unit_of_its_exact_share(
            cents in 0i64..10_000_000,
            weights in proptest::collection::vec(1u64..1_000_000, 1..20),
        ) {
            let amount = Decimal::new(cents, 2);
            let weighted: Vec<(TenantId, Decimal)> = weights
                .iter()
                .map(|weight| (TenantId::generate(), Decimal::from(*weight)))
                .collect();
            let shares = split(amount, eur(), &weighted).expect("splits");
            prop_assert_eq!(shares.iter().sum::<Decimal>(), amount);
            let total: Decimal = weighted.iter().map(|(_, weight)| *weight).sum();
            for ((_, weight), share) in weighted.iter().zip(&shares) {
                let exact = amount * weight / total;
                prop_assert!((*share - exact).abs() < d("0.01"), "{} vs {}", share, exact);
                prop_assert_eq!(share.scale() <= 2, true);
            }
        }
    }
}
