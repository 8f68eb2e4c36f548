//! Currencies and the one rounding rule of invoices.
//!
//! Amounts are `rust_decimal` values from end to end; nothing is a float. A line's amount is
//! computed exactly (to the 28 significant digits a decimal holds) and rounded once, to the
//! currency's minor unit, **half away from zero**: 0.005 EUR is 0.01 EUR and −0.005 EUR is
//! −0.01 EUR, as a customer checking an invoice by hand expects. An invoice's totals are sums
//! of rounded lines, so they add up on paper.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use tally_meter::Error;

/// An ISO 4217 currency with a minor unit, such as `EUR` (two decimal places) or `JPY` (none).
/// It reads and writes as its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    iso: iso_currency::Currency,
    minor_units: u32,
}

impl Currency {
    /// The currency's code, such as `EUR`.
    pub fn code(&self) -> &'static str {
        self.iso.code()
    }

    /// Decimal places of the minor unit: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }

    /// Writes an amount with at least the minor unit's places, losing none it has: `6.00`,
    /// `12.5` → `12.50`, `0.125` stays `0.125`.
    pub fn written(&self, amount: Decimal) -> String {
        let mut shown = amount;
        if shown.scale() < self.minor_units {
            shown.rescale(self.minor_units);
        }
        shown.to_string()
    }

    /// Rounds an amount to the minor unit, half away from zero.
    pub fn round(&self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(self.minor_units, RoundingStrategy::MidpointAwayFromZero)
    }
}

impl FromStr for Currency {
    type Err = Error;

    /// Parses an ISO 4217 code, in any case; refuses codes without a minor unit (gold, SDRs).
    fn from_str(text: &str) -> Result<Self, Error> {
        let iso = iso_currency::Currency::from_code(&text.to_ascii_uppercase())
            .ok_or_else(|| Error::Invalid(format!("{text:?} is not an ISO 4217 currency code")))?;
        let minor_units = iso.exponent().ok_or_else(|| {
            Error::Invalid(format!(
                "{} has no minor unit, so nothing can be billed in it",
                iso.code()
            ))
        })?;
        Ok(Self {
            iso,
            minor_units: u32::from(minor_units),
        })
    }
}

impl TryFrom<String> for Currency {
    type Error = Error;

    fn try_from(code: String) -> Result<Self, Error> {
        code.parse()
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    #[test]
    fn codes_parse_in_any_case_with_their_minor_units() {
        for (code, minor_units) in [("EUR", 2), ("usd", 2), ("JPY", 0), ("KWD", 3)] {
            let currency: Currency = code.parse().expect("a currency");
            assert_eq!(currency.code(), code.to_ascii_uppercase());
            assert_eq!(currency.minor_units(), minor_units, "{code}");
        }
        for (code, message) in [
            ("EURO", "\"EURO\" is not an ISO 4217 currency code"),
            (
                "XAU",
                "XAU has no minor unit, so nothing can be billed in it",
            ),
        ] {
            let refused = code.parse::<Currency>().expect_err("refused");
            assert_eq!(refused.to_string(), message);
        }
    }

    #[test]
    fn amounts_round_half_away_from_zero_to_the_minor_unit() {
        let eur: Currency = "EUR".parse().expect("EUR");
        let jpy: Currency = "JPY".parse().expect("JPY");
        let kwd: Currency = "KWD".parse().expect("KWD");
        for (currency, exact, rounded) in [
            (eur, "0.005", "0.01"),
            (eur, "0.015", "0.02"),
            (eur, "0.025", "0.03"),
            (eur, "-0.005", "-0.01"),
            (eur, "0.004999999999", "0.00"),
            (eur, "12.344999", "12.34"),
            (jpy, "2.5", "3"),
            (jpy, "3.5", "4"),
            (kwd, "1.0005", "1.001"),
        ] {
            assert_eq!(
                currency.round(amount(exact)),
                amount(rounded),
                "{exact} {currency}"
            );
        }
    }
}
