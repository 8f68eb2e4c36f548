//! Price models and the rating of a quantity: what a usage charge costs, with every step of
//! the arithmetic kept so that an invoice line can explain itself.
//!
//! The models, as Stripe, Lago and OpenMeter name them:
//!
//! - **unit**: every unit at one price;
//! - **package**: every started package of N units at one price, after optional free units;
//! - **graduated** tiers: the units within each tier at that tier's price, plus the tier's flat
//!   fee once the tier is reached;
//! - **volume** tiers: every unit at the price of the tier the whole quantity falls in, plus
//!   that tier's flat fee.
//!
//! A tier covers the units above the previous tier's bound up to its own, inclusive (`up_to`
//! 1,000 then 5,000: units 1–1,000, then 1,001–5,000); the last tier has no bound. A quantity
//! of zero reaches no tier and costs nothing. Quantities may be fractional (a SUM meter of
//! gigabytes); a package is started by any part of it.
//!
//! A usage charge ([`UsagePrice`]) deducts an included allowance first, prices the rest with
//! one model or with one model per value of a meter group (dimension prices, with a model for
//! the values not listed), and adds a true-up line when its lines come to less than its
//! minimum commitment. Amounts here are exact; each line is rounded once, by
//! [`Currency::round`](crate::money::Currency::round).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Currency;
use tally_meter::Error;

/// The most decimal places of a price (a per-token price of 0.000000015 EUR needs nine).
pub const MAX_PRICE_DECIMALS: u32 = 12;

/// A tier of a graduated or volume price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// The last unit of the tier, inclusive; `None` for the last tier, which has no end.
    pub up_to: Option<Decimal>,
    /// The price of each unit.
    pub unit_price: Decimal,
    /// Charged once when the tier is reached (graduated) or chosen (volume).
    #[serde(default)]
    pub flat_fee: Decimal,
}

/// How a quantity is priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum PriceModel {
    /// Every unit at one price.
    Unit {
        /// The price of a unit.
        unit_price: Decimal,
    },
    /// Every started package of `package_size` units at `package_price`, after `free_units`.
    Package {
        /// The price of a package.
        package_price: Decimal,
        /// Units per package.
        package_size: Decimal,
        /// Units that cost nothing, before the first package.
        #[serde(default)]
        free_units: Decimal,
    },
    /// The units of each tier at its price, plus the flat fee of each tier reached.
    Graduated {
        /// The tiers, by rising bound.
        tiers: Vec<Tier>,
    },
    /// Every unit at the price of the tier the quantity falls in, plus that tier's flat fee.
    Volume {
        /// The tiers, by rising bound.
        tiers: Vec<Tier>,
    },
}

/// One step of a rating's arithmetic: `units × unit_price + flat_fee = amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the step prices, for people: "units 1,001 to 5,000 (tier 2)", "3 packages of 1,000
    /// units".
    pub description: String,
    /// Units, or packages, priced.
    pub units: Decimal,
    /// The price of each.
    pub unit_price: Decimal,
    /// A fee charged once.
    pub flat_fee: Decimal,
    /// `units × unit_price + flat_fee`, exact.
    pub amount: Decimal,
}

/// What a quantity costs under a model: each step, and their exact sum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// The quantity rated.
    pub quantity: Decimal,
    /// The arithmetic, step by step; empty when the quantity costs nothing.
    pub steps: Vec<Step>,
    /// The sum of the steps' amounts, exact (not rounded).
    pub amount: Decimal,
}

