//! SQL of `plans` and `plan_versions`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Acquire, PgConnection, Postgres};
use tally_meter::audit::{Action, Actor, Change};
use tally_meter::catalog::{audit, meters, tenants};
use tally_meter::ids::{PlanId, PlanKey, PlanVersionId, TenantId};
use tally_meter::{Error, Result};

use super::conflict_on_unique;
use crate::plan::{Charge, Plan, PlanVersion, VersionSpec};
use crate::platform::Resource;
use crate::price::Pricing;

struct PlanRow {
    id: PlanId,
    tenant_id: TenantId,
    key: String,
    name: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<PlanRow> for Plan {
    type Error = Error;

    fn try_from(row: PlanRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            key: PlanKey::parse(&row.key)?,
            name: row.name,
            created_at: row.created_at,
        })
    }
}

/// [`query_rows!`](tally_meter::query_rows) of [`PlanRow`]s.
macro_rules! query_plans {
    ($($query:tt)*) => {
        tally_meter::query_rows!(
            PlanRow,
            r#"id AS "id: PlanId", tenant_id AS "tenant_id: TenantId", key, name,
              created_at"#,
            $($query)*
        )
    };
}

struct VersionRow {
    id: PlanVersionId,
    plan_id: PlanId,
    version: i32,
    currency: String,
    billing_interval: String,
    charges: Json<Vec<Charge>>,
    published_at: Option<DateTime<Utc>>,
}

impl TryFrom<VersionRow> for PlanVersion {
    type Error = Error;

    fn try_from(row: VersionRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            plan_id: row.plan_id,
            version: row.version,
            spec: VersionSpec {
                currency: row.currency.parse()?,
                interval: row.billing_interval.parse()?,
                charges: row.charges.0,
            },
            published_at: row.published_at,
        })
    }
}

/// [`query_rows!`](tally_meter::query_rows) of [`VersionRow`]s.
macro_rules! query_versions {
    ($($query:tt)*) => {
        tally_meter::query_rows!(
            VersionRow,
            r#"id AS "id: PlanVersionId", plan_id AS "plan_id: PlanId", version, currency,
              billing_interval, charges AS "charges: Json<Vec<Charge>>", published_at"#,
            $($query)*
        )
    };
}

/// Creates a plan with its first version, a draft. A key the tenant already uses is
/// [`Error::Conflict`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, plan = %key))]
pub async fn create(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    key: &PlanKey,
    name: &str,
    spec: &VersionSpec,
    actor: Actor,
) -> Result<(Plan, PlanVersion)> {
    spec.validate()?;
    if name.trim().is_empty() || name.chars().count() > 255 {
        return Err(Error::Invalid(
            "a plan's name must be 1 to 255 characters".to_owned(),
        ));
    }
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let row = query_plans!(
        "INSERT INTO plans (id, tenant_id, key, name) VALUES ($1, $2, $3, $4)
         RETURNING",
        "",
        PlanId::generate() as PlanId,
        tenant as TenantId,
        key.as_str(),
        name.trim(),
    )
    .fetch_one(&mut *transaction)
    .await
    .map_err(conflict_on_unique(|| {
        format!("this tenant already has a plan {key}")
    }))?;
    let plan = Plan::try_from(row)?;
    let version = insert_version(&mut transaction, tenant, plan.id, 1, spec).await?;
    let change = Change::made(Action::PlanCreated, &(&plan, &version));
    audit::commit(transaction, tenant, actor, change).await?;
    Ok((plan, version))
}

