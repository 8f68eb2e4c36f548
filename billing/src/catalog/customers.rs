//! SQL of `customers` and `customer_subjects`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{Acquire, PgConnection, Postgres};
use tally_meter::audit::{Action, Actor, Change};
use tally_meter::catalog::{audit, tenants};
use tally_meter::ids::{CustomerId, TenantId};
use tally_meter::{Error, Result};

use super::conflict_on_unique;
use crate::customer::{Customer, CustomerSpec};

struct CustomerRow {
    id: CustomerId,
    tenant_id: TenantId,
    external_id: String,
    name: String,
    email: Option<String>,
    currency: String,
    timezone: String,
    tax_percent: Option<Decimal>,
    subjects: Vec<String>,
    created_at: DateTime<Utc>,
}

impl From<CustomerRow> for Customer {
    fn from(row: CustomerRow) -> Self {
        Self {
            id: row.id,
            tenant_id: row.tenant_id,
            external_id: row.external_id,
            name: row.name,
            email: row.email,
            currency: row.currency,
            timezone: row.timezone,
            tax_percent: row.tax_percent.map(|tax| tax.normalize()),
            subjects: row.subjects,
            created_at: row.created_at,
        }
    }
}

/// `sqlx::query_as!` into [`CustomerRow`]s: the customers `WHERE` `filter` keeps, each with its
/// subjects, by external id; the query's arguments follow the filter. sqlx joins literals added
/// with `+` before it reads a query, so each query is still checked at compile time.
macro_rules! query_customers {
    ($filter:literal, $($arguments:tt)*) => {
        sqlx::query_as!(
            CustomerRow,
            r#"SELECT c.id AS "id: CustomerId", c.tenant_id AS "tenant_id: TenantId",
                      c.external_id, c.name, c.email, c.currency, c.timezone, c.tax_percent,
                      c.created_at,
                      coalesce(array_agg(s.subject ORDER BY s.subject)
                               FILTER (WHERE s.subject IS NOT NULL), '{}') AS "subjects!"
               FROM customers c
               LEFT JOIN customer_subjects s ON s.tenant_id = c.tenant_id AND s.customer_id = c.id
               WHERE "#
                + $filter
                + " GROUP BY c.id ORDER BY c.external_id",
            $($arguments)*
        )
    };
}

/// Creates a customer with its subjects and records it in the audit log. An external id the
/// tenant already uses, or a subject another customer owns, is [`Error::Conflict`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, %actor))]
pub async fn create(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    spec: &CustomerSpec,
    actor: Actor,
) -> Result<Customer> {
    spec.validate()?;
    let mut transaction = db.begin().await?;
    tenants::lock(&mut transaction, tenant).await?;
    let mut subjects = spec.subjects.clone();
    subjects.sort();
    subjects.dedup();
    let owned = sqlx::query!(
        "SELECT s.subject, c.external_id FROM customer_subjects s
         JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
         WHERE s.tenant_id = $1 AND s.subject = ANY($2) ORDER BY s.subject LIMIT 1",
        tenant as TenantId,
        &subjects,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    if let Some(owned) = owned {
        return Err(Error::Conflict(format!(
            "subject {:?} already belongs to customer {}",
            owned.subject, owned.external_id
        )));
    }
    let id = CustomerId::generate();
    sqlx::query!(
        "INSERT INTO customers (id, tenant_id, external_id, name, email, currency, timezone,
                                tax_percent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id as CustomerId,
        tenant as TenantId,
        &spec.external_id,
        &spec.name,
        spec.email.as_deref(),
        spec.currency.code(),
        spec.timezone.name(),
        spec.tax_percent,
    )
    .execute(&mut *transaction)
    .await
    .map_err(conflict_on_unique(|| {
        format!("this tenant already has a customer {}", spec.external_id)
    }))?;
    sqlx::query!(
        "INSERT INTO customer_subjects (tenant_id, customer_id, subject)
         SELECT $1, $2, unnest($3::text[])",
        tenant as TenantId,
        id as CustomerId,
        &subjects,
    )
    .execute(&mut *transaction)
    .await?;
    let created = by_id(&mut transaction, tenant, id).await?;
    let change = Change::made(Action::CustomerCreated, &created);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(created)
}

/// Finds a tenant's customer by id; another tenant's is [`Error::NotFound`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, customer_id = %id))]
pub async fn find(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    id: CustomerId,
) -> Result<Customer> {
    by_id(&mut *db.acquire().await?, tenant, id).await
}

/// [`find`], inside another function's transaction.
pub(super) async fn by_id(
    connection: &mut PgConnection,
    tenant: TenantId,
    id: CustomerId,
) -> Result<Customer> {
    of_ids(connection, tenant, &[id])
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound(format!("customer {id}")))
}

/// Finds the tenant's customers of these ids, by external id; ids of other tenants' customers,
/// or of none, find nothing.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, customers = ids.len()))]
pub async fn find_many(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    ids: &[CustomerId],
) -> Result<Vec<Customer>> {
    of_ids(&mut *db.acquire().await?, tenant, ids).await
}

/// [`find_many`] on a connection or in a transaction.
async fn of_ids(
    connection: &mut PgConnection,
    tenant: TenantId,
    ids: &[CustomerId],
) -> Result<Vec<Customer>> {
    let ids: Vec<_> = ids.iter().map(CustomerId::as_uuid).collect();
    let rows = query_customers!(
        "c.tenant_id = $1 AND c.id = ANY($2)",
        tenant as TenantId,
        &ids,
    )
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(Customer::from).collect())
}

/// Finds a tenant's customer by its external id.
pub async fn find_external(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    external_id: &str,
) -> Result<Customer> {
    find_external_in(&mut *db.acquire().await?, tenant, external_id).await
}

/// [`find_external`] on a connection or in a transaction.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn find_external_in(
    connection: &mut PgConnection,
    tenant: TenantId,
    external_id: &str,
) -> Result<Customer> {
    let row = query_customers!(
        "c.tenant_id = $1 AND c.external_id = $2",
        tenant as TenantId,
        external_id,
    )
    .fetch_optional(&mut *connection)
    .await?;
    row.map(Customer::from)
        .ok_or_else(|| Error::NotFound(format!("customer {external_id}")))
}

/// Lists a tenant's customers by external id.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Vec<Customer>> {
    let mut connection = db.acquire().await?;
    let rows = query_customers!("c.tenant_id = $1", tenant as TenantId,)
        .fetch_all(&mut *connection)
        .await?;
    Ok(rows.into_iter().map(Customer::from).collect())
}