impl PriceModel {
    /// Checks the model: prices and fees of at most [`MAX_PRICE_DECIMALS`] places and none
    /// negative, packages of a positive size, tiers with rising bounds of which only the last
    /// has none.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Self::Unit { unit_price } => check_price("unit_price", *unit_price),
            Self::Package {
                package_price,
                package_size,
                free_units,
            } => {
                check_price("package_price", *package_price)?;
                if *package_size <= Decimal::ZERO {
                    return Err(invalid(format!(
                        "package_size must be more than 0, not {package_size}"
                    )));
                }
                if *free_units < Decimal::ZERO {
                    return Err(invalid(format!(
                        "free_units must be 0 or more, not {free_units}"
                    )));
                }
                Ok(())
            }
            Self::Graduated { tiers } | Self::Volume { tiers } => check_tiers(tiers),
        }
    }

    /// Rates a quantity of zero or more; the model must be valid.
    pub fn rate(&self, quantity: Decimal) -> Result<Rating, Error> {
        if quantity < Decimal::ZERO {
            return Err(invalid(format!(
                "a quantity of {quantity} cannot be priced: usage charges price zero or more units"
            )));
        }
        let steps = if quantity.is_zero() {
            Vec::new()
        } else {
            match self {
                Self::Unit { unit_price } => {
                    vec![step(
                        format!("{} units", group(quantity)),
                        quantity,
                        *unit_price,
                        Decimal::ZERO,
                    )?]
                }
                Self::Package {
                    package_price,
                    package_size,
                    free_units,
                } => package_steps(quantity, *package_price, *package_size, *free_units)?,
                Self::Graduated { tiers } => graduated_steps(quantity, tiers)?,
                Self::Volume { tiers } => volume_steps(quantity, tiers)?,
            }
        };
        let amount = steps
            .iter()
            .try_fold(Decimal::ZERO, |sum, step| sum.checked_add(step.amount))
            .ok_or_else(overflow)?;
        Ok(Rating {
            quantity,
            steps,
            amount,
        })
    }
}

fn package_steps(
    quantity: Decimal,
    price: Decimal,
    size: Decimal,
    free_units: Decimal,
) -> Result<Vec<Step>, Error> {
    let mut steps = Vec::new();
    let free = quantity.min(free_units);
    if !free.is_zero() {
        steps.push(step(
            format!("{} free units", group(free)),
            free,
            Decimal::ZERO,
            Decimal::ZERO,
        )?);
    }
    let billable = quantity - free;
    if billable > Decimal::ZERO {
        let packages = billable.checked_div(size).ok_or_else(overflow)?.ceil();
        steps.push(step(
            format!(
                "{} packages of {} units for {} units",
                group(packages),
                group(size),
                group(billable)
            ),
            packages,
            price,
            Decimal::ZERO,
        )?);
    }
    Ok(steps)
}

fn graduated_steps(quantity: Decimal, tiers: &[Tier]) -> Result<Vec<Step>, Error> {
    let mut steps = Vec::new();
    let mut below = Decimal::ZERO;
    for (number, tier) in tiers.iter().enumerate() {
        if quantity <= below {
            break;
        }
        let top = tier.up_to.map_or(quantity, |up_to| up_to.min(quantity));
        let units = top - below;
        steps.push(step(
            format!(
                "units {} to {} (tier {})",
                first_unit(below),
                group(top),
                number + 1
            ),
            units,
            tier.unit_price,
            tier.flat_fee,
        )?);
        below = top;
    }
    Ok(steps)
}

fn volume_steps(quantity: Decimal, tiers: &[Tier]) -> Result<Vec<Step>, Error> {
    let mut below = Decimal::ZERO;
    for (number, tier) in tiers.iter().enumerate() {
        if tier.up_to.is_none_or(|up_to| quantity <= up_to) {
            let bounds = match tier.up_to {
                Some(up_to) => format!("{} to {}", first_unit(below), group(up_to)),
                None => format!("{} and more", first_unit(below)),
            };
            return Ok(vec![step(
                format!(
                    "{} units, all at tier {} ({bounds})",
                    group(quantity),
                    number + 1
                ),
                quantity,
                tier.unit_price,
                tier.flat_fee,
            )?]);
        }
        below = tier.up_to.unwrap_or(below);
    }
    Err(invalid("the last tier must have no up_to".to_owned()))
}