/// Drafts the next version of a plan: replaces the draft if the newest version is one,
/// otherwise adds a version after the newest published one.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, plan = %key))]
pub async fn draft(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    key: &PlanKey,
    spec: &VersionSpec,
    actor: Actor,
) -> Result<PlanVersion> {
    spec.validate()?;
    let mut transaction = db.begin().await?;
    let plan = lock_plan(&mut transaction, tenant, key).await?;
    let newest = newest_version(&mut transaction, plan.id).await?;
    let version = match newest {
        Some(draft) if draft.published_at.is_none() => {
            let row = query_versions!(
                "UPDATE plan_versions SET currency = $2, billing_interval = $3, charges = $4
                 WHERE id = $1
                 RETURNING",
                "",
                draft.id as PlanVersionId,
                spec.currency.code(),
                <&str>::from(spec.interval),
                Json(&spec.charges) as _,
            )
            .fetch_one(&mut *transaction)
            .await?;
            PlanVersion::try_from(row)?
        }
        newest => {
            let next = newest.map_or(1, |version| version.version + 1);
            insert_version(&mut transaction, tenant, plan.id, next, spec).await?
        }
    };
    let change = Change::made(Action::PlanDrafted, &(&plan.key, &version));
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(version)
}

/// Publishes a plan's draft: from then on it never changes. Every meter its usage charges
/// name must exist (be a platform meter, for the platform tenant's plans); a plan without a
/// draft is [`Error::Conflict`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, plan = %key))]
pub async fn publish(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    key: &PlanKey,
    actor: Actor,
) -> Result<PlanVersion> {
    let mut transaction = db.begin().await?;
    let plan = lock_plan(&mut transaction, tenant, key).await?;
    let draft = newest_version(&mut transaction, plan.id)
        .await?
        .filter(|version| version.published_at.is_none())
        .ok_or_else(|| Error::Conflict(format!("plan {key} has no draft to publish")))?;
    // The platform tenant's plans price platform meters, which have no groups.
    let platform_meters = super::platform::is_platform(&mut transaction, tenant)
        .await?
        .then(|| Resource::ALL.map(|resource| resource.name()));
    let tenant_meters = meters::keys(&mut transaction, tenant).await?;
    for charge in &draft.spec.charges {
        let Charge::Usage { name, meter, price } = charge else {
            continue;
        };
        match platform_meters {
            Some(names) if !names.contains(&meter.as_str()) => {
                return Err(Error::Invalid(format!(
                    "charge {name:?} prices meter {meter}, which is not a platform meter: use \
                     {}",
                    names.join(", ")
                )));
            }
            Some(_) if matches!(price.pricing, Pricing::ByDimension { .. }) => {
                return Err(Error::Invalid(format!(
                    "charge {name:?} prices platform meter {meter} by dimension, but platform \
                     meters have no groups"
                )));
            }
            None if !tenant_meters.contains(meter) => {
                return Err(Error::Invalid(format!(
                    "charge {name:?} prices meter {meter}, which this tenant does not have"
                )));
            }
            _ => {}
        }
    }
    let row = query_versions!(
        "UPDATE plan_versions SET published_at = now() WHERE id = $1
         RETURNING",
        "",
        draft.id as PlanVersionId,
    )
    .fetch_one(&mut *transaction)
    .await?;
    let published = PlanVersion::try_from(row)?;
    let change = Change::made(Action::PlanPublished, &(&plan.key, &published));
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(published)
}

/// Finds a tenant's plan by key, with its versions, oldest first.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, plan = %key))]
pub async fn find(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    key: &PlanKey,
) -> Result<(Plan, Vec<PlanVersion>)> {
    let mut connection = db.acquire().await?;
    let row = query_plans!(
        "SELECT",
        "FROM plans WHERE tenant_id = $1 AND key = $2",
        tenant as TenantId,
        key.as_str(),
    )
    .fetch_optional(&mut *connection)
    .await?;
    let plan = Plan::try_from(row.ok_or_else(|| Error::NotFound(format!("plan {key}")))?)?;
    let rows = query_versions!(
        "SELECT",
        "FROM plan_versions WHERE plan_id = $1 ORDER BY version",
        plan.id as PlanId,
    )
    .fetch_all(&mut *connection)
    .await?;
    let versions = rows
        .into_iter()
        .map(PlanVersion::try_from)
        .collect::<Result<_>>()?;
    Ok((plan, versions))
}

