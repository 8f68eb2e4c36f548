//! SQL of `alert_rules`: a tenant's rules, and the rules an evaluation takes in batches,
//! locked, with the meters they watch.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Acquire, PgConnection, Postgres};
use tally_billing::catalog::customers;
use tally_meter::audit::{Action, Actor, Change};
use tally_meter::catalog::{Catalog, audit, meters, tenants};
use tally_meter::ids::{MeterId, TenantId};
use tally_meter::meter::Meter;
use tally_meter::{Error, Result};
use tally_slo::catalog::{self as slos, Applied, Slo};
use tally_slo::spec::SloSpec;
use uuid::Uuid;

use crate::rule::{By, Condition, Rule, RuleSpec};

/// Most rules one tenant may have.
pub const MAX_RULES_PER_TENANT: i64 = 1000;

/// [`query_rows!`](tally_meter::query_rows) of [`RuleRow`]s.
macro_rules! query_rule_rows {
    ($($query:tt)*) => {
        tally_meter::query_rows!(
            RuleRow,
            r#"id, tenant_id AS "tenant_id: TenantId", spec AS "spec: Json<RuleSpec>",
              created_at"#,
            $($query)*
        )
    };
}

struct RuleRow {
    id: Uuid,
    tenant_id: TenantId,
    spec: Json<RuleSpec>,
    created_at: DateTime<Utc>,
}

impl From<RuleRow> for Rule {
    fn from(row: RuleRow) -> Self {
        Self {
            id: row.id,
            tenant_id: row.tenant_id,
            spec: row.spec.0,
            created_at: row.created_at,
        }
    }
}

/// Creates a rule and records it in the audit log. A threshold rule's meter must exist, have
/// the group it splits by, and aggregate in a way that adds up over subjects (count, sum, avg,
/// min, max). A name the tenant already uses is [`Error::Conflict`]; a tenant at
/// [`MAX_RULES_PER_TENANT`] is [`Error::LimitReached`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, rule = %spec.name, %actor))]
pub async fn create(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    spec: &RuleSpec,
    actor: Actor,
) -> Result<Rule> {
    spec.validate()?;
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    if let Condition::Spend { customer, .. } = &spec.condition {
        customers::find_external_in(&mut transaction, tenant, customer)
            .await
            .map_err(not_found_is_invalid(format!("customer {customer}")))?;
    }
    if let Condition::Slo { slo } = &spec.condition {
        slos::find_in(&mut transaction, tenant, slo)
            .await
            .map_err(not_found_is_invalid(format!("SLO {slo}")))?;
    }
    if let Condition::Threshold { meter, by, .. } = &spec.condition {
        let found = meters::find_in(&mut transaction, tenant, meter)
            .await
            .map_err(not_found_is_invalid(format!("meter {meter}")))?;
        let aggregation = found.spec.aggregation;
        if !aggregation.merges_over_subjects() {
            return Err(Error::Invalid(format!(
                "meter {meter} aggregates with {aggregation}: a threshold rule needs count, sum, \
                 avg, min or max"
            )));
        }
        if let By::Group(group) = by
            && !found.spec.group_by.contains_key(group)
        {
            return Err(Error::Invalid(format!(
                "meter {meter} has no group {group} to alert by"
            )));
        }
    }
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM alert_rules WHERE tenant_id = $1"#,
        tenant as TenantId,
    )
    .fetch_one(&mut *transaction)
    .await?;
    if count >= MAX_RULES_PER_TENANT {
        return Err(Error::LimitReached(format!(
            "a tenant has at most {MAX_RULES_PER_TENANT} alert rules"
        )));
    }
    let row = query_rule_rows!(
        "INSERT INTO alert_rules (id, tenant_id, name, spec) VALUES ($1, $2, $3, $4) RETURNING ",
        "",
        Uuid::new_v4(),
        tenant as TenantId,
        &spec.name,
        Json(spec) as _,
    )
    .fetch_one(&mut *transaction)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => Error::Conflict(
            format!("this tenant already has an alert rule {}", spec.name),
        ),
        _ => Error::Postgres(error),
    })?;
    let rule = Rule::from(row);
    let change = Change::made(Action::AlertRuleCreated, &rule);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(rule)
}

