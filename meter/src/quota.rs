//! Ingest limits per tenant: a token bucket (rate and burst, in events) and an optional
//! monthly event quota, plus the per-month consumption that every ingest node adds to. The SQL
//! is in [`crate::catalog::quotas`].

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use strum::{EnumString, IntoStaticStr};

use crate::audit::Actor;
use crate::{Error, Result};

/// What happens when a monthly quota is used up.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, EnumString, IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", parse_err_ty = Error, parse_err_fn = invalid_mode)]
pub enum QuotaMode {
    /// Further events are refused until the next month.
    Hard,
    /// Further events are accepted and the overage is flagged.
    Soft,
}

impl QuotaMode {
    /// Returns the stored name, such as `hard`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn invalid_mode(text: &str) -> Error {
    Error::Invalid(format!("quota mode must be hard or soft, got {text:?}"))
}

/// A tenant's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Sustained events per second.
    pub rate_per_sec: u64,
    /// Events that may arrive at once above the rate.
    pub burst: u64,
    /// Events per calendar month (UTC), if capped.
    pub monthly_events: Option<u64>,
    /// What happens past the monthly quota.
    pub monthly_mode: QuotaMode,
}

impl Limits {
    /// Checks that the limits make sense.
    pub fn validate(&self) -> Result<()> {
        if self.rate_per_sec == 0 || self.burst == 0 {
            return Err(Error::Invalid(
                "rate and burst must be at least 1 event".to_owned(),
            ));
        }
        let too_large = |value: u64| i64::try_from(value).is_err();
        if too_large(self.rate_per_sec)
            || too_large(self.burst)
            || self.monthly_events.is_some_and(too_large)
        {
            return Err(Error::Invalid("limits must be below 2^63".to_owned()));
        }
        Ok(())
    }
}

impl Limits {
    /// Checks that these limits are no higher than `grant` in any respect (rate, burst, monthly
    /// quota, and a soft mode only where the grant is soft or uncapped); `Err` names the first
    /// that is.
    pub fn within(&self, grant: &Limits) -> Result<()> {
        let refuse = |what: String| {
            Err(Error::Forbidden(format!(
                "a tenant may only lower its own limits: {what}; ask the operator to raise them"
            )))
        };
        if self.rate_per_sec > grant.rate_per_sec {
            return refuse(format!(
                "the rate may be at most the granted {} events/s",
                grant.rate_per_sec
            ));
        }
        if self.burst > grant.burst {
            return refuse(format!(
                "the burst may be at most the granted {} events",
                grant.burst
            ));
        }
        if let Some(granted) = grant.monthly_events {
            match self.monthly_events {
                Some(monthly) if monthly <= granted => {}
                _ => {
                    return refuse(format!(
                        "the monthly quota may be at most the granted {granted} events"
                    ));
                }
            }
        }
        // Past a granted cap, soft would let events through that hard refuses.
        if grant.monthly_events.is_some()
            && self.monthly_mode == QuotaMode::Soft
            && grant.monthly_mode == QuotaMode::Hard
        {
            return refuse("the monthly quota was granted hard, not soft".to_owned());
        }
        Ok(())
    }

    /// Returns the grant that goes with these limits when `actor` sets them: the operator (the
    /// command line or a platform key) grants the limits it sets; anyone else keeps the current
    /// grant (`defaults` when the operator never set one), which the limits must be within.
    pub fn grant_when_set_by(
        &self,
        actor: Actor,
        current_grant: Option<Limits>,
        defaults: &Limits,
    ) -> Result<Limits> {
        if actor.is_operator() {
            return Ok(*self);
        }
        let grant = current_grant.unwrap_or(*defaults);
        self.within(&grant)?;
        Ok(grant)
    }
}

/// Returns the first day of the calendar month (UTC) holding `at`: the key of a quota period.
pub fn period_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
        .with_day(1)
        .unwrap_or_else(|| at.date_naive())
}

/// A tenant's own limits and what the operator granted it: the limits its admins may lower
/// themselves but never exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Granted {
    /// The limits in force.
    pub limits: Limits,
    /// The most the tenant may set itself.
    pub grant: Limits,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_the_first_of_the_month() {
        let at = DateTime::parse_from_rfc3339("2026-02-28T23:59:59Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(
            period_of(at),
            NaiveDate::from_ymd_opt(2026, 2, 1).expect("valid")
        );
    }

    #[test]
    fn modes_keep_their_names_and_refusal() {
        for mode in [QuotaMode::Hard, QuotaMode::Soft] {
            assert_eq!(mode.to_string().parse::<QuotaMode>().ok(), Some(mode));
        }
        let refused = "firm".parse::<QuotaMode>().expect_err("not a mode");
        assert_eq!(
            refused.to_string(),
            r#"quota mode must be hard or soft, got "firm""#
        );
    }

    #[test]
    fn limits_refuse_zero_rates() {
        let limits = Limits {
            rate_per_sec: 0,
            burst: 10,
            monthly_events: None,
            monthly_mode: QuotaMode::Hard,
        };
        assert!(limits.validate().is_err());
    }

    #[test]
    fn limits_within_a_grant_may_only_be_lower() {
        let grant = Limits {
            rate_per_sec: 100,
            burst: 200,
            monthly_events: Some(1000),
            monthly_mode: QuotaMode::Hard,
        };
        assert!(grant.within(&grant).is_ok());
        let lower = Limits {
            rate_per_sec: 10,
            burst: 20,
            monthly_events: Some(10),
            ..grant
        };
        assert!(lower.within(&grant).is_ok());
        for higher in [
            Limits {
                rate_per_sec: 101,
                ..grant
            },
            Limits {
                burst: 201,
                ..grant
            },
            Limits {
                monthly_events: None,
                ..grant
            },
            Limits {
                monthly_mode: QuotaMode::Soft,
                ..grant
            },
        ] {
            let refused = higher.within(&grant).expect_err("higher than the grant");
            assert!(matches!(refused, Error::Forbidden(_)), "{refused}");
        }
    }
}
