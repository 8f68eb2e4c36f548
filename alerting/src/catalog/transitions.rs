//! SQL of `alert_transitions`: every change of an alert series' state, written with the state
//! it leads to, and copied to ClickHouse's history by number.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::types::Json;
use sqlx::{Acquire, PgConnection, Postgres};
use tally_meter::ids::TenantId;
use tally_meter::{Error, Result};
use uuid::Uuid;

use crate::state::State;

/// A recorded transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Its number: the order of recording.
    pub id: i64,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The rule.
    pub rule_id: Uuid,
    /// The rule's name.
    pub rule_name: String,
    /// The series' key.
    pub series: String,
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// When.
    pub at: DateTime<Utc>,
    /// The value evaluated then.
    pub value: Option<Decimal>,
}

/// A transition to record.
pub struct New<'a> {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The rule.
    pub rule_id: Uuid,
    /// The rule's name.
    pub rule_name: &'a str,
    /// The series' key.
    pub series: &'a str,
    /// The series' labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// When.
    pub at: DateTime<Utc>,
    /// The value evaluated then.
    pub value: Option<Decimal>,
}

/// Records transitions in the evaluation's transaction, in one statement and in their
/// order, which numbers them.
pub async fn record(connection: &mut PgConnection, transitions: &[New<'_>]) -> Result<()> {
    if transitions.is_empty() {
        return Ok(());
    }
    let tenants: Vec<Uuid> = transitions
        .iter()
        .map(|new| new.tenant_id.as_uuid())
        .collect();
    let rules: Vec<Uuid> = transitions.iter().map(|new| new.rule_id).collect();
    let rule_names: Vec<&str> = transitions.iter().map(|new| new.rule_name).collect();
    let series: Vec<&str> = transitions.iter().map(|new| new.series).collect();
    let labels: Vec<Json<&BTreeMap<String, String>>> =
        transitions.iter().map(|new| Json(new.labels)).collect();
    let from: Vec<&str> = transitions.iter().map(|new| new.from.as_str()).collect();
    let to: Vec<&str> = transitions.iter().map(|new| new.to.as_str()).collect();
    let at: Vec<DateTime<Utc>> = transitions.iter().map(|new| new.at).collect();
    let values: Vec<Option<Decimal>> = transitions.iter().map(|new| new.value).collect();
    sqlx::query!(
        "INSERT INTO alert_transitions (tenant_id, rule_id, rule_name, series, labels,
                                        from_state, to_state, at, value)
         SELECT tenant_id, rule_id, rule_name, series, labels, from_state, to_state, at, value
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::text[],
                     $7::text[], $8::timestamptz[], $9::numeric[])
              WITH ORDINALITY AS new (tenant_id, rule_id, rule_name, series, labels,
                                      from_state, to_state, at, value, position)
         ORDER BY position",
        &tenants,
        &rules,
        &rule_names as &[&str],
        &series as &[&str],
        &labels as _,
        &from as &[&str],
        &to as &[&str],
        &at,
        &values as _,
    )
    .execute(connection)
    .await?;
    Ok(())
}

struct Row {
    id: i64,
    tenant_id: TenantId,
    rule_id: Uuid,
    rule_name: String,
    series: String,
    labels: Json<BTreeMap<String, String>>,
    from_state: String,
    to_state: String,
    at: DateTime<Utc>,
    value: Option<Decimal>,
}

impl TryFrom<Row> for Recorded {
    type Error = Error;

    fn try_from(row: Row) -> Result<Self> {
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            rule_id: row.rule_id,
            rule_name: row.rule_name,
            series: row.series,
            labels: row.labels.0,
            from: row.from_state.parse()?,
            to: row.to_state.parse()?,
            at: row.at,
            value: row.value,
        })
    }
}

/// The oldest transitions not yet copied to the history, at most `limit`.
pub async fn unexported(
    db: impl Acquire<'_, Database = Postgres>,
    limit: i64,
) -> Result<Vec<Recorded>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, tenant_id AS "tenant_id: TenantId", rule_id, rule_name, series,
                  labels AS "labels: Json<BTreeMap<String, String>>", from_state, to_state, at,
                  value
           FROM alert_transitions WHERE NOT exported ORDER BY id LIMIT $1"#,
        limit,
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(Recorded::try_from).collect()
}

/// Marks transitions copied to the history.
pub async fn exported(db: impl Acquire<'_, Database = Postgres>, ids: &[i64]) -> Result<()> {
    let mut connection = db.acquire().await?;
    sqlx::query!(
        "UPDATE alert_transitions SET exported = true WHERE id = ANY($1)",
        ids,
    )
    .execute(&mut *connection)
    .await?;
    Ok(())
}