/// Maps the error of finding what a rule watches, `watched` (such as "meter temp"): a rule
/// watching something not found is [`Error::Invalid`]; other errors stay as they are.
fn not_found_is_invalid(watched: String) -> impl FnOnce(Error) -> Error {
    move |error| match error {
        Error::NotFound(_) => {
            Error::Invalid(format!("the rule watches {watched}, which does not exist"))
        }
        error => error,
    }
}

/// Lists a tenant's rules by name.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Vec<Rule>> {
    let mut connection = db.acquire().await?;
    let rows = query_rule_rows!(
        "SELECT ",
        " FROM alert_rules WHERE tenant_id = $1 ORDER BY name",
        tenant as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.into_iter().map(Rule::from).collect())
}

/// Finds a tenant's rule by name.
pub async fn find(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    name: &str,
) -> Result<Rule> {
    let mut connection = db.acquire().await?;
    let row = query_rule_rows!(
        "SELECT ",
        " FROM alert_rules WHERE tenant_id = $1 AND name = $2",
        tenant as TenantId,
        name,
    )
    .fetch_optional(&mut *connection)
    .await?;
    found(row, name)
}

/// The rule a query for the name `name` found, or [`Error::NotFound`].
fn found(row: Option<RuleRow>, name: &str) -> Result<Rule> {
    row.map(Rule::from)
        .ok_or_else(|| Error::NotFound(format!("alert rule {name}")))
}

/// Deletes a tenant's rule with its alerts (their history stays), and records it in the audit
/// log.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, rule = name, %actor))]
pub async fn delete(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    name: &str,
    actor: Actor,
) -> Result<()> {
    let mut transaction = db.begin().await?;
    let row = query_rule_rows!(
        "DELETE FROM alert_rules WHERE tenant_id = $1 AND name = $2 RETURNING ",
        "",
        tenant as TenantId,
        name,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    let rule = found(row, name)?;
    let change = Change::removed(Action::AlertRuleDeleted, &rule);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(())
}

/// Counts the rules of active tenants that no process evaluated since `before`.
pub async fn count_due(
    db: impl Acquire<'_, Database = Postgres>,
    before: DateTime<Utc>,
) -> Result<u64> {
    let mut connection = db.acquire().await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!"
           FROM alert_rules r
           JOIN tenants t ON t.id = r.tenant_id AND t.status = 'active'
           WHERE r.evaluated_at IS NULL OR r.evaluated_at < $1"#,
        before,
    )
    .fetch_one(&mut *connection)
    .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Takes up to `limit` rules of active tenants that no process evaluated since `before` for
/// one evaluation inside `connection`'s transaction, oldest evaluation first and each
/// tenant's rules together: their rows stay locked until the transaction ends, and rows that
/// another transaction holds are skipped rather than waited for. A rule another process
/// evaluated since `before` is not taken, even when that process committed while this query
/// ran (PostgreSQL checks a locked row's newest version). `passed_over` are rules the caller
/// already took in this pass and left due (they failed), which are not taken again.
pub async fn claim_due(
    connection: &mut PgConnection,
    before: DateTime<Utc>,
    passed_over: &[Uuid],
    limit: i64,
) -> Result<Vec<Rule>> {
    let rows = sqlx::query_as!(
        RuleRow,
        r#"SELECT r.id, r.tenant_id AS "tenant_id: TenantId", r.spec AS "spec: Json<RuleSpec>",
                  r.created_at
           FROM alert_rules r
           JOIN tenants t ON t.id = r.tenant_id AND t.status = 'active'
           WHERE (r.evaluated_at IS NULL OR r.evaluated_at < $1) AND r.id <> ALL($2)
           ORDER BY r.evaluated_at NULLS FIRST, r.tenant_id, r.id
           LIMIT $3
           FOR UPDATE OF r SKIP LOCKED"#,
        before,
        passed_over,
        limit,
    )
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(Rule::from).collect())
}

