//! SQL of `invoices` and `invoice_sequences`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{Acquire, PgConnection, Postgres};
use tally_meter::audit::{Action, Actor, Change};
use tally_meter::catalog::audit;
use tally_meter::ids::{CustomerId, InvoiceId, SubscriptionId, TenantId};
use tally_meter::{Error, Result};

use crate::invoice::{Billed, Computed, Invoice, Line, Status};
use crate::period::Period;
use crate::subscription::Subscription;

struct InvoiceRow {
    id: InvoiceId,
    tenant_id: TenantId,
    customer_id: CustomerId,
    subscription_id: SubscriptionId,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    opening: bool,
    status: String,
    number: Option<String>,
    currency: String,
    lines: Json<Vec<Line>>,
    measured: Json<Vec<Billed>>,
    subtotal: Decimal,
    tax_percent: Option<Decimal>,
    tax: Decimal,
    total: Decimal,
    grace_until: DateTime<Utc>,
    finalized_at: Option<DateTime<Utc>>,
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = Error;

    fn try_from(row: InvoiceRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            customer_id: row.customer_id,
            subscription_id: row.subscription_id,
            period: Period {
                start: row.period_start,
                end: row.period_end,
            },
            opening: row.opening,
            status: row.status.parse()?,
            number: row.number,
            computed: Computed {
                currency: row.currency.parse()?,
                lines: row.lines.0,
                measured: row.measured.0,
                subtotal: row.subtotal.normalize(),
                tax_percent: row.tax_percent.map(|percent| percent.normalize()),
                tax: row.tax.normalize(),
                total: row.total.normalize(),
            },
            grace_until: row.grace_until,
            finalized_at: row.finalized_at,
        })
    }
}

/// [`query_rows!`](tally_meter::query_rows) of [`InvoiceRow`]s.
macro_rules! query_invoices {
    ($($query:tt)*) => {
        tally_meter::query_rows!(
            InvoiceRow,
            r#"id AS "id: InvoiceId", tenant_id AS "tenant_id: TenantId",
              customer_id AS "customer_id: CustomerId",
              subscription_id AS "subscription_id: SubscriptionId",
              period_start, period_end, opening, status, number, currency,
              lines AS "lines: Json<Vec<Line>>",
              measured AS "measured: Json<Vec<Billed>>",
              subtotal, tax_percent, tax, total, grace_until, finalized_at"#,
            $($query)*
        )
    };
}

/// Writes the draft of a subscription's invoice for a period (its opening invoice if
/// `opening`), or replaces the draft's lines and totals; an invoice already finalized is
/// returned as it is. Runs may repeat: one invoice per subscription and period, whoever writes
/// it.
#[tracing::instrument(skip_all, fields(tenant_id = %subscription.tenant_id, subscription_id = %subscription.id))]
pub async fn write_draft(
    db: impl Acquire<'_, Database = Postgres>,
    subscription: &Subscription,
    period: Period,
    opening: bool,
    computed: &Computed,
    grace_until: DateTime<Utc>,
) -> Result<Invoice> {
    let mut connection = db.acquire().await?;
    let written = query_invoices!(
        "INSERT INTO invoices (id, tenant_id, customer_id, subscription_id, period_start,
                               period_end, opening, status, currency, lines, measured,
                               subtotal, tax_percent, tax, total, grace_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'DRAFT', $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (tenant_id, subscription_id, period_start, opening) DO UPDATE
         SET period_end = excluded.period_end, currency = excluded.currency,
             lines = excluded.lines, measured = excluded.measured, subtotal = excluded.subtotal,
             tax_percent = excluded.tax_percent, tax = excluded.tax, total = excluded.total,
             grace_until = excluded.grace_until, updated_at = now()
         WHERE invoices.status = 'DRAFT'
         RETURNING",
        "",
        InvoiceId::generate() as InvoiceId,
        subscription.tenant_id as TenantId,
        subscription.customer_id as CustomerId,
        subscription.id as SubscriptionId,
        period.start,
        period.end,
        opening,
        computed.currency.code(),
        Json(&computed.lines) as _,
        Json(&computed.measured) as _,
        computed.subtotal,
        computed.tax_percent,
        computed.tax,
        computed.total,
        grace_until,
    )
    .fetch_optional(&mut *connection)
    .await?;
    let row = match written {
        Some(row) => row,
        None => {
            query_invoices!(
                "SELECT",
                "FROM invoices
                 WHERE tenant_id = $1 AND subscription_id = $2 AND period_start = $3
                   AND opening = $4",
                subscription.tenant_id as TenantId,
                subscription.id as SubscriptionId,
                period.start,
                opening,
            )
            .fetch_one(&mut *connection)
            .await?
        }
    };
    Invoice::try_from(row)
}

