//! SQL of the `quotas` and `quota_usage` tables: each tenant's limits with what the operator
//! granted it, and the per-month consumption every ingest node adds to.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::{Acquire, PgConnection, Postgres};

use super::{audit, tenant_must_exist, tenants};
use crate::audit::{Action, Actor, Change};
use crate::ids::TenantId;
use crate::quota::{Granted, Limits};
use crate::{Error, Result};

struct LimitsRow {
    tenant_id: TenantId,
    rate_per_sec: i64,
    burst: i64,
    monthly_events: Option<i64>,
    monthly_mode: String,
}

impl TryFrom<LimitsRow> for (TenantId, Limits) {
    type Error = Error;

    fn try_from(row: LimitsRow) -> Result<Self> {
        Ok((
            row.tenant_id,
            limits_of(
                row.rate_per_sec,
                row.burst,
                row.monthly_events,
                &row.monthly_mode,
            )?,
        ))
    }
}

struct GrantedRow {
    rate_per_sec: i64,
    burst: i64,
    monthly_events: Option<i64>,
    monthly_mode: String,
    granted_rate_per_sec: i64,
    granted_burst: i64,
    granted_monthly_events: Option<i64>,
    granted_monthly_mode: String,
}

impl TryFrom<GrantedRow> for Granted {
    type Error = Error;

    fn try_from(row: GrantedRow) -> Result<Self> {
        Ok(Self {
            limits: limits_of(
                row.rate_per_sec,
                row.burst,
                row.monthly_events,
                &row.monthly_mode,
            )?,
            grant: limits_of(
                row.granted_rate_per_sec,
                row.granted_burst,
                row.granted_monthly_events,
                &row.granted_monthly_mode,
            )?,
        })
    }
}

fn limits_of(rate: i64, burst: i64, monthly: Option<i64>, mode: &str) -> Result<Limits> {
    let unsigned = |value: i64| u64::try_from(value).unwrap_or(0);
    Ok(Limits {
        rate_per_sec: unsigned(rate),
        burst: unsigned(burst),
        monthly_events: monthly.map(unsigned),
        monthly_mode: mode.parse()?,
    })
}

/// Converts a count to the `BIGINT` it is stored as, saturating (limits are validated below
/// 2^63 before they are stored).
fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Sets a tenant's limits, replacing any earlier ones, and records the change in the audit
/// log; returns the previous limits, if any. The operator (the command line or a platform key)
/// sets the grant along with the limits; anyone else (a tenant's admin key) may only set limits
/// within the grant, which is `defaults` for a tenant the operator never set limits for.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, %actor))]
pub async fn set(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    limits: &Limits,
    actor: Actor,
    defaults: &Limits,
) -> Result<Option<Limits>> {
    limits.validate()?;
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let previous = select_granted(&mut transaction, tenant).await?;
    let grant =
        limits.grant_when_set_by(actor, previous.map(|previous| previous.grant), defaults)?;
    sqlx::query!(
        "INSERT INTO quotas (tenant_id, rate_per_sec, burst, monthly_events, monthly_mode,
                             granted_rate_per_sec, granted_burst, granted_monthly_events,
                             granted_monthly_mode)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id) DO UPDATE SET rate_per_sec = $2, burst = $3,
             monthly_events = $4, monthly_mode = $5, granted_rate_per_sec = $6,
             granted_burst = $7, granted_monthly_events = $8, granted_monthly_mode = $9,
             updated_at = now()",
        tenant as TenantId,
        signed(limits.rate_per_sec),
        signed(limits.burst),
        limits.monthly_events.map(signed),
        limits.monthly_mode.as_str(),
        signed(grant.rate_per_sec),
        signed(grant.burst),
        grant.monthly_events.map(signed),
        grant.monthly_mode.as_str(),
    )
    .execute(&mut *transaction)
    .await
    .map_err(tenant_must_exist(tenant))?;
    let previous = previous.map(|previous| previous.limits);
    let change = Change::replaced(Action::QuotaSet, previous.as_ref(), &limits);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(previous)
}

/// Returns a tenant's own limits, or `None` when it uses the defaults.
pub async fn get(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Option<Limits>> {
    Ok(get_granted(db, tenant).await?.map(|granted| granted.limits))
}

/// Returns a tenant's own limits with its grant, or `None` when it uses the defaults.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn get_granted(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Option<Granted>> {
    let mut connection = db.acquire().await?;
    select_granted(&mut connection, tenant).await
}

async fn select_granted(
    connection: &mut PgConnection,
    tenant: TenantId,
) -> Result<Option<Granted>> {
    let row = sqlx::query_as!(
        GrantedRow,
        "SELECT rate_per_sec, burst, monthly_events, monthly_mode, granted_rate_per_sec,
                granted_burst, granted_monthly_events, granted_monthly_mode
         FROM quotas WHERE tenant_id = $1",
        tenant as TenantId,
    )
    .fetch_optional(connection)
    .await?;
    row.map(Granted::try_from).transpose()
}

/// Returns every tenant's own limits; tenants without any use the defaults.
#[tracing::instrument(skip_all)]
pub async fn all(db: impl Acquire<'_, Database = Postgres>) -> Result<HashMap<TenantId, Limits>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query_as!(
        LimitsRow,
        r#"SELECT tenant_id AS "tenant_id: TenantId", rate_per_sec, burst, monthly_events,
                  monthly_mode
           FROM quotas"#
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(TryFrom::try_from).collect()
}

/// Adds accepted events to each tenant's consumption in a period, in one statement.
#[tracing::instrument(skip_all, fields(%period, tenants = deltas.len()))]
pub async fn add_usage(
    db: impl Acquire<'_, Database = Postgres>,
    period: NaiveDate,
    deltas: &HashMap<TenantId, u64>,
) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let (tenants, counts): (Vec<TenantId>, Vec<i64>) = deltas
        .iter()
        .map(|(tenant, count)| (*tenant, signed(*count)))
        .unzip();
    let mut connection = db.acquire().await?;
    sqlx::query!(
        "INSERT INTO quota_usage (tenant_id, period, events)
         SELECT tenant_id, $1, events FROM unnest($2::uuid[], $3::bigint[]) AS d (tenant_id, events)
         WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = d.tenant_id)
         ON CONFLICT (tenant_id, period) DO UPDATE SET events = quota_usage.events + excluded.events",
        period,
        &tenants as &[TenantId],
        &counts,
    )
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Returns every tenant's consumption in a period.
#[tracing::instrument(skip_all, fields(%period))]
pub async fn usage(
    db: impl Acquire<'_, Database = Postgres>,
    period: NaiveDate,
) -> Result<HashMap<TenantId, u64>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query!(
        r#"SELECT tenant_id AS "tenant_id: TenantId", events FROM quota_usage WHERE period = $1"#,
        period,
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.tenant_id, u64::try_from(row.events).unwrap_or(0)))
        .collect())
}
