//! Tenants: the customers whose events Tally meters. Each has a unique name, a status and the
//! region its data lives in. Their SQL is in [`crate::catalog::tenants`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use strum::{EnumString, IntoStaticStr};

use crate::ids::{Region, TenantId, TenantName};
use crate::{Error, Result};

/// Whether a tenant may use Tally.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, EnumString, IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", parse_err_ty = Error, parse_err_fn = invalid_status)]
pub enum TenantStatus {
    /// The tenant's keys authenticate.
    Active,
    /// The tenant is blocked: none of its keys authenticate.
    Suspended,
}

impl TenantStatus {
    /// Returns the stored name, such as `active`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn invalid_status(text: &str) -> Error {
    Error::Invalid(format!(
        "tenant status must be active or suspended, got {text:?}"
    ))
}

/// A tenant as stored in the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    /// Stable identifier.
    pub id: TenantId,
    /// Unique name.
    pub name: TenantName,
    /// Whether its keys authenticate.
    pub status: TenantStatus,
    /// Region its data lives in.
    pub region: Region,
    /// Whether its events are spread over partitions by subject, for very large tenants.
    pub hot: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// How a person refers to a tenant on the command line: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRef {
    /// By its UUID.
    Id(TenantId),
    /// By its unique name.
    Name(TenantName),
}

impl FromStr for TenantRef {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.parse::<TenantId>() {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => TenantName::parse(text).map(Self::Name).map_err(|_| {
                Error::Invalid(format!("{text:?} is neither a tenant id nor a tenant name"))
            }),
        }
    }
}

impl fmt::Display for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Name(name) => name.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_their_names_padding_and_refusal() {
        for status in [TenantStatus::Active, TenantStatus::Suspended] {
            assert_eq!(status.as_str().parse::<TenantStatus>().ok(), Some(status));
        }
        assert_eq!(format!("{:<9}|", TenantStatus::Active), "active   |");
        let refused = "Active".parse::<TenantStatus>().expect_err("case matters");
        assert_eq!(
            refused.to_string(),
            r#"tenant status must be active or suspended, got "Active""#
        );
    }
}
