//! The GraphQL schema: queries and mutations of one tenant's data, each bound to the caller's
//! tenant, with the cost limits of [`crate::cost`]: query fields weigh the store queries they
//! run.

mod cursor;
mod events;
mod quarantine;
pub mod types;

use async_graphql::{Context, EmptySubscription, ID, Object, Schema};
use chrono::{DateTime, Utc};
use tally_meter::analytics::Analytics;
use tally_meter::api_key;
use tally_meter::audit::{self, Actor};
use tally_meter::caps::Caps;
use tally_meter::catalog::Pool;
use tally_meter::ids::{ApiKeyId, MeterKey};
use tally_meter::meter::{self, JsonPath, MeterSpec};
use tally_meter::quota::{self, Limits};
use tally_meter::tenant::{self, TenantRef};
use tally_meter::traffic;
use tally_meter::usage::{self, UsageLimits, UsageQuery};

use self::types::{
    ApiKey, AuditEntry, CreatedApiKey, EventFilter, EventPage, Me, Meter, MeterInput,
    QuarantinePage, Quota, QuotaInput, ScopeValue, Traffic, UsagePoint, WindowValue,
};
use crate::auth::Caller;
use crate::cost::{self, CLICKHOUSE_QUERY, CostLimits, POSTGRES_QUERY};
pub use crate::cost::{MAX_COMPLEXITY, MAX_DEPTH};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Most windows and rows one `usage` field answers: smaller than an export's, since a
/// GraphQL answer is built in memory as a whole.
pub const USAGE_LIMITS: UsageLimits = UsageLimits {
    max_windows: 20_000,
    max_rows: 20_000,
};
/// Most items of a page.
pub const MAX_PAGE: usize = 200;
/// Most event types `traffic` ranks.
pub const MAX_TOP_TYPES: u32 = 50;

/// What resolvers use: the stores and the defaults.
#[derive(Clone)]
pub struct Services {
    /// The catalog.
    pub pool: Pool,
    /// The analytics store.
    pub analytics: Analytics,
    /// Limits of tenants without their own.
    pub default_limits: Limits,
    /// Per-tenant caps on definitions.
    pub caps: Caps,
}

/// The API's schema.
pub type TallySchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

impl Services {
    /// Returns the services with ClickHouse queries bounded by `deadline` on the server too
    /// (`max_execution_time`), for requests that give up at that deadline.
    pub fn with_deadline(self, deadline: std::time::Duration) -> Self {
        Self {
            analytics: self.analytics.with_max_execution_time(deadline),
            ..self
        }
    }
}

/// Builds the schema around the services, with the cost limits of [`crate::cost`] (which
/// also enforce [`MAX_DEPTH`] and [`MAX_COMPLEXITY`], with clearer errors than the library's).
pub fn build(services: Services) -> TallySchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .data(services)
        .extension(CostLimits)
        .finish()
}

fn services<'a>(context: &Context<'a>) -> &'a Services {
    context.data_unchecked::<Services>()
}

fn caller<'a>(context: &Context<'a>) -> ApiResult<&'a Caller> {
    context.data_opt::<Caller>().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "send an API key as `Authorization: Bearer KEY`",
        )
    })
}

/// The audit log's name for the caller: the key it used, flagged when a platform key.
fn actor(context: &Context<'_>) -> ApiResult<Actor> {
    Ok(caller(context)?.actor())
}

fn meter_key(key: &str) -> ApiResult<MeterKey> {
    Ok(MeterKey::parse(key)?)
}

