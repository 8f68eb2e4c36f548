//! Typed identifiers and names, parsed once at the edge so that invalid values cannot exist.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Generates a new, time-ordered identifier.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Returns the underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self, Error> {
                Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| Error::Invalid(format!("{} must be a UUID, got {text:?}", $what)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Identifies a tenant; it comes from the caller's credential, never from a request body.
    TenantId,
    "tenant id"
);

impl TenantId {
    /// The nil id, no tenant's: metering records of the platform's own observations carry it.
    pub const PLATFORM: Self = Self(Uuid::nil());
}
uuid_id!(
    /// Identifies an API key (not the secret itself).
    ApiKeyId,
    "API key id"
);
uuid_id!(
    /// Identifies a meter.
    MeterId,
    "meter id"
);
uuid_id!(
    /// Identifies a tenant's customer, whom billing invoices.
    CustomerId,
    "customer id"
);
uuid_id!(
    /// Identifies a price plan.
    PlanId,
    "plan id"
);
uuid_id!(
    /// Identifies one version of a price plan.
    PlanVersionId,
    "plan version id"
);
uuid_id!(
    /// Identifies a customer's subscription to a plan version.
    SubscriptionId,
    "subscription id"
);
uuid_id!(
    /// Identifies a tenant's SLO; its indicator's counts carry it as their meter id.
    SloId,
    "SLO id"
);
uuid_id!(
    /// Identifies an invoice (its number is another thing, given when it is finalized).
    InvoiceId,
    "invoice id"
);

/// Checks the name of a tenant's alert rule, receiver, SLO or other named thing: 1 to 64 of
/// a-z, 0-9, '-' and '_'.
pub fn check_name(what: &str, name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"-_".contains(&byte)
        });
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} name {name:?}: use 1 to 64 of a-z, 0-9, '-' and '_'"
        )))
    }
}

/// Checks a short machine-friendly name: 1 to 63 characters of `a-z`, `0-9`, `-` and `_`,
/// starting with a letter or digit.
fn check_slug(what: &str, text: &str) -> Result<(), Error> {
    let valid_chars = text
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let starts_well = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (1..=63).contains(&text.len()) && valid_chars && starts_well {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} must be 1-63 characters of a-z, 0-9, '-' or '_' starting with a letter or digit, got {text:?}"
        )))
    }
}

macro_rules! slug {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
        #[serde(try_from = "String", into = "String")]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses a name, refusing anything outside the allowed form.
            pub fn parse(text: &str) -> Result<Self, Error> {
                check_slug($what, text)?;
                Ok(Self(text.to_owned()))
            }

            /// Returns the name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;

            fn try_from(text: String) -> Result<Self, Error> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self, Error> {
                Self::parse(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }
    };
}

slug!(
    /// A tenant's unique, human-chosen name, such as `acme` or `acme-eu`.
    TenantName,
    "tenant name"
);
slug!(
    /// A meter's key, unique per tenant, such as `api-requests` or `tokens`.
    MeterKey,
    "meter key"
);
slug!(
    /// A price plan's key, unique per tenant, such as `pro` or `enterprise-2027`.
    PlanKey,
    "plan key"
);
slug!(
    /// A deployment region a tenant's data lives in, such as `default` or `eu-west`.
    Region,
    "region"
);

impl Default for Region {
    fn default() -> Self {
        Self("default".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_the_documented_form_only() {
        assert!(TenantName::parse("acme").is_ok());
        assert!(TenantName::parse("acme-eu_2").is_ok());
        assert!(TenantName::parse("9lives").is_ok());
        for bad in ["", "Acme", "-acme", "acme corp", "ac/me", &"a".repeat(64)] {
            assert!(TenantName::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = TenantId::generate();
        assert_eq!(id.to_string().parse::<TenantId>().ok(), Some(id));
        assert!("not-a-uuid".parse::<TenantId>().is_err());
    }
}
