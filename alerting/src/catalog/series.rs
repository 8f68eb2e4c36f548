//! SQL of `alert_series`: each alert series' state, read and written inside a rule's
//! evaluation, and the tenant's alerts now.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{Acquire, PgConnection, Postgres};
use tally_meter::ids::TenantId;
use tally_meter::{Error, Result};
use uuid::Uuid;

use crate::rule::Labels;
use crate::state::{self, State};

/// A stored series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSeries {
    /// Its key within the rule ([`Labels::series_key`]).
    pub series: String,
    /// Its labels.
    pub labels: Labels,
    /// Its state and the instants of the machine.
    pub state: state::Series,
    /// The value last evaluated, if any.
    pub value: Option<Decimal>,
    /// When it was last evaluated.
    pub evaluated_at: DateTime<Utc>,
}

struct SeriesRow {
    series: String,
    labels: Json<BTreeMap<String, String>>,
    state: String,
    since: DateTime<Utc>,
    last_breach: Option<DateTime<Utc>>,
    value: Option<Decimal>,
    evaluated_at: DateTime<Utc>,
}

impl TryFrom<SeriesRow> for StoredSeries {
    type Error = Error;

    fn try_from(row: SeriesRow) -> Result<Self> {
        Ok(Self {
            series: row.series,
            labels: Labels(row.labels.0),
            state: state::Series {
                state: row.state.parse()?,
                since: row.since,
                last_breach: row.last_breach,
            },
            value: row.value,
            evaluated_at: row.evaluated_at,
        })
    }
}

/// Every stored series of a rule, by key.
pub async fn of_rule(
    connection: &mut PgConnection,
    rule: Uuid,
) -> Result<BTreeMap<String, StoredSeries>> {
    let rows = sqlx::query_as!(
        SeriesRow,
        r#"SELECT series, labels AS "labels: Json<BTreeMap<String, String>>", state, since,
                  last_breach, value, evaluated_at
           FROM alert_series WHERE rule_id = $1"#,
        rule,
    )
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|row| {
            let series = StoredSeries::try_from(row)?;
            Ok((series.series.clone(), series))
        })
        .collect()
}

/// Writes a series' state.
pub async fn save(
    connection: &mut PgConnection,
    tenant: TenantId,
    rule: Uuid,
    series: &StoredSeries,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO alert_series (tenant_id, rule_id, series, labels, state, since, last_breach,
                                   value, evaluated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (rule_id, series) DO UPDATE SET
             labels = excluded.labels, state = excluded.state, since = excluded.since,
             last_breach = excluded.last_breach, value = excluded.value,
             evaluated_at = excluded.evaluated_at",
        tenant as TenantId,
        rule,
        &series.series,
        Json(&series.labels.0) as _,
        series.state.state.as_str(),
        series.state.since,
        series.state.last_breach,
        series.value,
        series.evaluated_at,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// Forgets a series: one inactive again, or resolved long enough ago.
pub async fn forget(connection: &mut PgConnection, rule: Uuid, series: &str) -> Result<()> {
    sqlx::query!(
        "DELETE FROM alert_series WHERE rule_id = $1 AND series = $2",
        rule,
        series,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// An alert: a series that is pending, firing or resolved, with its rule's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// The series.
    pub series: StoredSeries,
}

/// A tenant's alerts that are pending or firing now, or resolved within the last day, firing
/// first, then by rule and series.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn alerts(
    db: impl Acquire<'_, Database = Postgres>,
    tenant: TenantId,
) -> Result<Vec<Alert>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query!(
        r#"SELECT r.name AS rule, s.series,
                  s.labels AS "labels: Json<BTreeMap<String, String>>", s.state, s.since,
                  s.last_breach, s.value, s.evaluated_at
           FROM alert_series s JOIN alert_rules r ON r.id = s.rule_id
           WHERE s.tenant_id = $1
             AND (s.state IN ('PENDING', 'FIRING') OR s.since > now() - interval '1 day')
           ORDER BY s.state = 'FIRING' DESC, s.state = 'PENDING' DESC, r.name, s.series"#,
        tenant as TenantId,
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Alert {
                rule: row.rule,
                series: SeriesRow {
                    series: row.series,
                    labels: row.labels,
                    state: row.state,
                    since: row.since,
                    last_breach: row.last_breach,
                    value: row.value,
                    evaluated_at: row.evaluated_at,
                }
                .try_into()?,
            })
        })
        .collect()
}

/// Whether a stored state is worth keeping: inactive series are forgotten, so that only
/// what alerted is stored.
pub fn worth_keeping(state: State) -> bool {
    state != State::Inactive
}