/// Queries.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// The caller: its tenant and the scope of its key.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn me(&self, context: &Context<'_>) -> async_graphql::Result<Me> {
        let caller = caller(context)?;
        let tenant = tenant::find(&services(context).pool, &TenantRef::Id(caller.tenant()))
            .await
            .map_err(ApiError::from)?;
        Ok(Me {
            tenant_id: ID(tenant.id.to_string()),
            tenant_name: tenant.name.to_string(),
            scope: ScopeValue::from(caller.principal.scope),
            key_id: ID(caller.principal.key_id.to_string()),
        })
    }

    /// The tenant's meters, by key.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn meters(&self, context: &Context<'_>) -> async_graphql::Result<Vec<Meter>> {
        let tenant = caller(context)?.may_read()?;
        let meters = meter::list(&services(context).pool, tenant)
            .await
            .map_err(ApiError::from)?;
        Ok(meters.into_iter().map(Meter::from).collect())
    }

    /// A meter's usage over `[from, to)` per window, optionally split by groups and limited
    /// to a subject.
    #[expect(clippy::too_many_arguments, reason = "the query's named arguments")]
    #[graphql(complexity = "cost::usage(from, to, window, child_complexity)")]
    async fn usage(
        &self,
        context: &Context<'_>,
        meter: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default_with = "WindowValue::Hour")] window: WindowValue,
        #[graphql(default)] group_by: Vec<String>,
        subject: Option<String>,
    ) -> async_graphql::Result<Vec<UsagePoint>> {
        let tenant = caller(context)?.may_read()?;
        let services = services(context);
        let query = UsageQuery {
            from,
            to,
            window: window.into(),
            group_by,
            subject,
        };
        let points = usage::usage_within(
            &services.pool,
            &services.analytics,
            tenant,
            &meter_key(&meter)?,
            &query,
            USAGE_LIMITS,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(points.into_iter().map(UsagePoint::from).collect())
    }

    /// A meter per minute over the last hour: 60 points, oldest first.
    #[graphql(complexity = "POSTGRES_QUERY + CLICKHOUSE_QUERY + child_complexity")]
    async fn last_hour(
        &self,
        context: &Context<'_>,
        meter: String,
    ) -> async_graphql::Result<Vec<UsagePoint>> {
        let tenant = caller(context)?.may_read()?;
        let services = services(context);
        let points = usage::last_hour(
            &services.pool,
            &services.analytics,
            tenant,
            &meter_key(&meter)?,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(points.into_iter().map(UsagePoint::from).collect())
    }

    /// The last hour per minute: events stored and quarantined, and the `top` busiest types.
    #[graphql(complexity = "3 * CLICKHOUSE_QUERY + child_complexity")]
    async fn traffic(
        &self,
        context: &Context<'_>,
        #[graphql(default = 5)] top: u32,
    ) -> async_graphql::Result<Traffic> {
        let tenant = caller(context)?.may_read()?;
        if top > MAX_TOP_TYPES {
            return Err(ApiError::new(
                ErrorCode::BadUserInput,
                format!("top may be at most {MAX_TOP_TYPES}"),
            )
            .into());
        }
        let traffic = traffic::last_hour(&services(context).analytics, tenant, top)
            .await
            .map_err(ApiError::from)?;
        Ok(traffic.into())
    }

    /// Recent raw events, newest first, a page at a time.
    #[graphql(complexity = "CLICKHOUSE_QUERY + cost::page(first, child_complexity)")]
    async fn events(
        &self,
        context: &Context<'_>,
        filter: Option<EventFilter>,
        #[graphql(default = 50)] first: usize,
        after: Option<String>,
    ) -> async_graphql::Result<EventPage> {
        let tenant = caller(context)?.may_read()?;
        Ok(events::page(
            &services(context).analytics,
            tenant,
            &filter.unwrap_or_default(),
            first,
            after.as_deref(),
        )
        .await?)
    }

    /// Recently quarantined events with their reasons, newest first, a page at a time.
    #[graphql(complexity = "CLICKHOUSE_QUERY + cost::page(first, child_complexity)")]
    async fn quarantine(
        &self,
        context: &Context<'_>,
        #[graphql(default = 50)] first: usize,
        after: Option<String>,
    ) -> async_graphql::Result<QuarantinePage> {
        let tenant = caller(context)?.may_read()?;
        Ok(quarantine::page(
            &services(context).analytics,
            tenant,
            first,
            after.as_deref(),
        )
        .await?)
    }

    /// The tenant's limits and what it used of the monthly quota.
    #[graphql(complexity = "2 * POSTGRES_QUERY + child_complexity")]
    async fn quota(&self, context: &Context<'_>) -> async_graphql::Result<Quota> {
        let tenant = caller(context)?.may_read()?;
        Ok(quota_of(services(context), tenant).await?)
    }

    /// The latest changes of the tenant's quota and keys, newest first (admin keys only).
    #[graphql(complexity = "POSTGRES_QUERY + cost::page(first, child_complexity)")]
    async fn audit_log(
        &self,
        context: &Context<'_>,
        #[graphql(default = 50)] first: usize,
    ) -> async_graphql::Result<Vec<AuditEntry>> {
        let tenant = caller(context)?.may_administer()?;
        cursor::check_page_size(first)?;
        let entries = audit::list(
            &services(context).pool,
            tenant,
            i64::try_from(first).unwrap_or(50),
        )
        .await
        .map_err(ApiError::from)?;
        Ok(entries.into_iter().map(AuditEntry::from).collect())
    }

    /// The tenant's API keys, without secrets.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn api_keys(&self, context: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let tenant = caller(context)?.may_read()?;
        let keys = api_key::list(&services(context).pool, tenant)
            .await
            .map_err(ApiError::from)?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }
}