fn step(
    description: String,
    units: Decimal,
    unit_price: Decimal,
    flat_fee: Decimal,
) -> Result<Step, Error> {
    let amount = units
        .checked_mul(unit_price)
        .and_then(|priced| priced.checked_add(flat_fee))
        .ok_or_else(overflow)?;
    Ok(Step {
        description,
        units,
        unit_price,
        flat_fee,
        amount,
    })
}

/// How the units of a usage charge are priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "pricing", rename_all = "snake_case")]
pub enum Pricing {
    /// One model for the whole quantity.
    Single {
        /// The model.
        model: PriceModel,
    },
    /// One model per value of a group of the meter, such as `model`.
    ByDimension {
        /// The meter's group.
        group: String,
        /// The model of each value listed.
        models: BTreeMap<String, PriceModel>,
        /// The model of every value not listed.
        otherwise: PriceModel,
    },
}

/// How a usage charge prices a period's quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePrice {
    /// Units included, deducted before pricing (not with dimension prices).
    #[serde(default)]
    pub allowance: Decimal,
    /// The model, or models.
    #[serde(flatten)]
    pub pricing: Pricing,
    /// The least the charge costs in a period: a true-up line makes up the difference.
    #[serde(default)]
    pub minimum: Option<Decimal>,
}

/// A line of a usage charge: the quantity of one dimension value (or all of it), rated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatedLine {
    /// The group value the line prices, with dimension prices.
    pub dimension: Option<String>,
    /// The period's quantity.
    pub quantity: Decimal,
    /// The allowance deducted from it.
    pub allowance: Decimal,
    /// The rating of what remains.
    pub rating: Rating,
    /// The rating's amount rounded to the currency's minor unit: what the line costs.
    pub amount: Decimal,
}

/// A usage charge's lines for a period, and the true-up to its minimum, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatedCharge {
    /// One line per dimension value with usage, or one line.
    pub lines: Vec<RatedLine>,
    /// What the lines come to below the minimum commitment.
    pub true_up: Option<Decimal>,
    /// The lines' amounts and the true-up, added.
    pub amount: Decimal,
}

impl UsagePrice {
    /// Checks every model, the allowance, and the minimum against the currency's minor unit.
    pub fn validate(&self, currency: &Currency) -> Result<(), Error> {
        if self.allowance < Decimal::ZERO {
            return Err(invalid(format!(
                "allowance must be 0 or more, not {}",
                self.allowance
            )));
        }
        match &self.pricing {
            Pricing::Single { model } => model.validate()?,
            Pricing::ByDimension {
                group,
                models,
                otherwise,
            } => {
                if !self.allowance.is_zero() {
                    return Err(invalid(format!(
                        "an allowance cannot apply across the values of {group}: give the \
                         models of its values free units instead"
                    )));
                }
                for model in models.values().chain([otherwise]) {
                    model.validate()?;
                }
            }
        }
        if let Some(minimum) = self.minimum
            && (minimum < Decimal::ZERO || minimum.normalize().scale() > currency.minor_units())
        {
            return Err(invalid(format!(
                "minimum must be an amount of {currency} of 0 or more with at most {} decimal \
                 places, not {minimum}",
                currency.minor_units()
            )));
        }
        Ok(())
    }

