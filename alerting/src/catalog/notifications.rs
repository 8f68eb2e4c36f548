//! SQL of `alert_groups` (each notification group's timing state) and of the outbox,
//! `alert_notifications` with `alert_notification_attempts`.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Acquire, PgConnection, Postgres};
use tally_meter::Result;
use tally_meter::ids::TenantId;

use crate::notify::payload::Message;

/// A group's state, locked for the flush that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// When its next notification may go.
    pub next_flush_at: DateTime<Utc>,
    /// When its last notification went.
    pub last_sent_at: Option<DateTime<Utc>>,
    /// The fingerprints of the firing alerts it last notified, sorted.
    pub last_firing: Vec<String>,
    /// How many notifications it sent.
    pub sent: i64,
}

/// Locks a group's state, making it (due at `first_flush`) if it is new.
pub async fn lock_group(
    connection: &mut PgConnection,
    tenant: TenantId,
    receiver: &str,
    group_key: &str,
    now: DateTime<Utc>,
    first_flush: DateTime<Utc>,
) -> Result<Group> {
    sqlx::query!(
        "INSERT INTO alert_groups (tenant_id, receiver, group_key, first_seen_at, next_flush_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        tenant as TenantId,
        receiver,
        group_key,
        now,
        first_flush,
    )
    .execute(&mut *connection)
    .await?;
    Ok(sqlx::query_as!(
        Group,
        "SELECT next_flush_at, last_sent_at, last_firing, sent FROM alert_groups
         WHERE tenant_id = $1 AND receiver = $2 AND group_key = $3 FOR UPDATE",
        tenant as TenantId,
        receiver,
        group_key,
    )
    .fetch_one(connection)
    .await?)
}

