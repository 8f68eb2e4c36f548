//! SQL of `slos`: a tenant's SLOs by name, as written, with the columns of their indicator
//! that the aggregator reads ([`tally_meter::catalog::indicators`]).
//!
//! Applying an SLO that exists keeps its id (and so its counts) while what it counts stays the
//! same: a new objective, window or alert tiers apply to the counts already kept. Changing its
//! event type, its good condition or its group gives it a new id and creation time, so that
//! the counts of two definitions never mix: the new one counts from then on.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Acquire, PgConnection, Postgres};
use tally_meter::audit::{Action, Actor, Change};
use tally_meter::catalog::{audit, tenants};
use tally_meter::ids::{SloId, TenantId};
use tally_meter::{Error, Result};

use crate::spec::SloSpec;

/// Most SLOs one tenant may have.
pub const MAX_SLOS_PER_TENANT: i64 = 100;

/// An SLO as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Slo {
    /// Its id, also the id its indicator's counts carry.
    pub id: SloId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// What it says.
    pub spec: SloSpec,
    /// When its indicator started counting.
    pub created_at: DateTime<Utc>,
    /// When it was last applied with a change.
    pub updated_at: DateTime<Utc>,
}

impl Slo {
    /// The indicator the aggregator counts for it.
    pub fn indicator(&self) -> tally_meter::sli::Indicator {
        self.spec
            .indicator(self.id.as_uuid().into(), self.tenant_id, self.created_at)
    }
}

/// What applying an SLO did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Applied {
    /// It is new.
    Created,
    /// Its objective, window, tiers or description changed; its counts go on.
    Updated,
    /// What it counts changed: it has a new id and counts from now on.
    Replaced,
    /// Nothing changed.
    Unchanged,
}

/// [`query_rows!`](tally_meter::query_rows) of [`SloRow`]s.
macro_rules! query_slo_rows {
    ($($query:tt)*) => {
        tally_meter::query_rows!(
            SloRow,
            r#"id AS "id: SloId", tenant_id AS "tenant_id: TenantId",
              spec AS "spec: Json<SloSpec>", created_at, updated_at"#,
            $($query)*
        )
    };
}

