//! Ingest limits per tenant: a token bucket (rate and burst, in events) and an optional
//! monthly event quota, plus the per-month consumption that every ingest node adds to.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Action, Actor};
use crate::catalog::{self, Pool};
use crate::ids::TenantId;
use crate::{Error, Result};

/// What happens when a monthly quota is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaMode {
    /// Further events are refused until the next month.
    Hard,
    /// Further events are accepted and the overage is flagged.
    Soft,
}

impl QuotaMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Soft => "soft",
        }
    }
}

impl FromStr for QuotaMode {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "hard" => Ok(Self::Hard),
            "soft" => Ok(Self::Soft),
            other => Err(Error::Invalid(format!(
                "quota mode must be hard or soft, got {other:?}"
            ))),
        }
    }
}

impl fmt::Display for QuotaMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
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

/// Returns the first day of the calendar month (UTC) holding `at`: the key of a quota period.
pub fn period_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
        .with_day(1)
        .unwrap_or_else(|| at.date_naive())
}

#[derive(sqlx::FromRow)]
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
        let unsigned = |value: i64| u64::try_from(value).unwrap_or(0);
        Ok((
            row.tenant_id,
            Limits {
                rate_per_sec: unsigned(row.rate_per_sec),
                burst: unsigned(row.burst),
                monthly_events: row.monthly_events.map(unsigned),
                monthly_mode: row.monthly_mode.parse()?,
            },
        ))
    }
}

/// Sets a tenant's limits as an operator; see [`set_by`].
pub async fn set(pool: &Pool, tenant: TenantId, limits: &Limits) -> Result<Option<Limits>> {
    set_by(pool, tenant, limits, Actor::Operator).await
}

/// Sets a tenant's limits, replacing any earlier ones, and records the change in the audit
/// log; returns the previous limits, if any.
pub async fn set_by(
    pool: &Pool,
    tenant: TenantId,
    limits: &Limits,
    actor: Actor,
) -> Result<Option<Limits>> {
    limits.validate()?;
    let signed = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let mut transaction = pool.begin().await?;
    let previous = get_in(&mut transaction, tenant).await?;
    sqlx::query(
        "INSERT INTO quotas (tenant_id, rate_per_sec, burst, monthly_events, monthly_mode)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id) DO UPDATE SET rate_per_sec = $2, burst = $3,
             monthly_events = $4, monthly_mode = $5, updated_at = now()",
    )
    .bind(tenant)
    .bind(signed(limits.rate_per_sec))
    .bind(signed(limits.burst))
    .bind(limits.monthly_events.map(signed))
    .bind(limits.monthly_mode.as_str())
    .execute(&mut *transaction)
    .await
    .map_err(catalog::tenant_must_exist(tenant))?;
    audit::record(
        &mut transaction,
        tenant,
        actor,
        Action::QuotaSet,
        previous.map(|previous| json!(previous)),
        Some(json!(limits)),
    )
    .await?;
    transaction.commit().await?;
    Ok(previous)
}

/// Returns a tenant's own limits, or `None` when it uses the defaults.
pub async fn get(pool: &Pool, tenant: TenantId) -> Result<Option<Limits>> {
    let mut connection = pool.acquire().await?;
    get_in(&mut connection, tenant).await
}

async fn get_in(connection: &mut sqlx::PgConnection, tenant: TenantId) -> Result<Option<Limits>> {
    let row: Option<LimitsRow> = sqlx::query_as(
        "SELECT tenant_id, rate_per_sec, burst, monthly_events, monthly_mode
         FROM quotas WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_optional(&mut *connection)
    .await?;
    row.map(|row| <(TenantId, Limits)>::try_from(row).map(|(_, limits)| limits))
        .transpose()
}

/// Returns every tenant's own limits; tenants without any use the defaults.
pub async fn all(pool: &Pool) -> Result<HashMap<TenantId, Limits>> {
    let rows: Vec<LimitsRow> = sqlx::query_as(
        "SELECT tenant_id, rate_per_sec, burst, monthly_events, monthly_mode FROM quotas",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(TryFrom::try_from).collect()
}

/// Adds accepted events to each tenant's consumption in a period, in one transaction.
pub async fn add_usage(
    pool: &Pool,
    period: NaiveDate,
    deltas: &HashMap<TenantId, u64>,
) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let (tenants, counts): (Vec<TenantId>, Vec<i64>) = deltas
        .iter()
        .map(|(tenant, count)| (*tenant, i64::try_from(*count).unwrap_or(i64::MAX)))
        .unzip();
    sqlx::query(
        "INSERT INTO quota_usage (tenant_id, period, events)
         SELECT tenant_id, $1, events FROM unnest($2::uuid[], $3::bigint[]) AS d (tenant_id, events)
         WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = d.tenant_id)
         ON CONFLICT (tenant_id, period) DO UPDATE SET events = quota_usage.events + excluded.events",
    )
    .bind(period)
    .bind(tenants)
    .bind(counts)
    .execute(pool)
    .await?;
    Ok(())
}

/// Returns every tenant's consumption in a period.
pub async fn usage(pool: &Pool, period: NaiveDate) -> Result<HashMap<TenantId, u64>> {
    let rows: Vec<(TenantId, i64)> =
        sqlx::query_as("SELECT tenant_id, events FROM quota_usage WHERE period = $1")
            .bind(period)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant, events)| (tenant, u64::try_from(events).unwrap_or(0)))
        .collect())
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
    fn limits_refuse_zero_rates() {
        let limits = Limits {
            rate_per_sec: 0,
            burst: 10,
            monthly_events: None,
            monthly_mode: QuotaMode::Hard,
        };
        assert!(limits.validate().is_err());
    }
}
