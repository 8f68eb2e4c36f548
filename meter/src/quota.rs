//! Ingest limits per tenant: a token bucket (rate and burst, in events) and an optional
//! monthly event quota, plus the per-month consumption that every ingest node adds to.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Action, Actor};
use crate::caps;
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

fn limits_of(rate: i64, burst: i64, monthly: Option<i64>, mode: &str) -> Result<Limits> {
    let unsigned = |value: i64| u64::try_from(value).unwrap_or(0);
    Ok(Limits {
        rate_per_sec: unsigned(rate),
        burst: unsigned(burst),
        monthly_events: monthly.map(unsigned),
        monthly_mode: mode.parse()?,
    })
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

#[derive(sqlx::FromRow)]
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

/// Sets a tenant's limits as an operator; see [`set_by`].
pub async fn set(pool: &Pool, tenant: TenantId, limits: &Limits) -> Result<Option<Limits>> {
    set_by(pool, tenant, limits, Actor::Operator, limits).await
}

/// Sets a tenant's limits, replacing any earlier ones, and records the change in the audit
/// log; returns the previous limits, if any. The operator (the command line or a platform key)
/// sets the grant along with the limits; anyone else (a tenant's admin key) may only set limits
/// within the grant, which is `defaults` for a tenant the operator never set limits for.
pub async fn set_by(
    pool: &Pool,
    tenant: TenantId,
    limits: &Limits,
    actor: Actor,
    defaults: &Limits,
) -> Result<Option<Limits>> {
    limits.validate()?;
    let signed = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let mut transaction = pool.begin().await?;
    caps::lock_tenant(&mut transaction, tenant).await?;
    let previous = get_granted_in(&mut transaction, tenant).await?;
    let grant = if actor.is_operator() {
        *limits
    } else {
        let grant = previous.map_or(*defaults, |previous| previous.grant);
        limits.within(&grant)?;
        grant
    };
    sqlx::query(
        "INSERT INTO quotas (tenant_id, rate_per_sec, burst, monthly_events, monthly_mode,
                             granted_rate_per_sec, granted_burst, granted_monthly_events,
                             granted_monthly_mode)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id) DO UPDATE SET rate_per_sec = $2, burst = $3,
             monthly_events = $4, monthly_mode = $5, granted_rate_per_sec = $6,
             granted_burst = $7, granted_monthly_events = $8, granted_monthly_mode = $9,
             updated_at = now()",
    )
    .bind(tenant)
    .bind(signed(limits.rate_per_sec))
    .bind(signed(limits.burst))
    .bind(limits.monthly_events.map(signed))
    .bind(limits.monthly_mode.as_str())
    .bind(signed(grant.rate_per_sec))
    .bind(signed(grant.burst))
    .bind(grant.monthly_events.map(signed))
    .bind(grant.monthly_mode.as_str())
    .execute(&mut *transaction)
    .await
    .map_err(catalog::tenant_must_exist(tenant))?;
    let previous = previous.map(|previous| previous.limits);
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
    Ok(get_granted(pool, tenant)
        .await?
        .map(|granted| granted.limits))
}

/// Returns a tenant's own limits with its grant, or `None` when it uses the defaults.
pub async fn get_granted(pool: &Pool, tenant: TenantId) -> Result<Option<Granted>> {
    let mut connection = pool.acquire().await?;
    get_granted_in(&mut connection, tenant).await
}

async fn get_granted_in(
    connection: &mut sqlx::PgConnection,
    tenant: TenantId,
) -> Result<Option<Granted>> {
    let row: Option<GrantedRow> = sqlx::query_as(
        "SELECT rate_per_sec, burst, monthly_events, monthly_mode, granted_rate_per_sec,
                granted_burst, granted_monthly_events, granted_monthly_mode
         FROM quotas WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_optional(&mut *connection)
    .await?;
    row.map(Granted::try_from).transpose()
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