/// Records that a group sent a notification.
pub async fn group_sent(
    connection: &mut PgConnection,
    tenant: TenantId,
    receiver: &str,
    group_key: &str,
    group: &Group,
) -> Result<()> {
    sqlx::query!(
        "UPDATE alert_groups SET next_flush_at = $4, last_sent_at = $5, last_firing = $6,
                                 sent = $7
         WHERE tenant_id = $1 AND receiver = $2 AND group_key = $3",
        tenant as TenantId,
        receiver,
        group_key,
        group.next_flush_at,
        group.last_sent_at,
        &group.last_firing,
        group.sent,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// Forgets a group that has nothing left to say.
pub async fn forget_group(
    connection: &mut PgConnection,
    tenant: TenantId,
    receiver: &str,
    group_key: &str,
) -> Result<()> {
    sqlx::query!(
        "DELETE FROM alert_groups WHERE tenant_id = $1 AND receiver = $2 AND group_key = $3",
        tenant as TenantId,
        receiver,
        group_key,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// Forgets the tenant's groups other than `kept` (`receiver/group_key`): their alerts are gone.
pub async fn forget_other_groups(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    kept: &[String],
) -> Result<()> {
    let mut connection = db.acquire().await?;
    sqlx::query!(
        "DELETE FROM alert_groups
         WHERE tenant_id = $1 AND NOT (receiver || '/' || group_key = ANY($2))",
        tenant as TenantId,
        kept,
    )
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Puts a notification in the outbox, in the transaction that updates its group.
pub async fn enqueue(
    connection: &mut PgConnection,
    tenant: TenantId,
    kind: &str,
    message: &Message,
) -> Result<()> {
    let firing = i32::try_from(message.firing()).unwrap_or(i32::MAX);
    let resolved = i32::try_from(message.alerts.len()).unwrap_or(i32::MAX) - firing;
    sqlx::query!(
        "INSERT INTO alert_notifications (tenant_id, receiver, kind, group_key, idempotency_key,
                                          firing, resolved, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
        tenant as TenantId,
        &message.receiver,
        kind,
        &message.group_key,
        &message.idempotency_key,
        firing,
        resolved,
        Json(message) as _,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// A notification to deliver.
#[derive(Debug, Clone)]
pub struct Due {
    /// Its number.
    pub id: i64,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The receiver's name.
    pub receiver: String,
    /// What to send.
    pub message: Message,
    /// Attempts made before this one.
    pub attempts: i32,
}

/// Takes up to `limit` notifications due now, leased to this process for `lease` seconds so
/// that no other delivers them meanwhile.
pub async fn claim_due(
    db: impl Acquire<'_, Database = Postgres>,
    limit: i64,
    lease_secs: f64,
) -> Result<Vec<Due>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query!(
        r#"UPDATE alert_notifications SET lease_until = now() + make_interval(secs => $2)
           WHERE id IN (SELECT id FROM alert_notifications
                        WHERE status = 'PENDING' AND next_attempt_at <= now()
                          AND (lease_until IS NULL OR lease_until < now())
                        ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, tenant_id AS "tenant_id: TenantId", receiver,
                     payload AS "payload: Json<Message>", attempts"#,
        limit,
        lease_secs,
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Due {
            id: row.id,
            tenant_id: row.tenant_id,
            receiver: row.receiver,
            message: row.payload.0,
            attempts: row.attempts,
        })
        .collect())
}

/// How an attempt ended.
pub enum Settled {
    /// Delivered.
    Sent,
    /// To try again at the instant.
    Retry(DateTime<Utc>),
    /// Given up.
    Failed,
}

/// Logs an attempt and settles the notification.
pub async fn attempted(
    db: impl Acquire<'_, Database = Postgres>,
    id: i64,
    attempt: i32,
    outcome: &str,
    duration_ms: i64,
    settled: Settled,
) -> Result<()> {
    let mut transaction = db.begin().await?;
    sqlx::query!(
        "INSERT INTO alert_notification_attempts (notification_id, attempt, at, outcome,
                                                  duration_ms)
         VALUES ($1, $2, now(), $3, $4) ON CONFLICT DO NOTHING",
        id,
        attempt,
        outcome,
        duration_ms,
    )
    .execute(&mut *transaction)
    .await?;
    let (status, next_attempt_at) = match settled {
        Settled::Sent => ("SENT", None),
        Settled::Retry(at) => ("PENDING", Some(at)),
        Settled::Failed => ("FAILED", None),
    };
    sqlx::query!(
        "UPDATE alert_notifications
         SET status = $2, attempts = $3, lease_until = NULL,
             next_attempt_at = coalesce($4, next_attempt_at),
             sent_at = CASE WHEN $2 = 'SENT' THEN now() END
         WHERE id = $1",
        id,
        status,
        attempt,
        next_attempt_at,
    )
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// One notification of the log, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Logged {
    /// Its number.
    pub id: i64,
    /// The receiver's name.
    pub receiver: String,
    /// `webhook`, `slack` or `email`.
    pub kind: String,
    /// The group.
    pub group_key: String,
    /// The key every delivery of it carries.
    pub idempotency_key: String,
    /// `PENDING`, `SENT` or `FAILED`.
    pub status: String,
    /// Alerts firing in it.
    pub firing: i32,
    /// Alerts resolved in it.
    pub resolved: i32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// Each attempt: when, how it went, how long it took (ms).
    pub attempts: Vec<(DateTime<Utc>, String, i64)>,
}

/// A tenant's newest notifications, at most `limit`, with their attempts.
pub async fn log(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    limit: i64,
) -> Result<Vec<Logged>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query!(
        r#"SELECT n.id, n.receiver, n.kind, n.group_key, n.idempotency_key, n.status, n.firing,
                  n.resolved, n.created_at, n.sent_at,
                  coalesce(array_agg(a.at ORDER BY a.attempt) FILTER (WHERE a.attempt IS NOT NULL),
                           '{}') AS "attempt_at!: Vec<DateTime<Utc>>",
                  coalesce(array_agg(a.outcome ORDER BY a.attempt)
                           FILTER (WHERE a.attempt IS NOT NULL), '{}') AS "outcome!: Vec<String>",
                  coalesce(array_agg(a.duration_ms ORDER BY a.attempt)
                           FILTER (WHERE a.attempt IS NOT NULL), '{}') AS "duration_ms!: Vec<i64>"
           FROM alert_notifications n
           LEFT JOIN alert_notification_attempts a ON a.notification_id = n.id
           WHERE n.tenant_id = $1
           GROUP BY n.id ORDER BY n.id DESC LIMIT $2"#,
        tenant as TenantId,
        limit,
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Logged {
            id: row.id,
            receiver: row.receiver,
            kind: row.kind,
            group_key: row.group_key,
            idempotency_key: row.idempotency_key,
            status: row.status,
            firing: row.firing,
            resolved: row.resolved,
            created_at: row.created_at,
            sent_at: row.sent_at,
            attempts: row
                .attempt_at
                .into_iter()
                .zip(row.outcome)
                .zip(row.duration_ms)
                .map(|((at, outcome), duration)| (at, outcome, duration))
                .collect(),
        })
        .collect())
}
