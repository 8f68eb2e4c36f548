//! How exports write amounts, quantities and dates.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use rust_decimal::Decimal;
use tally_meter::usage::{Tz, parse_time_zone};

use crate::customer::Customer;
use crate::money::Currency;
use crate::period::Period;

/// An amount as stored, written out to the currency's minor unit: `49` EUR is `49.00`. An
/// amount with more places than the minor unit (none is stored so) keeps them all.
pub(super) fn money(amount: Decimal, currency: Currency) -> String {
    currency.written(amount)
}

/// A quantity or price without trailing zeros: `1500`, `0.000333`.
pub(super) fn number(value: Decimal) -> String {
    value.normalize().to_string()
}

/// An instant in RFC 3339, in UTC to the second: `2026-01-01T00:00:00Z`.
pub(super) fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The customer's billing time zone; UTC if the stored name is unknown (it was checked when
/// the customer was created).
pub(super) fn zone(customer: &Customer) -> Tz {
    parse_time_zone(&customer.timezone).unwrap_or(Tz::UTC)
}

/// The date of an instant in a time zone.
pub(super) fn date(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// A period as the days it covers, first and last inclusive: `2026-01-01 – 2026-01-31`.
pub(super) fn days(period: Period, zone: Tz) -> String {
    let last = (period.end - TimeDelta::nanoseconds(1)).max(period.start);
    format!("{} – {}", date(period.start, zone), date(last, zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    #[test]
    fn money_is_written_to_the_minor_unit_without_losing_a_digit() {
        let eur: Currency = "EUR".parse().expect("EUR");
        let jpy: Currency = "JPY".parse().expect("JPY");
        let kwd: Currency = "KWD".parse().expect("KWD");
        for (amount, currency, shown) in [
            ("49", eur, "49.00"),
            ("12.5", eur, "12.50"),
            ("-0.01", eur, "-0.01"),
            ("3.330333", eur, "3.330333"),
            ("500", jpy, "500"),
            ("1.5", kwd, "1.500"),
        ] {
            assert_eq!(money(d(amount), currency), shown, "{amount} {currency}");
        }
        assert_eq!(number(d("1500.000")), "1500");
    }

    #[test]
    fn a_period_shows_the_local_days_it_covers() {
        let utc = |text: &str| text.parse::<DateTime<Utc>>().expect("a time");
        let january = Period {
            start: utc("2025-12-31T23:00:00Z"),
            end: utc("2026-01-31T23:00:00Z"),
        };
        assert_eq!(days(january, Tz::Europe__Berlin), "2026-01-01 – 2026-01-31");
        assert_eq!(days(january, Tz::UTC), "2025-12-31 – 2026-01-31");
        let part = Period {
            start: utc("2026-12-01T00:00:00Z"),
            end: utc("2026-12-11T08:00:00Z"),
        };
        assert_eq!(days(part, Tz::UTC), "2026-12-01 – 2026-12-11");
    }
}