async fn quota_of(services: &Services, tenant: tally_meter::ids::TenantId) -> ApiResult<Quota> {
    let own = quota::get_granted(&services.pool, tenant).await?;
    let period = quota::period_of(Utc::now());
    let consumed = quota::usage(&services.pool, period)
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

/// Mutations; every one needs an admin key.
pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Creates a meter.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn create_meter(
        &self,
        context: &Context<'_>,
        input: MeterInput,
    ) -> async_graphql::Result<Meter> {
        let tenant = caller(context)?.may_administer()?;
        let group_by = input
            .group_by
            .into_iter()
            .map(|group| Ok((group.name, JsonPath::parse(&group.path)?)))
            .collect::<tally_meter::Result<_>>()
            .map_err(ApiError::from)?;
        let spec = MeterSpec {
            key: meter_key(&input.key)?,
            event_type: input.event_type,
            value_path: input
                .value_path
                .as_deref()
                .map(JsonPath::parse)
                .transpose()
                .map_err(ApiError::from)?,
            aggregation: input.aggregation.into(),
            group_by,
            allowed_lateness_secs: input.allowed_lateness_secs,
        };
        let services = services(context);
        let created = meter::create_by(
            &services.pool,
            tenant,
            &spec,
            actor(context)?,
            &services.caps,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(created.into())
    }

    /// Deletes a meter; its rollups stay in ClickHouse but are no longer reachable.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn delete_meter(
        &self,
        context: &Context<'_>,
        key: String,
    ) -> async_graphql::Result<bool> {
        let tenant = caller(context)?.may_administer()?;
        meter::delete_by(
            &services(context).pool,
            tenant,
            &meter_key(&key)?,
            actor(context)?,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(true)
    }

    /// Sets the tenant's limits; ingest nodes apply them within their refresh interval. A
    /// tenant's admin key may only lower them within what the operator granted; a platform key
    /// (the operator) sets the grant too.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn set_quota(
        &self,
        context: &Context<'_>,
        input: QuotaInput,
    ) -> async_graphql::Result<Quota> {
        let tenant = caller(context)?.may_administer()?;
        let services = services(context);
        let limits = Limits {
            rate_per_sec: input.rate_per_sec,
            burst: input.burst.unwrap_or(input.rate_per_sec.saturating_mul(2)),
            monthly_events: input.monthly_events,
            monthly_mode: input.monthly_mode.into(),
        };
        quota::set_by(
            &services.pool,
            tenant,
            &limits,
            actor(context)?,
            &services.default_limits,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(quota_of(services, tenant).await?)
    }

    /// Creates an ingest, read or admin key; its secret is in the answer and nowhere else.
    /// Platform keys are the operator's and come only from its command line.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn create_api_key(
        &self,
        context: &Context<'_>,
        scope: ScopeValue,
    ) -> async_graphql::Result<CreatedApiKey> {
        let tenant = caller(context)?.may_administer()?;
        if scope == ScopeValue::Platform {
            return Err(ApiError::forbidden(
                "create platform keys: they are the operator's, made only with \
                 `tally key create --scope platform`",
            )
            .into());
        }
        let services = services(context);
        let created = api_key::create_by(
            &services.pool,
            tenant,
            scope.into(),
            actor(context)?,
            &services.caps,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(CreatedApiKey {
            key: created.key.into(),
            secret: secrecy::ExposeSecret::expose_secret(&created.secret).to_owned(),
        })
    }

    /// Revokes one of the tenant's keys.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn revoke_api_key(&self, context: &Context<'_>, id: ID) -> async_graphql::Result<ApiKey> {
        let tenant = caller(context)?.may_administer()?;
        let key_id = id.parse::<ApiKeyId>().map_err(|_| {
            ApiError::new(ErrorCode::NotFound, format!("api key {} not found", id.0))
        })?;
        let revoked = api_key::revoke_by(&services(context).pool, tenant, key_id, actor(context)?)
            .await
            .map_err(ApiError::from)?;
        Ok(revoked.into())
    }
}