    /// Rates a period's usage: `quantities` holds the quantity of each value of the dimension's
    /// group (with dimension prices), or one quantity under any key.
    pub fn rate(
        &self,
        quantities: &BTreeMap<String, Decimal>,
        currency: &Currency,
    ) -> Result<RatedCharge, Error> {
        let lines = match &self.pricing {
            Pricing::Single { model } => {
                let quantity = quantities
                    .values()
                    .try_fold(Decimal::ZERO, |sum, quantity| sum.checked_add(*quantity))
                    .ok_or_else(overflow)?;
                let allowance = quantity.max(Decimal::ZERO).min(self.allowance);
                vec![line(None, quantity, allowance, model, currency)?]
            }
            Pricing::ByDimension {
                models, otherwise, ..
            } => quantities
                .iter()
                .map(|(value, quantity)| {
                    let model = models.get(value).unwrap_or(otherwise);
                    line(
                        Some(value.clone()),
                        *quantity,
                        Decimal::ZERO,
                        model,
                        currency,
                    )
                })
                .collect::<Result<_, _>>()?,
        };
        let lines_amount = lines
            .iter()
            .try_fold(Decimal::ZERO, |sum, line: &RatedLine| {
                sum.checked_add(line.amount)
            })
            .ok_or_else(overflow)?;
        let true_up = self
            .minimum
            .filter(|minimum| *minimum > lines_amount)
            .map(|minimum| minimum - lines_amount);
        Ok(RatedCharge {
            lines,
            true_up,
            amount: lines_amount + true_up.unwrap_or_default(),
        })
    }
}

fn line(
    dimension: Option<String>,
    quantity: Decimal,
    allowance: Decimal,
    model: &PriceModel,
    currency: &Currency,
) -> Result<RatedLine, Error> {
    let rating = model.rate(quantity - allowance)?;
    Ok(RatedLine {
        dimension,
        quantity,
        allowance,
        amount: currency.round(rating.amount),
        rating,
    })
}

fn check_price(name: &str, price: Decimal) -> Result<(), Error> {
    if price < Decimal::ZERO {
        return Err(invalid(format!("{name} must be 0 or more, not {price}")));
    }
    if price.normalize().scale() > MAX_PRICE_DECIMALS {
        return Err(invalid(format!(
            "{name} has more than {MAX_PRICE_DECIMALS} decimal places: {price}"
        )));
    }
    Ok(())
}

fn check_tiers(tiers: &[Tier]) -> Result<(), Error> {
    let Some((last, others)) = tiers.split_last() else {
        return Err(invalid("tiers must not be empty".to_owned()));
    };
    if last.up_to.is_some() {
        return Err(invalid("the last tier must have no up_to".to_owned()));
    }
    let mut below = Decimal::ZERO;
    for (number, tier) in others.iter().enumerate() {
        match tier.up_to {
            Some(up_to) if up_to > below => below = up_to,
            Some(up_to) => {
                return Err(invalid(format!(
                    "tier {}'s up_to ({up_to}) must be more than {below}",
                    number + 1
                )));
            }
            None => {
                return Err(invalid(format!(
                    "tier {} needs an up_to: only the last tier has none",
                    number + 1
                )));
            }
        }
    }
    for (number, tier) in tiers.iter().enumerate() {
        check_price(
            &format!("tier {}'s unit_price", number + 1),
            tier.unit_price,
        )?;
        check_price(&format!("tier {}'s flat_fee", number + 1), tier.flat_fee)?;
    }
    Ok(())
}

/// The first unit above `below`, for people: 1 above 0, 1,001 above 1,000; a fractional
/// bound is shown as "above" it.
fn first_unit(below: Decimal) -> String {
    if below.fract().is_zero() {
        group(below + Decimal::ONE)
    } else {
        format!("above {}", group(below))
    }
}

/// A number with thousands separated by commas: 1,234,567.5.
fn group(value: Decimal) -> String {
    let text = value.normalize().to_string();
    let (sign, digits) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |rest| ("-", rest));
    let (whole, fraction) = digits
        .split_once('.')
        .map_or((digits, None), |(whole, fraction)| (whole, Some(fraction)));
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

fn invalid(message: String) -> Error {
    Error::Invalid(message)
}

