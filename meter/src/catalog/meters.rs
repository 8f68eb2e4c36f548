//! SQL of the `meters` table: creating, finding, listing and deleting a tenant's meter
//! definitions, and the fingerprint the aggregator polls to notice changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{Acquire, PgConnection, Postgres};

use super::{audit, tenant_must_exist, tenants};
use crate::audit::{Action, Actor, Change};
use crate::caps::{self, Caps};
use crate::ids::{MeterId, MeterKey, TenantId};
use crate::meter::{JsonPath, Meter, MeterSpec};
use crate::{Error, Result};

struct MeterRow {
    id: MeterId,
    tenant_id: TenantId,
    key: String,
    event_type: String,
    value_path: Option<String>,
    aggregation: String,
    group_by: sqlx::types::Json<BTreeMap<String, String>>,
    allowed_lateness_secs: i64,
    created_at: DateTime<Utc>,
}

/// [`query_rows!`](crate::query_rows) of [`MeterRow`]s.
macro_rules! query_meters {
    ($($query:tt)*) => {
        crate::query_rows!(
            MeterRow,
            r#"id AS "id: MeterId", tenant_id AS "tenant_id: TenantId", key, event_type,
              value_path, aggregation,
              group_by AS "group_by: sqlx::types::Json<BTreeMap<String, String>>",
              allowed_lateness_secs, created_at"#,
            $($query)*
        )
    };
}

impl TryFrom<MeterRow> for Meter {
    type Error = Error;

    fn try_from(row: MeterRow) -> Result<Self> {
        let group_by = row
            .group_by
            .0
            .into_iter()
            .map(|(name, path)| Ok((name, JsonPath::parse(&path)?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            spec: MeterSpec {
                key: MeterKey::parse(&row.key)?,
                event_type: row.event_type,
                value_path: row.value_path.as_deref().map(JsonPath::parse).transpose()?,
                aggregation: row.aggregation.parse()?,
                group_by,
                allowed_lateness_secs: u64::try_from(row.allowed_lateness_secs).unwrap_or(0),
            },
            created_at: row.created_at,
        })
    }
}

/// Creates a meter for a tenant and records it in the audit log; a key the tenant already uses
/// is [`Error::Conflict`], and a tenant at `caps.meters_per_tenant` meters, or a spec with more
/// than `caps.group_by_per_meter` groups, is [`Error::LimitReached`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, meter = %spec.key, %actor))]
pub async fn create(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    spec: &MeterSpec,
    actor: Actor,
    caps: &Caps,
) -> Result<Meter> {
    spec.validate()?;
    spec.check_group_count(caps)?;
    let group_by: BTreeMap<&str, &str> = spec
        .group_by
        .iter()
        .map(|(name, path)| (name.as_str(), path.as_str()))
        .collect();
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM meters WHERE tenant_id = $1"#,
        tenant as TenantId,
    )
    .fetch_one(&mut *transaction)
    .await?;
    caps::check(count, caps.meters_per_tenant, "meters", "meters_per_tenant")?;
    let row = query_meters!(
        "INSERT INTO meters (id, tenant_id, key, event_type, value_path, aggregation, group_by,
                             allowed_lateness_secs)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING",
        "",
        MeterId::generate() as MeterId,
        tenant as TenantId,
        spec.key.as_str(),
        &spec.event_type,
        spec.value_path.as_ref().map(JsonPath::as_str),
        spec.aggregation.as_str(),
        sqlx::types::Json(group_by) as _,
        i64::try_from(spec.allowed_lateness_secs).unwrap_or(i64::MAX),
    )
    .fetch_one(&mut *transaction)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(database_error) if database_error.is_unique_violation() => {
            Error::Conflict(format!("this tenant already has a meter {}", spec.key))
        }
        _ => tenant_must_exist(tenant)(error),
    })?;
    let meter: Meter = row.try_into()?;
    let change = Change::made(Action::MeterCreated, &meter);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(meter)
}