/// Finds a plan's version by number, or its newest published one.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, plan = %key))]
pub async fn chosen_version(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    key: &PlanKey,
    number: Option<i32>,
) -> Result<PlanVersion> {
    let (_, versions) = find(db, tenant, key).await?;
    versions
        .into_iter()
        .rev()
        .find(|version| {
            number.map_or(version.published_at.is_some(), |number| {
                version.version == number
            })
        })
        .ok_or_else(|| match number {
            Some(number) => Error::NotFound(format!("version {number} of plan {key}")),
            None => Error::Conflict(format!("plan {key} has no published version yet")),
        })
}

/// Finds a version of one of the tenant's plans by id, inside another function's transaction.
pub async fn version(
    connection: &mut PgConnection,
    tenant: TenantId,
    id: PlanVersionId,
) -> Result<PlanVersion> {
    let row = query_versions!(
        "SELECT",
        "FROM plan_versions WHERE tenant_id = $1 AND id = $2",
        tenant as TenantId,
        id as PlanVersionId,
    )
    .fetch_optional(connection)
    .await?;
    PlanVersion::try_from(row.ok_or_else(|| Error::NotFound(format!("plan version {id}")))?)
}

/// Lists a tenant's plans by key, each with its versions, oldest first: two queries, however
/// many plans.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Vec<(Plan, Vec<PlanVersion>)>> {
    let mut connection = db.acquire().await?;
    let rows = query_plans!(
        "SELECT",
        "FROM plans WHERE tenant_id = $1 ORDER BY key",
        tenant as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?;
    let version_rows = query_versions!(
        "SELECT",
        "FROM plan_versions WHERE tenant_id = $1 ORDER BY version",
        tenant as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?;
    let mut versions: HashMap<PlanId, Vec<PlanVersion>> = HashMap::new();
    for row in version_rows {
        let version = PlanVersion::try_from(row)?;
        versions.entry(version.plan_id).or_default().push(version);
    }
    rows.into_iter()
        .map(|row| {
            let plan = Plan::try_from(row)?;
            let its_versions = versions.remove(&plan.id).unwrap_or_default();
            Ok((plan, its_versions))
        })
        .collect()
}

/// Locks a tenant's plan for the transaction, so that its versions change one at a time.
async fn lock_plan(connection: &mut PgConnection, tenant: TenantId, key: &PlanKey) -> Result<Plan> {
    let row = query_plans!(
        "SELECT",
        "FROM plans WHERE tenant_id = $1 AND key = $2 FOR UPDATE",
        tenant as TenantId,
        key.as_str(),
    )
    .fetch_optional(connection)
    .await?;
    Plan::try_from(row.ok_or_else(|| Error::NotFound(format!("plan {key}")))?)
}

async fn newest_version(
    connection: &mut PgConnection,
    plan: PlanId,
) -> Result<Option<PlanVersion>> {
    let row = query_versions!(
        "SELECT",
        "FROM plan_versions WHERE plan_id = $1
         ORDER BY version DESC LIMIT 1",
        plan as PlanId,
    )
    .fetch_optional(connection)
    .await?;
    row.map(PlanVersion::try_from).transpose()
}

async fn insert_version(
    connection: &mut PgConnection,
    tenant: TenantId,
    plan: PlanId,
    version: i32,
    spec: &VersionSpec,
) -> Result<PlanVersion> {
    let row = query_versions!(
        "INSERT INTO plan_versions (id, tenant_id, plan_id, version, currency, billing_interval,
                                    charges)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING",
        "",
        PlanVersionId::generate() as PlanVersionId,
        tenant as TenantId,
        plan as PlanId,
        version,
        spec.currency.code(),
        <&str>::from(spec.interval),
        Json(&spec.charges) as _,
    )
    .fetch_one(connection)
    .await?;
    PlanVersion::try_from(row)
}