fn overflow() -> Error {
    Error::Invalid("the amount is too large for a decimal of 28 digits".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    fn tier(up_to: Option<&str>, unit_price: &str, flat_fee: &str) -> Tier {
        Tier {
            up_to: up_to.map(d),
            unit_price: d(unit_price),
            flat_fee: d(flat_fee),
        }
    }

    #[test]
    fn graduated_tiers_price_the_units_within_each_and_explain_it() {
        let model = PriceModel::Graduated {
            tiers: vec![
                tier(Some("1000"), "0", "0"),
                tier(Some("5000"), "0.01", "5"),
                tier(None, "0.005", "0"),
            ],
        };
        model.validate().expect("valid");
        let rating = model.rate(d("6500")).expect("rates");
        let described: Vec<(&str, Decimal)> = rating
            .steps
            .iter()
            .map(|step| (step.description.as_str(), step.amount))
            .collect();
        assert_eq!(
            described,
            vec![
                ("units 1 to 1,000 (tier 1)", d("0")),
                ("units 1,001 to 5,000 (tier 2)", d("45")),
                ("units 5,001 to 6,500 (tier 3)", d("7.5")),
            ]
        );
        assert_eq!(rating.amount, d("52.5"));
    }

    #[test]
    fn volume_tiers_price_every_unit_at_the_tier_reached() {
        let model = PriceModel::Volume {
            tiers: vec![tier(Some("100"), "1", "0"), tier(None, "0.5", "10")],
        };
        assert_eq!(model.rate(d("100")).expect("rates").amount, d("100"));
        let rating = model.rate(d("101")).expect("rates");
        assert_eq!(rating.amount, d("60.5"));
        assert_eq!(
            rating.steps[0].description,
            "101 units, all at tier 2 (101 and more)"
        );
        assert_eq!(model.rate(Decimal::ZERO).expect("rates").amount, d("0"));
    }

    #[test]
    fn packages_are_started_by_any_part_after_the_free_units() {
        let model = PriceModel::Package {
            package_price: d("2"),
            package_size: d("1000"),
            free_units: d("500"),
        };
        for (quantity, amount) in [
            ("0", "0"),
            ("500", "0"),
            ("500.1", "2"),
            ("1500", "2"),
            ("1501", "4"),
        ] {
            assert_eq!(
                model.rate(d(quantity)).expect("rates").amount,
                d(amount),
                "{quantity}"
            );
        }
        assert_eq!(
            model.rate(d("2600")).expect("rates").steps[1].description,
            "3 packages of 1,000 units for 2,100 units"
        );
    }

    #[test]
    fn invalid_models_say_what_is_wrong() {
        let cases = [
            (
                PriceModel::Unit {
                    unit_price: d("0.0000000000001"),
                },
                "unit_price has more than 12 decimal places: 0.0000000000001",
            ),
            (
                PriceModel::Unit {
                    unit_price: d("-1"),
                },
                "unit_price must be 0 or more, not -1",
            ),
            (
                PriceModel::Package {
                    package_price: d("1"),
                    package_size: d("0"),
                    free_units: d("0"),
                },
                "package_size must be more than 0, not 0",
            ),
            (
                PriceModel::Graduated { tiers: vec![] },
                "tiers must not be empty",
            ),
            (
                PriceModel::Volume {
                    tiers: vec![tier(Some("10"), "1", "0"), tier(Some("20"), "1", "0")],
                },
                "the last tier must have no up_to",
            ),
            (
                PriceModel::Graduated {
                    tiers: vec![
                        tier(Some("10"), "1", "0"),
                        tier(Some("10"), "1", "0"),
                        tier(None, "1", "0"),
                    ],
                },
                "tier 2's up_to (10) must be more than 10",
            ),
        ];
        for (model, message) in cases {
            assert_eq!(model.validate().expect_err(message).to_string(), message);
        }
        let negative = PriceModel::Unit { unit_price: d("1") }.rate(d("-1"));
        assert_eq!(
            negative.expect_err("refused").to_string(),
            "a quantity of -1 cannot be priced: usage charges price zero or more units"
        );
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        for (value, text) in [
            ("0", "0"),
            ("999", "999"),
            ("1000", "1,000"),
            ("-1234567.50", "-1,234,567.5"),
        ] {
            assert_eq!(group(d(value)), text);
        }
    }
}
