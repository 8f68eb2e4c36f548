//! SQL of `subscriptions`.

use chrono::{DateTime, Utc};
use sqlx::{Acquire, Postgres};
use tally_meter::audit::{Action, Actor, Change};
use tally_meter::catalog::{audit, tenants};
use tally_meter::ids::{CustomerId, PlanId, PlanVersionId, SubscriptionId, TenantId};
use tally_meter::{Error, Result};

use super::{customers, plans};
use crate::subscription::{Anchor, Subscription};

struct SubscriptionRow {
    id: SubscriptionId,
    tenant_id: TenantId,
    customer_id: CustomerId,
    plan_version_id: PlanVersionId,
    anchor: String,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = Error;

    fn try_from(row: SubscriptionRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            customer_id: row.customer_id,
            plan_version_id: row.plan_version_id,
            anchor: row.anchor.parse()?,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
        })
    }
}

/// [`query_rows!`](tally_meter::query_rows) of [`SubscriptionRow`]s.
macro_rules! query_subscriptions {
    ($($query:tt)*) => {
        tally_meter::query_rows!(
            SubscriptionRow,
            r#"id AS "id: SubscriptionId", tenant_id AS "tenant_id: TenantId",
              customer_id AS "customer_id: CustomerId",
              plan_version_id AS "plan_version_id: PlanVersionId",
              anchor, starts_at, ends_at"#,
            $($query)*
        )
    };
}

/// Subscribes a customer to a published plan version from `starts_at`. A draft version, a
/// plan in another currency than the customer's, or a subscription of the customer to the same
/// plan that overlaps is refused.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, customer_id = %customer))]
pub async fn create(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    customer: CustomerId,
    plan_version: PlanVersionId,
    anchor: Anchor,
    starts_at: DateTime<Utc>,
    actor: Actor,
) -> Result<Subscription> {
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let customer = customers::by_id(&mut transaction, tenant, customer).await?;
    let version = plans::version(&mut transaction, tenant, plan_version).await?;
    if version.published_at.is_none() {
        return Err(Error::Conflict(format!(
            "version {} of the plan is a draft: publish it first",
            version.version
        )));
    }
    if version.spec.currency.code() != customer.currency {
        return Err(Error::Invalid(format!(
            "customer {} is billed in {}, but the plan charges in {}",
            customer.external_id, customer.currency, version.spec.currency
        )));
    }
    let overlapping = sqlx::query_scalar!(
        r#"SELECT s.id AS "id: SubscriptionId" FROM subscriptions s
           JOIN plan_versions v ON v.tenant_id = s.tenant_id AND v.id = s.plan_version_id
           WHERE s.tenant_id = $1 AND s.customer_id = $2 AND v.plan_id = $3
             AND (s.ends_at IS NULL OR s.ends_at > $4)
           LIMIT 1"#,
        tenant as TenantId,
        customer.id as CustomerId,
        version.plan_id as PlanId,
        starts_at,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    if let Some(existing) = overlapping {
        return Err(Error::Conflict(format!(
            "customer {} is already subscribed to this plan ({existing}) at {starts_at}: cancel \
             that subscription first",
            customer.external_id
        )));
    }
    let row = query_subscriptions!(
        "INSERT INTO subscriptions (id, tenant_id, customer_id, plan_version_id, anchor,
                                    starts_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING",
        "",
        SubscriptionId::generate() as SubscriptionId,
        tenant as TenantId,
        customer.id as CustomerId,
        plan_version as PlanVersionId,
        <&str>::from(anchor),
        starts_at,
    )
    .fetch_one(&mut *transaction)
    .await?;
    let created = Subscription::try_from(row)?;
    let change = Change::made(Action::SubscriptionCreated, &created);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(created)
}

/// Ends a subscription at `at`, which must be after its start and before any end it has.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, subscription_id = %id))]
pub async fn cancel(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    id: SubscriptionId,
    at: DateTime<Utc>,
    actor: Actor,
) -> Result<Subscription> {
    let mut transaction = db.begin().await?;
    let current = query_subscriptions!(
        "SELECT",
        "FROM subscriptions WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant as TenantId,
        id as SubscriptionId,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    let current = Subscription::try_from(
        current.ok_or_else(|| Error::NotFound(format!("subscription {id}")))?,
    )?;
    if at <= current.starts_at || current.ends_at.is_some_and(|ends_at| ends_at <= at) {
        return Err(Error::Invalid(format!(
            "subscription {id} runs from {} to {}: it can only be cancelled in between",
            current.starts_at,
            current
                .ends_at
                .map_or_else(|| "no end".to_owned(), |ends_at| ends_at.to_string())
        )));
    }
    let row = query_subscriptions!(
        "UPDATE subscriptions SET ends_at = $2 WHERE id = $1 RETURNING",
        "",
        id as SubscriptionId,
        at,
    )
    .fetch_one(&mut *transaction)
    .await?;
    let cancelled = Subscription::try_from(row)?;
    let change = Change::replaced(Action::SubscriptionCancelled, Some(&current), &cancelled);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(cancelled)
}

/// Moves a subscription to another published plan version at `at`, in one transaction: the
/// subscription ends at `at` and a new one of the same customer and anchor starts there.
/// Returns both.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, subscription_id = %id))]
pub async fn change(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    id: SubscriptionId,
    plan_version: PlanVersionId,
    at: DateTime<Utc>,
    actor: Actor,
) -> Result<(Subscription, Subscription)> {
    let mut transaction = db.begin().await?;
    let ended = cancel(&mut *transaction, tenant, id, at, actor).await?;
    let started = create(
        &mut *transaction,
        tenant,
        ended.customer_id,
        plan_version,
        ended.anchor,
        at,
        actor,
    )
    .await?;
    transaction.commit().await?;
    Ok((ended, started))
}

/// Lists a tenant's subscriptions, of one customer or all, by start.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    customer: Option<CustomerId>,
) -> Result<Vec<Subscription>> {
    let mut connection = db.acquire().await?;
    let rows = query_subscriptions!(
        "SELECT",
        "FROM subscriptions
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR customer_id = $2)
         ORDER BY starts_at, id",
        tenant as TenantId,
        customer as Option<CustomerId>,
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(Subscription::try_from).collect()
}
