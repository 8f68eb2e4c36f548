//! A tenant's customers: whom billing invoices, in which currency and time zone, and the
//! subjects whose usage is theirs.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_meter::ids::{CustomerId, TenantId};
use tally_meter::usage::{Tz, parse_time_zone};
use tally_meter::{Error, Result};

use crate::money::Currency;

/// The most subjects one customer may own.
pub const MAX_SUBJECTS: usize = 10_000;

/// What a customer is, as given when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSpec {
    /// The tenant's own id for it (its CRM's, say), unique per tenant.
    pub external_id: String,
    /// Its name, as invoices show it.
    pub name: String,
    /// Where invoices go.
    pub email: Option<String>,
    /// The currency it is billed in.
    pub currency: Currency,
    /// The time zone its billing periods start and end in.
    pub timezone: Tz,
    /// Tax added to its invoices, in percent (19 for 19 %), with up to 4 decimal places.
    pub tax_percent: Option<Decimal>,
    /// The subjects whose usage is its usage; each belongs to one customer at most.
    pub subjects: Vec<String>,
}

/// A customer, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Its id.
    pub id: CustomerId,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// The tenant's own id for it.
    pub external_id: String,
    /// Its name.
    pub name: String,
    /// Where invoices go.
    pub email: Option<String>,
    /// The currency it is billed in (an ISO 4217 code).
    pub currency: String,
    /// The time zone of its billing periods (an IANA name).
    pub timezone: String,
    /// Tax in percent.
    pub tax_percent: Option<Decimal>,
    /// Its subjects, sorted.
    pub subjects: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl CustomerSpec {
    /// Reads a spec from text as a person or a request gives it, checking every field.
    pub fn parse(
        external_id: &str,
        name: &str,
        email: Option<&str>,
        currency: &str,
        timezone: Option<&str>,
        tax_percent: Option<Decimal>,
        subjects: &[String],
    ) -> Result<Self> {
        let spec = Self {
            external_id: external_id.trim().to_owned(),
            name: name.trim().to_owned(),
            email: email.map(|email| email.trim().to_owned()),
            currency: currency.parse()?,
            timezone: parse_time_zone(timezone.unwrap_or("UTC"))?,
            tax_percent,
            subjects: subjects.to_vec(),
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the fields that types alone do not.
    pub fn validate(&self) -> Result<()> {
        check_text("external id", &self.external_id, 255)?;
        check_text("name", &self.name, 255)?;
        if let Some(email) = &self.email {
            let (local, domain) = email.split_once('@').unwrap_or_default();
            if local.is_empty()
                || !domain.contains('.')
                || email.len() > 254
                || email.contains(char::is_whitespace)
            {
                return Err(Error::Invalid(format!(
                    "email must be an address such as billing@example.com, not {email:?}"
                )));
            }
        }
        if let Some(tax) = self.tax_percent
            && (tax < Decimal::ZERO || tax > Decimal::ONE_HUNDRED || tax.normalize().scale() > 4)
        {
            return Err(Error::Invalid(format!(
                "tax percent must be from 0 to 100 with at most 4 decimal places, not {tax}"
            )));
        }
        if self.subjects.len() > MAX_SUBJECTS {
            return Err(Error::LimitReached(format!(
                "a customer owns at most {MAX_SUBJECTS} subjects, not {}",
                self.subjects.len()
            )));
        }
        for subject in &self.subjects {
            check_text("subject", subject, 255)?;
        }
        Ok(())
    }
}

/// Checks a text field: not empty once trimmed, at most `max` characters, no control
/// characters.
fn check_text(what: &str, text: &str, max: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::Invalid(format!("{what} must not be empty")));
    }
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} must be at most {max} characters, without control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        email: Option<&str>,
        tax: Option<&str>,
        timezone: Option<&str>,
    ) -> Result<CustomerSpec> {
        CustomerSpec::parse(
            "crm-42",
            "Acme Inc.",
            email,
            "eur",
            timezone,
            tax.map(|tax| tax.parse().expect("a decimal")),
            &["device-1".to_owned()],
        )
    }

    #[test]
    fn a_customer_is_read_with_its_currency_and_zone() {
        let spec = parse(
            Some("billing@acme.example"),
            Some("19"),
            Some("Europe/Berlin"),
        )
        .expect("valid");
        assert_eq!(spec.currency.code(), "EUR");
        assert_eq!(spec.timezone, Tz::Europe__Berlin);
        assert_eq!(parse(None, None, None).expect("valid").timezone, Tz::UTC);
    }

    #[test]
    fn each_wrong_field_is_named() {
        for (email, tax, timezone, message) in [
            (
                Some("acme"),
                None,
                None,
                "email must be an address such as billing@example.com, not \"acme\"",
            ),
            (
                None,
                Some("100.5"),
                None,
                "tax percent must be from 0 to 100 with at most 4 decimal places, not 100.5",
            ),
            (
                None,
                Some("7.00001"),
                None,
                "tax percent must be from 0 to 100 with at most 4 decimal places, not 7.00001",
            ),
            (
                None,
                None,
                Some("Mars/Olympus"),
                "unknown time zone \"Mars/Olympus\": use an IANA name such as Europe/Berlin, or UTC",
            ),
        ] {
            assert_eq!(
                parse(email, tax, timezone).expect_err(message).to_string(),
                message
            );
        }
        let unnamed = CustomerSpec::parse(" ", "Acme", None, "EUR", None, None, &[]);
        assert_eq!(
            unnamed.expect_err("refused").to_string(),
            "external id must not be empty"
        );
    }
}
