//! How the bench tables write their figures: counts with thousands separators, other figures
//! with two decimals, unknown ones as `n/a`; and the division every derived figure goes
//! through, which is unknown rather than infinite when there is nothing to divide by.

/// How a figure is written.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// A whole number, with thousands separators: `1,234,567`.
    Count,
    /// Two decimals: `12.34`.
    Decimal,
}

/// Writes a figure in `unit`, or `n/a` when it is unknown.
pub fn format_value(value: Option<f64>, unit: Unit) -> String {
    match (value, unit) {
        (None, _) => "n/a".to_owned(),
        (Some(value), Unit::Decimal) => format!("{value:.2}"),
        (Some(value), Unit::Count) => grouped(value.round() as u64),
    }
}

/// Writes a count with thousands separators: `1,234,567`.
pub fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// `numerator / denominator`; `None` unless the denominator is positive and the numerator
/// finite.
pub fn divide(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0 && numerator.is_finite()).then(|| numerator / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn unknown_figures_and_divisions_by_zero_are_not_available() {
        assert_eq!(format_value(None, Unit::Count), "n/a");
        assert_eq!(format_value(Some(1234.4), Unit::Count), "1,234");
        assert_eq!(format_value(Some(12.3456), Unit::Decimal), "12.35");
        assert_eq!(divide(1.0, 0.0), None);
        assert_eq!(divide(f64::NAN, 1.0), None);
        assert_eq!(divide(3.0, 2.0), Some(1.5));
    }
}
