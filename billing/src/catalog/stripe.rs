//! SQL of `stripe_customers` and `invoice_stripe_sync`. The sync itself runs for every tenant
//! at once (it is the operator's Stripe account), so [`enqueue_finalized`] and [`due`] read
//! across tenants; every other function binds the tenant of the row it touches.

use chrono::{DateTime, Utc};
use sqlx::{Acquire, Postgres};
use tally_meter::Result;
use tally_meter::ids::{CustomerId, InvoiceId, TenantId};

use crate::stripe::{InvoiceSync, SyncState};

/// The longest wait between two attempts of a failing sync.
const MAX_BACKOFF_SECS: i64 = 3600;

struct SyncRow {
    sync_state: String,
    attempts: i32,
    last_error: Option<String>,
    next_attempt_at: DateTime<Utc>,
    stripe_customer_id: Option<String>,
    stripe_invoice_id: Option<String>,
    synced_at: Option<DateTime<Utc>>,
}

impl TryFrom<SyncRow> for InvoiceSync {
    type Error = tally_meter::Error;

    fn try_from(row: SyncRow) -> Result<Self> {
        Ok(Self {
            state: row.sync_state.parse()?,
            attempts: row.attempts,
            last_error: row.last_error,
            next_attempt_at: row.next_attempt_at,
            stripe_customer_id: row.stripe_customer_id,
            stripe_invoice_id: row.stripe_invoice_id,
            synced_at: row.synced_at,
        })
    }
}

/// Queues every finalized invoice that has no sync yet; returns how many were queued.
pub async fn enqueue_finalized(db: impl Acquire<'_, Database = Postgres>) -> Result<u64> {
    let mut connection = db.acquire().await?;
    let queued = sqlx::query!(
        "INSERT INTO invoice_stripe_sync (invoice_id, tenant_id)
         SELECT i.id, i.tenant_id FROM invoices i
         WHERE i.status = 'FINALIZED'
           AND NOT EXISTS (SELECT 1 FROM invoice_stripe_sync s WHERE s.invoice_id = i.id)
         ON CONFLICT (invoice_id) DO NOTHING"
    )
    .execute(&mut *connection)
    .await?;
    Ok(queued.rows_affected())
}

/// The invoices whose sync is due at `now`, oldest due first, at most `limit`.
pub async fn due(
    db: impl Acquire<'_, Database = Postgres>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(TenantId, InvoiceId)>> {
    let mut connection = db.acquire().await?;
    let due = sqlx::query!(
        r#"SELECT tenant_id AS "tenant_id: TenantId", invoice_id AS "invoice_id: InvoiceId"
           FROM invoice_stripe_sync
           WHERE sync_state <> 'SYNCED' AND next_attempt_at <= $1
           ORDER BY next_attempt_at, invoice_id LIMIT $2"#,
        now,
        limit,
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(due
        .into_iter()
        .map(|row| (row.tenant_id, row.invoice_id))
        .collect())
}

/// An invoice's sync, if it has one.
pub async fn find(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    invoice: InvoiceId,
) -> Result<Option<InvoiceSync>> {
    let mut connection = db.acquire().await?;
    let row = sqlx::query_as!(
        SyncRow,
        "SELECT sync_state, attempts, last_error, next_attempt_at, stripe_customer_id,
                stripe_invoice_id, synced_at
         FROM invoice_stripe_sync WHERE tenant_id = $1 AND invoice_id = $2",
        tenant as TenantId,
        invoice as InvoiceId,
    )
    .fetch_optional(&mut *connection)
    .await?;
    row.map(InvoiceSync::try_from).transpose()
}

/// The Tally invoice, and its tenant, that a Stripe invoice is the copy of.
pub async fn by_stripe_invoice(
    db: impl Acquire<'_, Database = Postgres>,
    stripe_invoice_id: &str,
) -> Result<Option<(TenantId, InvoiceId)>> {
    let mut connection = db.acquire().await?;
    let found = sqlx::query!(
        r#"SELECT tenant_id AS "tenant_id: TenantId", invoice_id AS "invoice_id: InvoiceId"
           FROM invoice_stripe_sync WHERE stripe_invoice_id = $1"#,
        stripe_invoice_id,
    )
    .fetch_optional(&mut *connection)
    .await?;
    Ok(found.map(|row| (row.tenant_id, row.invoice_id)))
}

/// The Stripe customer made for a Tally customer, if one was.
pub async fn stripe_customer(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    customer: CustomerId,
) -> Result<Option<String>> {
    let mut connection = db.acquire().await?;
    let found = sqlx::query_scalar!(
        "SELECT stripe_customer_id FROM stripe_customers
         WHERE tenant_id = $1 AND customer_id = $2",
        tenant as TenantId,
        customer as CustomerId,
    )
    .fetch_optional(&mut *connection)
    .await?;
    Ok(found)
}

/// Remembers the Stripe customer of a Tally customer; the first one remembered stays.
pub async fn remember_customer(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    customer: CustomerId,
    stripe_customer_id: &str,
) -> Result<String> {
    let mut connection = db.acquire().await?;
    let kept = sqlx::query_scalar!(
        "INSERT INTO stripe_customers (tenant_id, customer_id, stripe_customer_id)
         VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, customer_id)
         DO UPDATE SET stripe_customer_id = stripe_customers.stripe_customer_id
         RETURNING stripe_customer_id",
        tenant as TenantId,
        customer as CustomerId,
        stripe_customer_id,
    )
    .fetch_one(&mut *connection)
    .await?;
    Ok(kept)
}

/// Records the Stripe customer and invoice an invoice's sync made.
pub async fn record_stripe_invoice(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    invoice: InvoiceId,
    stripe_customer_id: &str,
    stripe_invoice_id: &str,
) -> Result<()> {
    let mut connection = db.acquire().await?;
    sqlx::query!(
        "UPDATE invoice_stripe_sync
         SET stripe_customer_id = $3, stripe_invoice_id = $4, updated_at = now()
         WHERE tenant_id = $1 AND invoice_id = $2",
        tenant as TenantId,
        invoice as InvoiceId,
        stripe_customer_id,
        stripe_invoice_id,
    )
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Marks an invoice's sync done.
pub async fn mark_synced(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    invoice: InvoiceId,
) -> Result<()> {
    let mut connection = db.acquire().await?;
    sqlx::query!(
        "UPDATE invoice_stripe_sync
         SET sync_state = $3, last_error = NULL, synced_at = now(), updated_at = now()
         WHERE tenant_id = $1 AND invoice_id = $2",
        tenant as TenantId,
        invoice as InvoiceId,
        <&str>::from(SyncState::Synced),
    )
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Records a failed attempt and when to try again: `base_secs` × 2^(attempts so far), at most
/// an hour.
pub async fn mark_failed(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    invoice: InvoiceId,
    error: &str,
    base_secs: i64,
) -> Result<()> {
    let mut connection = db.acquire().await?;
    sqlx::query!(
        "UPDATE invoice_stripe_sync
         SET sync_state = $3, attempts = attempts + 1, last_error = $4, updated_at = now(),
             next_attempt_at = now() + make_interval(
                 secs => least($5::float8 * power(2, least(attempts, 20)), $6::float8))
         WHERE tenant_id = $1 AND invoice_id = $2",
        tenant as TenantId,
        invoice as InvoiceId,
        <&str>::from(SyncState::Failed),
        error,
        base_secs as f64,
        MAX_BACKOFF_SECS as f64,
    )
    .execute(&mut *connection)
    .await?;
    Ok(())
}
