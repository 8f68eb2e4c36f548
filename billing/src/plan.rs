//! Price plans, in versions: a plan is a key and a name; what it charges is in its versions. A
//! version is a draft until published and never changes after, so a subscription pinned to it
//! is always billed the same way.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_meter::ids::{MeterKey, PlanId, PlanKey, PlanVersionId, TenantId};
use tally_meter::{Error, Result};

use crate::money::Currency;
use crate::price::UsagePrice;

/// The most charges one version may have.
pub const MAX_CHARGES: usize = 50;

named_enum! {
    invalid = "an interval is MONTH or YEAR";
    /// How long a billing period lasts.
    pub enum Interval {
        /// A month.
        Month,
        /// A year.
        Year,
    }
}

/// What a plan charges for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Charge {
    /// A recurring fee, billed at the start of each period (in advance).
    Flat {
        /// Names the charge on invoices.
        name: String,
        /// The fee per period, in the plan's currency.
        amount: Decimal,
    },
    /// A meter's usage over the period, billed at its end (in arrears).
    Usage {
        /// Names the charge on invoices.
        name: String,
        /// The tenant's meter whose value per period is the quantity.
        meter: MeterKey,
        /// How the quantity is priced.
        #[serde(flatten)]
        price: UsagePrice,
    },
}

impl Charge {
    /// The charge's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Flat { name, .. } | Self::Usage { name, .. } => name,
        }
    }
}

/// What a version of a plan charges, as given when it is drafted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSpec {
    /// The currency of every amount.
    pub currency: Currency,
    /// How long a period lasts.
    pub interval: Interval,
    /// The charges, in the order invoices list them.
    pub charges: Vec<Charge>,
}

impl VersionSpec {
    /// Checks every charge: names present and distinct, flat fees in the currency's minor
    /// unit, usage prices valid.
    pub fn validate(&self) -> Result<()> {
        if self.charges.is_empty() || self.charges.len() > MAX_CHARGES {
            return Err(Error::Invalid(format!(
                "a plan version has 1 to {MAX_CHARGES} charges, not {}",
                self.charges.len()
            )));
        }
        let mut names = std::collections::BTreeSet::new();
        for charge in &self.charges {
            let name = charge.name();
            if name.trim().is_empty() || name.chars().count() > 255 {
                return Err(Error::Invalid(
                    "a charge's name must be 1 to 255 characters".to_owned(),
                ));
            }
            if !names.insert(name) {
                return Err(Error::Invalid(format!("two charges are named {name:?}")));
            }
            match charge {
                Charge::Flat { amount, .. } => {
                    if *amount < Decimal::ZERO
                        || amount.normalize().scale() > self.currency.minor_units()
                    {
                        return Err(Error::Invalid(format!(
                            "charge {name:?}: a flat fee is an amount of {} of 0 or more with at \
                             most {} decimal places, not {amount}",
                            self.currency,
                            self.currency.minor_units()
                        )));
                    }
                }
                Charge::Usage { price, .. } => price
                    .validate(&self.currency)
                    .map_err(|error| Error::Invalid(format!("charge {name:?}: {error}")))?,
            }
        }
        Ok(())
    }
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Its id.
    pub id: PlanId,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// Its key, unique per tenant.
    pub key: PlanKey,
    /// Its name, as invoices show it.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A version of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanVersion {
    /// Its id.
    pub id: PlanVersionId,
    /// The plan.
    pub plan_id: PlanId,
    /// Its number: 1, 2, …
    pub version: i32,
    /// What it charges.
    pub spec: VersionSpec,
    /// When it was published; `None` while it is a draft.
    pub published_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::{PriceModel, Pricing};

    fn spec(charges: Vec<Charge>) -> VersionSpec {
        VersionSpec {
            currency: "EUR".parse().expect("EUR"),
            interval: Interval::Month,
            charges,
        }
    }

    fn flat(name: &str, amount: &str) -> Charge {
        Charge::Flat {
            name: name.to_owned(),
            amount: amount.parse().expect("a decimal"),
        }
    }

    #[test]
    fn charges_read_from_json_as_a_plan_file_writes_them() {
        let charges: Vec<Charge> = serde_json::from_str(
            r#"[
                {"type": "flat", "name": "Platform fee", "amount": "49.00"},
                {"type": "usage", "name": "Tokens", "meter": "tokens",
                 "pricing": "single", "model": {"model": "unit", "unit_price": "0.000002"},
                 "allowance": "100000", "minimum": "10.00"}
            ]"#,
        )
        .expect("valid charges");
        let version = spec(charges);
        version.validate().expect("valid");
        let Charge::Usage { price, .. } = &version.charges[1] else {
            panic!("a usage charge");
        };
        assert_eq!(
            price.pricing,
            Pricing::Single {
                model: PriceModel::Unit {
                    unit_price: "0.000002".parse().expect("a decimal")
                }
            }
        );
    }

    #[test]
    fn the_readmes_plan_version_reads_and_is_valid() {
        let readme = include_str!("../../README.md");
        let billing = &readme[readme.find("## Billing").expect("a Billing section")..];
        let start = billing.find("```json\n").expect("a JSON block") + "```json\n".len();
        let block = &billing[start..start + billing[start..].find("```").expect("its end")];
        let version: VersionSpec = serde_json::from_str(block).expect("the README's JSON reads");
        version.validate().expect("the README's version is valid");
    }

    #[test]
    fn wrong_charges_are_named() {
        for (charges, message) in [
            (vec![], "a plan version has 1 to 50 charges, not 0"),
            (
                vec![flat("Fee", "1"), flat("Fee", "2")],
                "two charges are named \"Fee\"",
            ),
            (
                vec![flat("Fee", "1.005")],
                "charge \"Fee\": a flat fee is an amount of EUR of 0 or more with at most 2 decimal places, not 1.005",
            ),
        ] {
            assert_eq!(
                spec(charges).validate().expect_err(message).to_string(),
                message
            );
        }
    }
}
