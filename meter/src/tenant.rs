//! Tenants: the customers whose events Tally meters. Each has a unique name, a status and the
//! region its data lives in. Query functions take the catalog pool first.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, Action, Actor};
use crate::catalog::Pool;
use crate::ids::{Region, TenantId, TenantName};
use crate::{Error, Result};

/// Whether a tenant may use Tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// The tenant's keys authenticate.
    Active,
    /// The tenant is blocked: none of its keys authenticate.
    Suspended,
}

impl TenantStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
}

impl FromStr for TenantStatus {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            other => Err(Error::Invalid(format!(
                "tenant status must be active or suspended, got {other:?}"
            ))),
        }
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
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

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: TenantId,
    name: String,
    status: String,
    region: String,
    hot: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = Error;

    fn try_from(row: TenantRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            name: TenantName::parse(&row.name)?,
            status: row.status.parse()?,
            region: Region::parse(&row.region)?,
            hot: row.hot,
            created_at: row.created_at,
        })
    }
}

const TENANT_COLUMNS: &str = "id, name, status, region, hot, created_at";

/// Creates an active tenant; a name already taken is a [`Error::Conflict`].
pub async fn create(pool: &Pool, name: &TenantName, region: &Region) -> Result<Tenant> {
    let row: TenantRow = sqlx::query_as(&format!(
        "INSERT INTO tenants (id, name, region) VALUES ($1, $2, $3) RETURNING {TENANT_COLUMNS}"
    ))
    .bind(TenantId::generate())
    .bind(name.as_str())
    .bind(region.as_str())
    .fetch_one(pool)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::Conflict(format!("a tenant named {name} already exists"))
        }
        _ => Error::Postgres(error),
    })?;
    row.try_into()
}

/// Lists every tenant, oldest first.
pub async fn list(pool: &Pool) -> Result<Vec<Tenant>> {
    let rows: Vec<TenantRow> = sqlx::query_as(&format!(
        "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Tenant::try_from).collect()
}

/// Finds a tenant by id or name; an unknown one is [`Error::NotFound`].
pub async fn find(pool: &Pool, tenant: &TenantRef) -> Result<Tenant> {
    let by_id = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1::uuid");
    let by_name = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = $1");
    let query = match tenant {
        TenantRef::Id(id) => sqlx::query_as(&by_id).bind(id.as_uuid().to_string()),
        TenantRef::Name(name) => sqlx::query_as(&by_name).bind(name.as_str().to_owned()),
    };
    let row: Option<TenantRow> = query.fetch_optional(pool).await?;
    row.ok_or_else(|| Error::NotFound(format!("tenant {tenant}")))?
        .try_into()
}

/// Sets a tenant's status and records it in the audit log; suspending a tenant stops all of
/// its keys from authenticating.
pub async fn set_status(
    pool: &Pool,
    tenant: TenantId,
    status: TenantStatus,
    actor: Actor,
) -> Result<()> {
    let mut transaction = pool.begin().await?;
    let result = sqlx::query("UPDATE tenants SET status = $2 WHERE id = $1")
        .bind(tenant)
        .bind(status.as_str())
        .execute(&mut *transaction)
        .await?;
    if result.rows_affected() == 0 {
        return Err(Error::NotFound(format!("tenant {tenant}")));
    }
    let action = match status {
        TenantStatus::Active => Action::TenantActivated,
        TenantStatus::Suspended => Action::TenantSuspended,
    };
    audit::record(&mut transaction, tenant, actor, action, None, None).await?;
    transaction.commit().await?;
    Ok(())
}

/// Marks a tenant hot or not: a hot tenant's events are keyed by tenant and subject on the bus.
pub async fn set_hot(pool: &Pool, tenant: TenantId, hot: bool) -> Result<()> {
    let result = sqlx::query("UPDATE tenants SET hot = $2 WHERE id = $1")
        .bind(tenant)
        .bind(hot)
        .execute(pool)
        .await?;
    if result.rows_affected() == 0 {
        return Err(Error::NotFound(format!("tenant {tenant}")));
    }
    Ok(())
}

/// Returns the ids of every hot tenant.
pub async fn hot_tenants(pool: &Pool) -> Result<Vec<TenantId>> {
    Ok(sqlx::query_scalar("SELECT id FROM tenants WHERE hot")
        .fetch_all(pool)
        .await?)
}