struct SloRow {
    id: SloId,
    tenant_id: TenantId,
    spec: Json<SloSpec>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SloRow> for Slo {
    fn from(row: SloRow) -> Self {
        Self {
            id: row.id,
            tenant_id: row.tenant_id,
            spec: row.spec.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The indicator columns of a spec: event type, good condition, group name and path.
fn indicator_columns(spec: &SloSpec) -> (String, String, Option<String>, Option<String>) {
    let group = spec.group_by.as_ref();
    (
        spec.indicator.event_type().to_owned(),
        spec.indicator.good().to_string(),
        group.map(|group| group.name.clone()),
        group.map(|group| group.path.as_str().to_owned()),
    )
}

/// Creates or changes a tenant's SLO by name (see the module's docs), and records it in the
/// audit log. A tenant at [`MAX_SLOS_PER_TENANT`] is [`Error::LimitReached`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, slo = %spec.name, %actor))]
pub async fn apply(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    spec: &SloSpec,
    actor: Actor,
) -> Result<(Slo, Applied)> {
    spec.validate()?;
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let (event_type, good, group_name, group_path) = indicator_columns(spec);
    let existing = query_slo_rows!(
        "SELECT ",
        " FROM slos WHERE tenant_id = $1 AND name = $2 FOR UPDATE",
        tenant as TenantId,
        &spec.name,
    )
    .fetch_optional(&mut *transaction)
    .await?
    .map(Slo::from);
    let applied = match &existing {
        None => {
            let count = sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM slos WHERE tenant_id = $1"#,
                tenant as TenantId,
            )
            .fetch_one(&mut *transaction)
            .await?;
            if count >= MAX_SLOS_PER_TENANT {
                return Err(Error::LimitReached(format!(
                    "a tenant has at most {MAX_SLOS_PER_TENANT} SLOs"
                )));
            }
            Applied::Created
        }
        Some(slo) if slo.spec == *spec => Applied::Unchanged,
        Some(slo) if indicator_columns(&slo.spec) == indicator_columns(spec) => Applied::Updated,
        Some(_) => Applied::Replaced,
    };
    let id = match (&existing, applied) {
        (Some(slo), Applied::Updated | Applied::Unchanged) => slo.id,
        _ => SloId::generate(),
    };
    let row = query_slo_rows!(
        "INSERT INTO slos (id, tenant_id, name, event_type, good, group_name, group_path, spec)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, name) DO UPDATE SET
             id = excluded.id, event_type = excluded.event_type, good = excluded.good,
             group_name = excluded.group_name, group_path = excluded.group_path,
             spec = excluded.spec,
             created_at = CASE WHEN slos.id = excluded.id THEN slos.created_at ELSE now() END,
             updated_at = CASE WHEN slos.spec = excluded.spec THEN slos.updated_at
                               ELSE now() END
         RETURNING ",
        "",
        id as SloId,
        tenant as TenantId,
        &spec.name,
        event_type,
        good,
        group_name,
        group_path,
        Json(spec) as _,
    )
    .fetch_one(&mut *transaction)
    .await?;
    if applied != Applied::Unchanged {
        let entry = serde_json::json!({"name": spec.name, "applied": applied, "spec": spec});
        let change = Change::made(Action::SloApplied, &entry);
        audit::record(&mut transaction, tenant, actor, change).await?;
    }
    transaction.commit().await?;
    Ok((Slo::from(row), applied))
}

/// Lists a tenant's SLOs by name.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(db: impl Acquire<'_, Database = Postgres>, tenant: TenantId) -> Result<Vec<Slo>> {
    let mut connection = db.acquire().await?;
    let rows = query_slo_rows!(
        "SELECT ",
        " FROM slos WHERE tenant_id = $1 ORDER BY name",
        tenant as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.into_iter().map(Slo::from).collect())
}

/// Finds a tenant's SLO by name.
pub async fn find(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    name: &str,
) -> Result<Slo> {
    find_in(&mut *db.acquire().await?, tenant, name).await
}

/// [`find`] on a connection or in a transaction.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, slo = name))]
pub async fn find_in(connection: &mut PgConnection, tenant: TenantId, name: &str) -> Result<Slo> {
    let row = query_slo_rows!(
        "SELECT ",
        " FROM slos WHERE tenant_id = $1 AND name = $2",
        tenant as TenantId,
        name,
    )
    .fetch_optional(&mut *connection)
    .await?;
    row.map(Slo::from)
        .ok_or_else(|| Error::NotFound(format!("SLO {name}")))
}

/// Finds many SLOs of many tenants by name with one query: those of `wanted`, each a tenant
/// and the name of one of its SLOs, that exist, each once and in no particular order. What
/// alert evaluation reads for a batch of SLO rules.
#[tracing::instrument(skip_all, fields(wanted = wanted.len()))]
pub async fn find_many(
    db: impl Acquire<'_, Database = Postgres>,
    wanted: &[(TenantId, String)],
) -> Result<Vec<Slo>> {
    let mut connection = db.acquire().await?;
    let tenants: Vec<sqlx::types::Uuid> =
        wanted.iter().map(|(tenant, _)| tenant.as_uuid()).collect();
    let names: Vec<&str> = wanted.iter().map(|(_, name)| name.as_str()).collect();
    let rows = query_slo_rows!(
        "SELECT ",
        " FROM slos WHERE (tenant_id, name) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))",
        &tenants,
        &names as &[&str],
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.into_iter().map(Slo::from).collect())
}

/// Deletes a tenant's SLO (its counts stay in ClickHouse, unread), and records it in the
/// audit log.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, slo = name, %actor))]
pub async fn delete(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    name: &str,
    actor: Actor,
) -> Result<()> {
    let mut transaction = db.begin().await?;
    let deleted = sqlx::query_scalar!(
        r#"DELETE FROM slos WHERE tenant_id = $1 AND name = $2 RETURNING id AS "id: SloId""#,
        tenant as TenantId,
        name,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    if deleted.is_none() {
        return Err(Error::NotFound(format!("SLO {name}")));
    }
    let change = Change::made(Action::SloDeleted, &serde_json::json!({ "name": name }));
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(())
}