/// Lists a tenant's meters by key.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Vec<Meter>> {
    let mut connection = db.acquire().await?;
    let rows = query_meters!(
        "SELECT",
        "FROM meters WHERE tenant_id = $1 ORDER BY key",
        tenant as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(Meter::try_from).collect()
}

/// Lists the keys of a tenant's meters, inside another function's transaction.
pub async fn keys(connection: &mut PgConnection, tenant: TenantId) -> Result<Vec<MeterKey>> {
    let keys = sqlx::query_scalar!(
        "SELECT key FROM meters WHERE tenant_id = $1 ORDER BY key",
        tenant as TenantId,
    )
    .fetch_all(connection)
    .await?;
    keys.iter().map(|key| MeterKey::parse(key)).collect()
}

/// Lists every tenant's meters, for the aggregator.
#[tracing::instrument(skip_all)]
pub async fn all(db: impl Acquire<'_, Database = Postgres>) -> Result<Vec<Meter>> {
    let mut connection = db.acquire().await?;
    let rows = query_meters!("SELECT", "FROM meters ORDER BY tenant_id, key",)
        .fetch_all(&mut *connection)
        .await?;
    rows.into_iter().map(Meter::try_from).collect()
}

/// The meters of these ids, whichever their tenants, inside another function's transaction;
/// ids of no meter are left out.
pub async fn by_ids(connection: &mut PgConnection, ids: &[MeterId]) -> Result<Vec<Meter>> {
    let rows = query_meters!(
        "SELECT",
        "FROM meters WHERE id = ANY($1)",
        ids as &[MeterId]
    )
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(Meter::try_from).collect()
}

/// What changes whenever a meter or an SLO indicator is created or deleted: the number of
/// each and their latest creation time (an SLO given a new indicator gets a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    meters: (i64, Option<DateTime<Utc>>),
    indicators: (i64, Option<DateTime<Utc>>),
}

/// Reads the [`Fingerprint`] of the meters and SLO indicators, which the aggregator checks
/// before each pass.
#[tracing::instrument(skip_all)]
pub async fn fingerprint(db: impl Acquire<'_, Database = Postgres>) -> Result<Fingerprint> {
    let mut connection = db.acquire().await?;
    let row = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM meters) AS "meters!",
                  (SELECT max(created_at) FROM meters) AS meters_latest,
                  (SELECT count(*) FROM slos) AS "indicators!",
                  (SELECT max(created_at) FROM slos) AS indicators_latest"#
    )
    .fetch_one(&mut *connection)
    .await?;
    Ok(Fingerprint {
        meters: (row.meters, row.meters_latest),
        indicators: (row.indicators, row.indicators_latest),
    })
}

/// Finds one of a tenant's meters by key; an unknown key is [`Error::NotFound`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, meter = %key))]
pub async fn find(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    key: &MeterKey,
) -> Result<Meter> {
    let mut connection = db.acquire().await?;
    find_in(&mut connection, tenant, key).await
}

/// [`find`] inside another function's transaction.
pub async fn find_in(
    connection: &mut PgConnection,
    tenant: TenantId,
    key: &MeterKey,
) -> Result<Meter> {
    let row = query_meters!(
        "SELECT",
        "FROM meters WHERE tenant_id = $1 AND key = $2",
        tenant as TenantId,
        key.as_str(),
    )
    .fetch_optional(connection)
    .await?;
    row.ok_or_else(|| Error::NotFound(format!("meter {key}")))?
        .try_into()
}

/// Deletes one of a tenant's meters and records it in the audit log; an unknown key is
/// [`Error::NotFound`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, meter = %key, %actor))]
pub async fn delete(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    key: &MeterKey,
    actor: Actor,
) -> Result<()> {
    let mut transaction = db.begin().await?;
    let row = query_meters!(
        "DELETE FROM meters WHERE tenant_id = $1 AND key = $2 RETURNING",
        "",
        tenant as TenantId,
        key.as_str(),
    )
    .fetch_optional(&mut *transaction)
    .await?;
    let deleted: Meter = row
        .ok_or_else(|| Error::NotFound(format!("meter {key}")))?
        .try_into()?;
    let change = Change::removed(Action::MeterDeleted, &deleted);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(())
}
