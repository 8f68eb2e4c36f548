//! The tenant's limits: `quota` (with what it used this month), `setQuota`, and their
//! GraphQL types.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::Utc;
use tally_meter::catalog::quotas;
use tally_meter::ids::TenantId;
use tally_meter::quota::{self, Limits, QuotaMode};

use super::Services;
use super::context::{admin_access, caller, services};
use crate::cost::POSTGRES_QUERY;
use crate::error::ApiResult;

/// What happens past the monthly quota.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "QuotaMode", remote = "QuotaMode")]
pub enum QuotaModeValue {
    /// Events past the quota are refused.
    Hard,
    /// Events past the quota are accepted with a warning.
    Soft,
}

/// The tenant's limits and what it used of them this month.
#[derive(SimpleObject, Debug, Clone)]
pub struct Quota {
    /// Sustained events per second.
    pub rate_per_sec: u64,
    /// Events that may arrive at once above the rate.
    pub burst: u64,
    /// Events per calendar month (UTC), if capped.
    pub monthly_events: Option<u64>,
    /// What happens past the monthly quota.
    pub monthly_mode: QuotaModeValue,
    /// Whether these are the tenant's own limits or the defaults.
    pub is_default: bool,
    /// First day of the current period.
    pub period_start: chrono::NaiveDate,
    /// Events accepted in the current period so far.
    pub consumed: u64,
    /// The most rate the operator granted: the tenant's admins may set up to this, not more.
    pub granted_rate_per_sec: u64,
    /// The most burst the operator granted.
    pub granted_burst: u64,
    /// The most monthly events the operator granted, if it capped them.
    pub granted_monthly_events: Option<u64>,
    /// The monthly mode the operator granted: a tenant may go from soft to hard, not back.
    pub granted_monthly_mode: QuotaModeValue,
}

impl Quota {
    /// Combines limits, the operator's grant and consumption.
    pub fn new(
        limits: Limits,
        grant: Limits,
        is_default: bool,
        period_start: chrono::NaiveDate,
        consumed: u64,
    ) -> Self {
        Self {
            rate_per_sec: limits.rate_per_sec,
            burst: limits.burst,
            monthly_events: limits.monthly_events,
            monthly_mode: limits.monthly_mode.into(),
            granted_rate_per_sec: grant.rate_per_sec,
            granted_burst: grant.burst,
            granted_monthly_events: grant.monthly_events,
            granted_monthly_mode: grant.monthly_mode.into(),
            is_default,
            period_start,
            consumed,
        }
    }
}

/// New limits for the tenant.
#[derive(InputObject, Debug, Clone)]
pub struct QuotaInput {
    /// Sustained events per second.
    pub rate_per_sec: u64,
    /// Events that may arrive at once above the rate (default: twice the rate).
    pub burst: Option<u64>,
    /// Events per calendar month, if capped.
    pub monthly_events: Option<u64>,
    /// What happens past the monthly quota.
    #[graphql(default_with = "QuotaModeValue::Hard")]
    pub monthly_mode: QuotaModeValue,
}

/// Queries of the quota.
#[derive(Default)]
pub struct QuotaQuery;

#[Object]
impl QuotaQuery {
    /// The tenant's limits and what it used of the monthly quota.
    #[graphql(complexity = "2 * POSTGRES_QUERY + child_complexity")]
    async fn quota(&self, context: &Context<'_>) -> ApiResult<Quota> {
        let tenant = caller(context)?.may_read()?;
        quota_of(services(context), tenant).await
    }
}

/// Mutations of the quota.
#[derive(Default)]
pub struct QuotaMutation;

#[Object]
impl QuotaMutation {
    /// Sets the tenant's limits; ingest nodes apply them within their refresh interval. A
    /// tenant's admin key may only lower them within what the operator granted; a platform key
    /// (the operator) sets the grant too.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn set_quota(&self, context: &Context<'_>, input: QuotaInput) -> ApiResult<Quota> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let services = services(context);
        let limits = Limits {
            rate_per_sec: input.rate_per_sec,
            burst: input.burst.unwrap_or(input.rate_per_sec.saturating_mul(2)),
            monthly_events: input.monthly_events,
            monthly_mode: input.monthly_mode.into(),
        };
        quotas::set(catalog, tenant, &limits, actor, &services.default_limits).await?;
        quota_of(services, tenant).await
    }
}

/// The tenant's own limits and grant, or the defaults, with what it consumed this period.
async fn quota_of(services: &Services, tenant: TenantId) -> ApiResult<Quota> {
    let own = quotas::get_granted(&services.catalog, tenant).await?;
    let period = quota::period_of(Utc::now());
    let consumed = quotas::usage(&services.catalog, period)
        .await?
        .get(&tenant)
        .copied()
        .unwrap_or(0);
    Ok(match own {
        Some(granted) => Quota::new(granted.limits, granted.grant, false, period, consumed),
        None => Quota::new(
            services.default_limits,
            services.default_limits,
            true,
            period,
            consumed,
        ),
    })
}