/// The meters that threshold rules watch, by rule; a rule whose tenant no longer has its
/// meter has none.
pub async fn watched_meters(
    connection: &mut PgConnection,
    rules: &[Uuid],
) -> Result<HashMap<Uuid, Meter>> {
    let watched = sqlx::query!(
        r#"SELECT r.id AS rule_id, m.id AS "meter_id: MeterId"
           FROM alert_rules r
           JOIN meters m ON m.tenant_id = r.tenant_id AND m.key = r.spec ->> 'meter'
           WHERE r.id = ANY($1) AND r.spec ->> 'kind' = 'threshold'"#,
        rules,
    )
    .fetch_all(&mut *connection)
    .await?;
    let ids: Vec<MeterId> = watched.iter().map(|row| row.meter_id).collect();
    let meters: HashMap<MeterId, Meter> = meters::by_ids(connection, &ids)
        .await?
        .into_iter()
        .map(|meter| (meter.id, meter))
        .collect();
    Ok(watched
        .into_iter()
        .filter_map(|row| Some((row.rule_id, meters.get(&row.meter_id)?.clone())))
        .collect())
}

/// Records that rules were evaluated at `at`.
pub async fn evaluated(
    connection: &mut PgConnection,
    rules: &[Uuid],
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        "UPDATE alert_rules SET evaluated_at = $2 WHERE id = ANY($1)",
        rules,
        at,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// What applying an SLO with its alert rule did.
pub struct SloApplied {
    /// The SLO as stored.
    pub slo: Slo,
    /// Whether it was created, updated, replaced or unchanged.
    pub applied: Applied,
    /// A rule of the SLO's name watches something else, so the SLO has no alerts until that
    /// rule is renamed.
    pub rule_taken: bool,
}

/// Creates or changes a tenant's SLO ([`slos::apply`]) and gives it its alert rule, named
/// after it, unless it has one: the rule that turns its tiers into alerts.
pub async fn apply_slo(
    catalog: &Catalog,
    tenant: TenantId,
    spec: &SloSpec,
    actor: Actor,
) -> Result<SloApplied> {
    let (slo, applied) = slos::apply(catalog, tenant, spec, actor).await?;
    let rule = RuleSpec {
        name: slo.spec.name.clone(),
        condition: Condition::Slo {
            slo: slo.spec.name.clone(),
        },
        pending_for: std::time::Duration::ZERO,
        keep_firing_for: std::time::Duration::ZERO,
        severity: crate::rule::Severity::default(),
        labels: BTreeMap::new(),
    };
    let rule_taken = match create(catalog, tenant, &rule, actor).await {
        Ok(_) => false,
        Err(Error::Conflict(_)) => {
            find(catalog, tenant, &rule.name).await?.spec.condition != rule.condition
        }
        Err(error) => return Err(error),
    };
    Ok(SloApplied {
        slo,
        applied,
        rule_taken,
    })
}

/// Deletes a tenant's SLO ([`slos::delete`]) with its alert rule, if it has one, and the
/// rule's alerts; an unknown SLO is [`Error::NotFound`] and changes nothing.
pub async fn delete_slo(
    catalog: &Catalog,
    tenant: TenantId,
    slo: &str,
    actor: Actor,
) -> Result<()> {
    slos::find(catalog, tenant, slo).await?;
    match find(catalog, tenant, slo).await {
        Ok(rule) if matches!(&rule.spec.condition, Condition::Slo { slo: watched } if watched == slo) =>
        {
            delete(catalog, tenant, slo, actor).await?;
        }
        Ok(_) | Err(Error::NotFound(_)) => {}
        Err(error) => return Err(error),
    }
    slos::delete(catalog, tenant, slo, actor).await
}