/// Finalizes a draft: it gets the tenant's next number (`PREFIX-000001` on, without gaps, the
/// prefix being the tenant's name in capitals unless set) and never changes again but for
/// being paid or voided. An invoice that is not a draft is [`Error::Conflict`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, invoice_id = %id))]
pub async fn finalize(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    id: InvoiceId,
    actor: Actor,
) -> Result<Invoice> {
    let mut transaction = db.begin().await?;
    let status = sqlx::query_scalar!(
        "SELECT status FROM invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant as TenantId,
        id as InvoiceId,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    match status.as_deref() {
        None => return Err(Error::NotFound(format!("invoice {id}"))),
        Some("DRAFT") => {}
        Some(status) => {
            return Err(Error::Conflict(format!(
                "invoice {id} is {} already",
                status.to_ascii_lowercase()
            )));
        }
    }
    // The tenant's name is read here rather than through `tenants::find`, whose `impl Acquire`
    // would keep this future from being `Send` (see the meter's `catalog.rs`).
    let name = sqlx::query_scalar!("SELECT name FROM tenants WHERE id = $1", tenant as TenantId)
        .fetch_one(&mut *transaction)
        .await?;
    let prefix: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect::<String>()
        .to_ascii_uppercase();
    let sequence = sqlx::query!(
        "INSERT INTO invoice_sequences (tenant_id, prefix, last_number) VALUES ($1, $2, 1)
         ON CONFLICT (tenant_id) DO UPDATE
         SET last_number = invoice_sequences.last_number + 1
         RETURNING prefix, last_number",
        tenant as TenantId,
        prefix,
    )
    .fetch_one(&mut *transaction)
    .await?;
    let (prefix, number) = (sequence.prefix, sequence.last_number);
    let row = query_invoices!(
        "UPDATE invoices SET status = 'FINALIZED', number = $3, finalized_at = now(),
                             updated_at = now()
         WHERE tenant_id = $1 AND id = $2
         RETURNING",
        "",
        tenant as TenantId,
        id as InvoiceId,
        format!("{prefix}-{number:06}"),
    )
    .fetch_one(&mut *transaction)
    .await?;
    let finalized = Invoice::try_from(row)?;
    let entry = serde_json::json!({
        "id": finalized.id, "number": finalized.number, "total": finalized.computed.total,
        "currency": finalized.computed.currency,
    });
    let change = Change::made(Action::InvoiceFinalized, &entry);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(finalized)
}

/// Marks a finalized invoice paid or void; anything else is [`Error::Conflict`]. Voiding issues
/// a credit note for the invoice's total, numbered in the tenant's own sequence of credit notes
/// (`PREFIX-CN-000001` on, without gaps).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, invoice_id = %id, %to))]
pub async fn settle(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    id: InvoiceId,
    to: Status,
    actor: Actor,
) -> Result<Invoice> {
    if matches!(to, Status::Draft | Status::Finalized) {
        return Err(Error::Invalid(format!(
            "an invoice is settled as paid or void, not {to}"
        )));
    }
    let mut transaction = db.begin().await?;
    // The settled status's own timestamp is set with it: `paid_at` or `voided_at`.
    let row = query_invoices!(
        "UPDATE invoices SET status = $3,
                paid_at = CASE WHEN $3 = 'PAID' THEN now() ELSE paid_at END,
                voided_at = CASE WHEN $3 = 'VOID' THEN now() ELSE voided_at END,
                updated_at = now()
         WHERE tenant_id = $1 AND id = $2 AND status = 'FINALIZED'
         RETURNING",
        "",
        tenant as TenantId,
        id as InvoiceId,
        <&str>::from(to),
    )
    .fetch_optional(&mut *transaction)
    .await?;
    match row {
        Some(row) => {
            let settled = Invoice::try_from(row)?;
            let credit_note = if to == Status::Void {
                Some(issue_credit_note(&mut transaction, &settled).await?)
            } else {
                None
            };
            let entry = serde_json::json!({
                "id": settled.id, "number": settled.number, "status": settled.status,
                "credit_note": credit_note.map(|note| note.number),
            });
            let change = Change::made(Action::InvoiceSettled, &entry);
            audit::commit(transaction, tenant, actor, change).await?;
            Ok(settled)
        }
        None => {
            let current = by_id(&mut transaction, tenant, id).await?;
            Err(Error::Conflict(format!(
                "invoice {id} is {}: only a finalized invoice becomes {}",
                current.status.to_string().to_ascii_lowercase(),
                to.to_string().to_ascii_lowercase()
            )))
        }
    }
}

/// Finds one of the tenant's invoices.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, invoice_id = %id))]
pub async fn find(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    id: InvoiceId,
) -> Result<Invoice> {
    by_id(&mut *db.acquire().await?, tenant, id).await
}

/// Finds one of the tenant's invoices on a connection, inside another function's transaction.
async fn by_id(connection: &mut PgConnection, tenant: TenantId, id: InvoiceId) -> Result<Invoice> {
    let row = query_invoices!(
        "SELECT",
        "FROM invoices WHERE tenant_id = $1 AND id = $2",
        tenant as TenantId,
        id as InvoiceId,
    )
    .fetch_optional(&mut *connection)
    .await?;
    Invoice::try_from(row.ok_or_else(|| Error::NotFound(format!("invoice {id}")))?)
}

/// Lists the tenant's invoices, of one customer or all, newest period first.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    customer: Option<CustomerId>,
) -> Result<Vec<Invoice>> {
    let mut connection = db.acquire().await?;
    let rows = query_invoices!(
        "SELECT",
        "FROM invoices
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR customer_id = $2)
         ORDER BY period_start DESC, id",
        tenant as TenantId,
        customer as Option<CustomerId>,
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(Invoice::try_from).collect()
}

