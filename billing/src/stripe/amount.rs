//! Amounts in a currency's minor unit, as Stripe takes them: 12.50 EUR is 1250, 1200 JPY is
//! 1200. The conversion is exact or refused: an amount with more decimal places than the minor
//! unit (which a rounded invoice line never has) is an error rather than a rounding.

use rust_decimal::Decimal;
use tally_meter::{Error, Result};

use crate::money::Currency;

/// Converts an amount to a whole number of the currency's minor unit, exactly.
pub fn to_minor_units(amount: Decimal, currency: Currency) -> Result<i64> {
    let places = currency.minor_units();
    let mut scaled = amount.normalize();
    if scaled.scale() > places {
        return Err(Error::Invalid(format!(
            "{amount} {} has more decimal places than its minor unit ({places}); \
             it is not sent to Stripe rounded",
            currency.code()
        )));
    }
    scaled.rescale(places);
    i64::try_from(scaled.mantissa()).map_err(|_| {
        Error::Invalid(format!(
            "{amount} {} is too large for Stripe",
            currency.code()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    fn currency(code: &str) -> Currency {
        code.parse().expect("a currency")
    }

    #[test]
    fn amounts_convert_exactly_to_the_minor_unit() {
        assert_eq!(to_minor_units(d("12.5"), currency("EUR")).ok(), Some(1250));
        assert_eq!(to_minor_units(d("12.50"), currency("EUR")).ok(), Some(1250));
        assert_eq!(to_minor_units(d("-4.17"), currency("EUR")).ok(), Some(-417));
        assert_eq!(to_minor_units(d("0"), currency("USD")).ok(), Some(0));
        assert_eq!(to_minor_units(d("1200"), currency("JPY")).ok(), Some(1200));
        assert_eq!(to_minor_units(d("1.234"), currency("KWD")).ok(), Some(1234));
        // Trailing zeros past the minor unit are no extra precision.
        assert_eq!(to_minor_units(d("3.3300"), currency("EUR")).ok(), Some(333));
    }

    #[test]
    fn more_places_than_the_minor_unit_are_refused_not_rounded() {
        assert!(to_minor_units(d("3.330333"), currency("EUR")).is_err());
        assert!(to_minor_units(d("0.5"), currency("JPY")).is_err());
        assert!(to_minor_units(d("79228162514264337593543950335"), currency("EUR")).is_err());
    }
}
