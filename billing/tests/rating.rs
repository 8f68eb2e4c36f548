//! Property tests of rating against a reference written here, independently of the models:
//! it prices whole units one at a time (graduated), picks the tier by scanning (volume), and
//! counts packages by adding them one by one.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_billing::money::Currency;
use tally_billing::price::{PriceModel, Pricing, Tier, UsagePrice};

/// A price of up to 12 decimal places, below 100.
fn price() -> impl Strategy<Value = Decimal> {
    (0i64..100_000_000, 0u32..=12).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

/// Tiers with rising whole bounds (the last without one), each with a price and a flat fee.
fn tiers() -> impl Strategy<Value = Vec<Tier>> {
    proptest::collection::vec((1u32..400, price(), price()), 1..5).prop_map(|specs| {
        let count = specs.len();
        let mut bound = 0u32;
        specs
            .into_iter()
            .enumerate()
            .map(|(index, (width, unit_price, flat_fee))| {
                bound += width;
                Tier {
                    up_to: (index + 1 < count).then(|| Decimal::from(bound)),
                    unit_price,
                    flat_fee,
                }
            })
            .collect()
    })
}

/// The tier that unit number `unit` (from 1) falls in.
fn tier_of(tiers: &[Tier], unit: u32) -> usize {
    tiers
        .iter()
        .position(|tier| tier.up_to.is_none_or(|up_to| Decimal::from(unit) <= up_to))
        .expect("the last tier has no bound")
}

fn eur() -> Currency {
    "EUR".parse().expect("EUR")
}

proptest! {
    #[test]
    fn graduated_is_the_sum_of_each_unit_at_its_tier_plus_the_fees_of_tiers_reached(
        tiers in tiers(),
        quantity in 0u32..2000,
    ) {
        let mut expected = Decimal::ZERO;
        let mut reached = vec![false; tiers.len()];
        for unit in 1..=quantity {
            let tier = tier_of(&tiers, unit);
            expected += tiers[tier].unit_price;
            reached[tier] = true;
        }
        for (tier, reached) in tiers.iter().zip(reached) {
            if reached {
                expected += tier.flat_fee;
            }
        }
        let model = PriceModel::Graduated { tiers };
        model.validate().expect("valid");
        let rating = model.rate(Decimal::from(quantity)).expect("rates");
        prop_assert_eq!(rating.amount, expected);
        let steps: Decimal = rating.steps.iter().map(|step| step.amount).sum();
        prop_assert_eq!(steps, rating.amount);
        let units: Decimal = rating.steps.iter().map(|step| step.units).sum();
        prop_assert_eq!(units, Decimal::from(quantity));
    }

    #[test]
    fn volume_prices_every_unit_at_the_one_tier_the_quantity_reaches(
        tiers in tiers(),
        quantity in 1u32..2000,
    ) {
        let tier = &tiers[tier_of(&tiers, quantity)];
        let expected = Decimal::from(quantity) * tier.unit_price + tier.flat_fee;
        let model = PriceModel::Volume { tiers: tiers.clone() };
        model.validate().expect("valid");
        let rating = model.rate(Decimal::from(quantity)).expect("rates");
        prop_assert_eq!(rating.steps.len(), 1);
        prop_assert_eq!(rating.amount, expected);
    }

    #[test]
    fn packages_round_up_after_the_free_units(
        package_price in price(),
        package_size in 1u32..500,
        free_units in 0u32..300,
        quantity in 0u32..3000,
    ) {
        let mut packages = 0u32;
        while quantity > free_units && packages * package_size < quantity - free_units {
            packages += 1;
        }
        let model = PriceModel::Package {
            package_price,
            package_size: Decimal::from(package_size),
            free_units: Decimal::from(free_units),
        };
        model.validate().expect("valid");
        let rating = model.rate(Decimal::from(quantity)).expect("rates");
        prop_assert_eq!(rating.amount, Decimal::from(packages) * package_price);
    }

    #[test]
    fn an_allowance_is_deducted_before_pricing_and_a_minimum_trues_up(
        tiers in tiers(),
        allowance in 0u32..500,
        quantity in 0u32..2000,
        minimum in proptest::option::of(0i64..100_000),
    ) {
        let currency = eur();
        let model = PriceModel::Graduated { tiers };
        let minimum = minimum.map(|cents| Decimal::new(cents, 2));
        let price = UsagePrice {
            allowance: Decimal::from(allowance),
            pricing: Pricing::Single { model: model.clone() },
            minimum,
        };
        price.validate(&currency).expect("valid");
        let rated = price
            .rate(&BTreeMap::from([(String::new(), Decimal::from(quantity))]), &currency)
            .expect("rates");
        let without = model.rate(Decimal::from(quantity.saturating_sub(allowance))).expect("rates");
        // One line, rounded once, from the unrounded amount of what exceeds the allowance.
        prop_assert_eq!(rated.lines.len(), 1);
        prop_assert_eq!(rated.lines[0].amount, currency.round(without.amount));
        let lines = rated.lines[0].amount;
        let expected_true_up = minimum.filter(|minimum| *minimum > lines).map(|minimum| minimum - lines);
        prop_assert_eq!(rated.true_up, expected_true_up);
        prop_assert_eq!(rated.amount, lines + expected_true_up.unwrap_or_default());
        if let Some(minimum) = minimum {
            prop_assert!(rated.amount >= minimum);
        }
    }

    #[test]
    fn dimension_prices_rate_each_value_alone_and_the_total_is_the_sum_of_rounded_lines(
        listed in tiers(),
        otherwise in price(),
        quantities in proptest::collection::btree_map("[a-c]", 0u32..1500, 1..4),
    ) {
        let currency = eur();
        let models = BTreeMap::from([("a".to_owned(), PriceModel::Graduated { tiers: listed })]);
        let otherwise = PriceModel::Unit { unit_price: otherwise };
        let price = UsagePrice {
            allowance: Decimal::ZERO,
            pricing: Pricing::ByDimension {
                group: "model".to_owned(),
                models: models.clone(),
                otherwise: otherwise.clone(),
            },
            minimum: None,
        };
        price.validate(&currency).expect("valid");
        let quantities: BTreeMap<String, Decimal> = quantities
            .into_iter()
            .map(|(value, quantity)| (value, Decimal::from(quantity)))
            .collect();
        let rated = price.rate(&quantities, &currency).expect("rates");
        prop_assert_eq!(rated.lines.len(), quantities.len());
        let mut total = Decimal::ZERO;
        for line in &rated.lines {
            let value = line.dimension.clone().expect("a dimension value");
            let model = models.get(&value).unwrap_or(&otherwise);
            let alone = model.rate(quantities[&value]).expect("rates");
            prop_assert_eq!(line.amount, currency.round(alone.amount));
            prop_assert_eq!(line.amount.scale() <= 2, true);
            total += line.amount;
        }
        prop_assert_eq!(rated.amount, total);
    }
}
