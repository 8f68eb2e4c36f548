//! Billing periods: where a subscription's months (or years) start and end, in its customer's
//! time zone.
//!
//! Periods are cut from an anchor on the customer's local calendar: the first of the month at
//! midnight (or the first of January) for a CALENDAR anchor, the local date and time the
//! subscription started for an ANNIVERSARY one. Each boundary keeps the anchor's day of the
//! month, or the month's last day when it has fewer (a subscription started on 31 January
//! renews on 28 or 29 February, then on 31 March). A boundary that falls in a skipped local hour
//! is the first instant after it. A subscription's first and last periods are clipped to its
//! start and end; a clipped period's flat fees are prorated by its share of the full period's
//! duration.

use chrono::{DateTime, Datelike, Months, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_meter::usage::Tz;
use tally_meter::usage::zone::{local_date, local_start};

use crate::plan::Interval;
use crate::subscription::Anchor;

/// A span of time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    /// The first instant.
    pub start: DateTime<Utc>,
    /// The first instant after it.
    pub end: DateTime<Utc>,
}

/// A billing period: the part of a full period that the subscription covers, and the full
/// period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingPeriod {
    /// What the subscription covers of the full period.
    pub covered: Period,
    /// The whole month or year.
    pub full: Period,
}

impl BillingPeriod {
    /// The period as covered up to `end` at the latest: what an upcoming invoice has counted
    /// of a period that has not ended.
    pub fn until(mut self, end: DateTime<Utc>) -> Self {
        self.covered.end = self.covered.end.min(end);
        self
    }

    /// The covered share of the full period's duration, for prorating flat fees: 1 when the
    /// subscription covers all of it.
    pub fn share(&self) -> Decimal {
        let covered = (self.covered.end - self.covered.start).num_seconds();
        let full = (self.full.end - self.full.start).num_seconds();
        if covered >= full || full <= 0 {
            Decimal::ONE
        } else {
            Decimal::from(covered) / Decimal::from(full)
        }
    }
}

/// How a subscription's periods are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Calendar or anniversary.
    pub anchor: Anchor,
    /// Month or year.
    pub interval: Interval,
    /// The customer's time zone.
    pub zone: Tz,
    /// When the subscription starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends, if it does.
    pub ends_at: Option<DateTime<Utc>>,
}

impl Schedule {
    /// The billing periods that start before `until`, in order.
    pub fn periods_until(&self, until: DateTime<Utc>) -> Vec<BillingPeriod> {
        let limit = self.ends_at.map_or(until, |ends_at| ends_at.min(until));
        let mut periods = Vec::new();
        let mut number = 0;
        while let (Some(start), Some(end)) = (self.boundary(number), self.boundary(number + 1)) {
            if start >= limit {
                break;
            }
            let covered = Period {
                start: start.max(self.starts_at),
                end: self.ends_at.map_or(end, |ends_at| end.min(ends_at)),
            };
            if covered.start < covered.end {
                periods.push(BillingPeriod {
                    covered,
                    full: Period { start, end },
                });
            }
            number += 1;
        }
        periods
    }

    /// The billing period that holds `at`, if the subscription runs then.
    pub fn period_at(&self, at: DateTime<Utc>) -> Option<BillingPeriod> {
        let next_second = at + chrono::Duration::seconds(1);
        self.periods_until(next_second)
            .into_iter()
            .rev()
            .find(|period| period.covered.start <= at && at < period.covered.end)
    }

    /// The start of the `number`th full period (0 holds the subscription's start).
    fn boundary(&self, number: u32) -> Option<DateTime<Utc>> {
        let anchor = self.anchor_local();
        let months = match self.interval {
            Interval::Month => number,
            Interval::Year => number.checked_mul(12)?,
        };
        let month_start = anchor
            .date()
            .with_day(1)?
            .checked_add_months(Months::new(months))?;
        let last_day = month_start
            .checked_add_months(Months::new(1))?
            .pred_opt()?
            .day();
        let date = month_start.with_day(anchor.day().min(last_day))?;
        local_start(self.zone, date.and_time(anchor.time()))
    }