/// Lists a subscription's invoices, oldest period first (an opening invoice before the one
/// closing the same period).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, subscription_id = %subscription))]
pub async fn of_subscription(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    subscription: SubscriptionId,
) -> Result<Vec<Invoice>> {
    let mut connection = db.acquire().await?;
    let rows = query_invoices!(
        "SELECT",
        "FROM invoices WHERE tenant_id = $1 AND subscription_id = $2
         ORDER BY period_start, opening DESC",
        tenant as TenantId,
        subscription as SubscriptionId,
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(Invoice::try_from).collect()
}

/// Lists the tenant's invoices finalized within a period (whatever became of them since:
/// finalized, paid or void), by number.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn finalized_within(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    period: Period,
) -> Result<Vec<Invoice>> {
    let mut connection = db.acquire().await?;
    let rows = query_invoices!(
        "SELECT",
        "FROM invoices
         WHERE tenant_id = $1 AND status <> 'DRAFT' AND finalized_at >= $2
           AND finalized_at < $3
         ORDER BY number, id",
        tenant as TenantId,
        period.start,
        period.end,
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(Invoice::try_from).collect()
}

/// A credit note: what voiding a finalized invoice gives back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CreditNote {
    /// Its number, such as `ACME-CN-000007`.
    pub number: String,
    /// The invoice it cancels.
    pub invoice_id: InvoiceId,
    /// The amount credited: the invoice's total, negated.
    pub total: Decimal,
    /// The currency's code.
    pub currency: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
}

async fn issue_credit_note(connection: &mut PgConnection, invoice: &Invoice) -> Result<CreditNote> {
    let sequence = sqlx::query!(
        "UPDATE invoice_sequences SET last_credit_note = last_credit_note + 1
         WHERE tenant_id = $1 RETURNING prefix, last_credit_note",
        invoice.tenant_id as TenantId,
    )
    .fetch_one(&mut *connection)
    .await?;
    let (prefix, number) = (sequence.prefix, sequence.last_credit_note);
    let note = sqlx::query_as!(
        CreditNote,
        r#"INSERT INTO credit_notes (id, tenant_id, invoice_id, number, currency, total)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING number, invoice_id AS "invoice_id: InvoiceId", total, currency, created_at"#,
        uuid::Uuid::new_v4(),
        invoice.tenant_id as TenantId,
        invoice.id as InvoiceId,
        format!("{prefix}-CN-{number:06}"),
        invoice.computed.currency.code(),
        -invoice.computed.total,
    )
    .fetch_one(&mut *connection)
    .await?;
    Ok(CreditNote {
        total: note.total.normalize(),
        ..note
    })
}

/// The credit note that voiding an invoice issued, if it was voided.
pub async fn credit_note(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    invoice: InvoiceId,
) -> Result<Option<CreditNote>> {
    let mut connection = db.acquire().await?;
    let note = sqlx::query_as!(
        CreditNote,
        r#"SELECT number, invoice_id AS "invoice_id: InvoiceId", total, currency, created_at
           FROM credit_notes
           WHERE tenant_id = $1 AND invoice_id = $2"#,
        tenant as TenantId,
        invoice as InvoiceId,
    )
    .fetch_optional(&mut *connection)
    .await?;
    Ok(note.map(|note| CreditNote {
        total: note.total.normalize(),
        ..note
    }))
}
