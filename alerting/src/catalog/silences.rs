//! SQL of `alert_silences`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Acquire, Postgres};
use tally_meter::audit::{Action, Actor, Change};
use tally_meter::catalog::audit;
use tally_meter::ids::TenantId;
use tally_meter::{Error, Result};
use uuid::Uuid;

use crate::notify::silence::{NewSilence, Silence};

struct SilenceRow {
    id: Uuid,
    tenant_id: TenantId,
    matchers: Json<BTreeMap<String, String>>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    author: String,
    comment: String,
}

impl From<SilenceRow> for Silence {
    fn from(row: SilenceRow) -> Self {
        Self {
            id: row.id,
            tenant_id: row.tenant_id,
            matchers: row.matchers.0,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            author: row.author,
            comment: row.comment,
        }
    }
}

/// Creates a silence and records it in the audit log.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, %actor))]
pub async fn create(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    silence: &NewSilence,
    actor: Actor,
) -> Result<Silence> {
    silence.validate()?;
    let mut transaction = db.begin().await?;
    let row = sqlx::query_as!(
        SilenceRow,
        r#"INSERT INTO alert_silences (id, tenant_id, matchers, starts_at, ends_at, author, comment)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id, tenant_id AS "tenant_id: TenantId",
                     matchers AS "matchers: Json<BTreeMap<String, String>>", starts_at, ends_at,
                     author, comment"#,
        Uuid::new_v4(),
        tenant as TenantId,
        Json(&silence.matchers) as _,
        silence.starts_at,
        silence.ends_at,
        &silence.author,
        &silence.comment,
    )
    .fetch_one(&mut *transaction)
    .await?;
    let created = Silence::from(row);
    let change = Change::made(Action::SilenceCreated, &created);
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(created)
}

/// A tenant's silences that have not ended before `since`, newest first.
pub async fn list(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    since: DateTime<Utc>,
) -> Result<Vec<Silence>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query_as!(
        SilenceRow,
        r#"SELECT id, tenant_id AS "tenant_id: TenantId",
                  matchers AS "matchers: Json<BTreeMap<String, String>>", starts_at, ends_at,
                  author, comment
           FROM alert_silences WHERE tenant_id = $1 AND ends_at > $2
           ORDER BY created_at DESC, id"#,
        tenant as TenantId,
        since,
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.into_iter().map(Silence::from).collect())
}

/// Ends a silence now; one of another tenant, or one already over, is [`Error::NotFound`].
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, silence = %id, %actor))]
pub async fn expire(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
    id: Uuid,
    actor: Actor,
) -> Result<()> {
    let mut transaction = db.begin().await?;
    let ended = sqlx::query!(
        "UPDATE alert_silences SET ends_at = greatest(now(), starts_at + interval '1 microsecond')
         WHERE tenant_id = $1 AND id = $2 AND ends_at > now()",
        tenant as TenantId,
        id,
    )
    .execute(&mut *transaction)
    .await?;
    if ended.rows_affected() == 0 {
        return Err(Error::NotFound(format!("active silence {id}")));
    }
    let change = Change::removed(Action::SilenceExpired, &serde_json::json!({ "id": id }));
    audit::commit(transaction, tenant, actor, change).await?;
    Ok(())
}
