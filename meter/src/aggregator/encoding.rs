//! How the aggregator encodes values in ClickHouse columns: decimals as the integers of
//! `Decimal128(9)`, days as a `Date` (days since the Unix epoch).

use rust_decimal::Decimal;

/// Decimal places of values in ClickHouse (`Decimal128(9)`).
pub const VALUE_SCALE: u32 = 9;

/// Converts a value to the integer ClickHouse stores for `Decimal128(9)`, rounding past nine
/// decimal places (banker's rounding).
pub fn to_stored(value: Decimal) -> i128 {
    let rounded = value.round_dp(VALUE_SCALE);
    rounded.mantissa() * 10_i128.pow(VALUE_SCALE - rounded.scale())
}

/// Converts what ClickHouse stores for `Decimal128(9)` back to a value; `None` when it is not
/// one [`to_stored`] can have written.
pub fn from_stored(stored: i128) -> Option<Decimal> {
    // Trailing zeros first: a large whole value has too many digits at nine places.
    let (mut mantissa, mut scale) = (stored, VALUE_SCALE);
    while scale > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    Decimal::try_from_i128_with_scale(mantissa, scale).ok()
}

/// Days since the Unix epoch, as ClickHouse stores a `Date`.
pub fn date_of_ms(time_ms: i64) -> u16 {
    u16::try_from(time_ms.div_euclid(86_400_000)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_at_nine_decimal_places() {
        for text in [
            "0",
            "0.1",
            "-12.5",
            "123456789.123456789",
            "79228162514.264337593",
            "79228162514264337593543950335",
        ] {
            let value: Decimal = text.parse().expect("a decimal");
            assert_eq!(from_stored(to_stored(value)), Some(value), "{text}");
        }
        let rounded: Decimal = "0.0000000015".parse().expect("a decimal");
        assert_eq!(to_stored(rounded), 2);
    }
}