    /// The local date and time periods are counted from.
    fn anchor_local(&self) -> NaiveDateTime {
        let start_date = local_date(self.zone, self.starts_at);
        match self.anchor {
            Anchor::Anniversary => self.starts_at.with_timezone(&self.zone).naive_local(),
            Anchor::Calendar => {
                let month = match self.interval {
                    Interval::Month => start_date.month(),
                    Interval::Year => 1,
                };
                start_date
                    .with_day(1)
                    .and_then(|date| date.with_month(month))
                    .unwrap_or(start_date)
                    .and_time(NaiveTime::MIN)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    fn schedule(anchor: Anchor, interval: Interval, zone: Tz, starts_at: &str) -> Schedule {
        Schedule {
            anchor,
            interval,
            zone,
            starts_at: utc(starts_at),
            ends_at: None,
        }
    }

    fn starts(periods: &[BillingPeriod]) -> Vec<String> {
        periods
            .iter()
            .map(|period| period.covered.start.to_rfc3339())
            .collect()
    }

    #[test]
    fn calendar_months_start_at_local_midnight_and_the_first_is_prorated() {
        let berlin = schedule(
            Anchor::Calendar,
            Interval::Month,
            Tz::Europe__Berlin,
            "2026-03-15T12:00:00Z",
        );
        let periods = berlin.periods_until(utc("2026-05-02T00:00:00Z"));
        assert_eq!(
            starts(&periods),
            [
                "2026-03-15T12:00:00+00:00",
                "2026-03-31T22:00:00+00:00",
                "2026-04-30T22:00:00+00:00"
            ]
        );
        // March in Berlin lasts 31 days less the hour its clocks skip.
        assert_eq!(periods[0].full.start, utc("2026-02-28T23:00:00Z"));
        let covered = Decimal::from(
            (utc("2026-03-31T22:00:00Z") - utc("2026-03-15T12:00:00Z")).num_seconds(),
        );
        let full = Decimal::from(31 * 86_400 - 3600);
        assert_eq!(periods[0].share(), covered / full);
        assert_eq!(periods[1].share(), Decimal::ONE);
    }

    #[test]
    fn anniversaries_keep_their_day_or_the_months_last() {
        let late = schedule(
            Anchor::Anniversary,
            Interval::Month,
            Tz::UTC,
            "2026-01-31T09:30:00Z",
        );
        assert_eq!(
            starts(&late.periods_until(utc("2026-04-01T00:00:00Z"))),
            [
                "2026-01-31T09:30:00+00:00",
                "2026-02-28T09:30:00+00:00",
                "2026-03-31T09:30:00+00:00"
            ]
        );
        let leap = schedule(
            Anchor::Anniversary,
            Interval::Year,
            Tz::UTC,
            "2028-02-29T00:00:00Z",
        );
        let periods = leap.periods_until(utc("2030-01-01T00:00:00Z"));
        assert_eq!(periods[1].full.start, utc("2029-02-28T00:00:00Z"));
        assert_eq!(periods[1].full.end, utc("2030-02-28T00:00:00Z"));
    }

    #[test]
    fn an_end_clips_the_last_period_and_stops_the_schedule() {
        let mut ending = schedule(
            Anchor::Calendar,
            Interval::Month,
            Tz::UTC,
            "2026-01-01T00:00:00Z",
        );
        ending.ends_at = Some(utc("2026-03-10T00:00:00Z"));
        let periods = ending.periods_until(utc("2027-01-01T00:00:00Z"));
        assert_eq!(periods.len(), 3);
        assert_eq!(periods[2].covered.end, utc("2026-03-10T00:00:00Z"));
        assert_eq!(periods[2].full.end, utc("2026-04-01T00:00:00Z"));
        assert_eq!(ending.period_at(utc("2026-03-10T00:00:00Z")), None);
        assert_eq!(
            ending
                .period_at(utc("2026-02-14T08:00:00Z"))
                .map(|period| period.covered.start),
            Some(utc("2026-02-01T00:00:00Z"))
        );
    }

    #[test]
    fn calendar_years_start_on_the_first_of_january() {
        let yearly = schedule(
            Anchor::Calendar,
            Interval::Year,
            Tz::America__New_York,
            "2026-06-01T12:00:00Z",
        );
        let periods = yearly.periods_until(utc("2027-06-01T00:00:00Z"));
        assert_eq!(
            periods[0].full.start,
            Tz::America__New_York
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        );
        assert_eq!(periods[1].covered.start, utc("2027-01-01T05:00:00Z"));
    }
}
