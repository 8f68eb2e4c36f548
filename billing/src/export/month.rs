//! The UTC month of a monthly export.

use std::fmt;

use chrono::{Months, NaiveDate, NaiveTime};
use tally_meter::{Error, Result};

use crate::period::Period;

/// A calendar month in UTC, such as `2026-03`: the invoices finalized in it make up a monthly
/// export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    first_day: NaiveDate,
    period: Period,
}

impl Month {
    /// Reads `YYYY-MM`, such as `2026-03`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || {
            Error::Invalid(format!(
                "month must be a calendar month as YYYY-MM, such as 2026-03, not {text:?}"
            ))
        };
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        let digits = |part: &str, count: usize| {
            part.len() == count && part.bytes().all(|byte| byte.is_ascii_digit())
        };
        if !digits(year, 4) || !digits(month, 2) {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u32 = month.parse().map_err(|_| invalid())?;
        let first_day = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(invalid)?;
        let next = first_day
            .checked_add_months(Months::new(1))
            .ok_or_else(invalid)?;
        Ok(Self {
            first_day,
            period: Period {
                start: first_day.and_time(NaiveTime::MIN).and_utc(),
                end: next.and_time(NaiveTime::MIN).and_utc(),
            },
        })
    }

    /// The month from its first instant to the first instant of the next, in UTC.
    pub fn period(&self) -> Period {
        self.period
    }
}

impl fmt::Display for Month {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.first_day.format("%Y-%m"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_read_as_yyyy_mm_and_spans_it_in_utc() {
        let december = Month::parse("2026-12").expect("a month");
        assert_eq!(december.to_string(), "2026-12");
        let utc = |text: &str| {
            text.parse::<chrono::DateTime<chrono::Utc>>()
                .expect("a time")
        };
        assert_eq!(
            december.period(),
            Period {
                start: utc("2026-12-01T00:00:00Z"),
                end: utc("2027-01-01T00:00:00Z"),
            }
        );
        for wrong in [
            "2026-13",
            "2026-00",
            "2026-3",
            "26-03",
            "2026-03-01",
            "",
            "march",
        ] {
            assert_eq!(
                Month::parse(wrong).expect_err(wrong).to_string(),
                format!(
                    "month must be a calendar month as YYYY-MM, such as 2026-03, not {wrong:?}"
                )
            );
        }
    }
}
