//! SQL of `alert_series`: each alert series' state, read and written for a batch of rules
//! inside its evaluation's transaction, and the tenant's alerts now.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{Acquire, PgConnection, Postgres};
use tally_meter::Result;
use tally_meter::ids::TenantId;
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

/// A stored series as read, with what the query reads of its rule: its id, or its name.
struct SeriesRow<Rule> {
    rule: Rule,
    series: String,
    labels: Json<BTreeMap<String, String>>,
    state: String,
    since: DateTime<Utc>,
    last_breach: Option<DateTime<Utc>>,
    value: Option<Decimal>,
    evaluated_at: DateTime<Utc>,
}

impl<Rule> SeriesRow<Rule> {
    /// Its rule, as read, and the series.
    fn into_stored(self) -> Result<(Rule, StoredSeries)> {
        let series = StoredSeries {
            series: self.series,
            labels: Labels(self.labels.0),
            state: state::Series {
                state: self.state.parse()?,
                since: self.since,
                last_breach: self.last_breach,
            },
            value: self.value,
            evaluated_at: self.evaluated_at,
        };
        Ok((self.rule, series))
    }
}

/// Every stored series of `rules`, by rule and key.
pub async fn of_rules(
    connection: &mut PgConnection,
    rules: &[Uuid],
) -> Result<HashMap<Uuid, BTreeMap<String, StoredSeries>>> {
    let rows = sqlx::query_as!(
        SeriesRow::<Uuid>,
        r#"SELECT rule_id AS rule, series,
                  labels AS "labels: Json<BTreeMap<String, String>>", state, since, last_breach,
                  value, evaluated_at
           FROM alert_series WHERE rule_id = ANY($1)"#,
        rules,
    )
    .fetch_all(connection)
    .await?;
    let mut stored: HashMap<Uuid, BTreeMap<String, StoredSeries>> = HashMap::new();
    for row in rows {
        let (rule, series) = row.into_stored()?;
        stored
            .entry(rule)
            .or_default()
            .insert(series.series.clone(), series);
    }
    Ok(stored)
}

/// A series' state to write, with its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleSeries<'a> {
    /// The rule's tenant.
    pub tenant_id: TenantId,
    /// The rule.
    pub rule_id: Uuid,
    /// The series.
    pub series: &'a StoredSeries,
}

/// Writes the states of series, of any rules, in one statement.
pub async fn save(connection: &mut PgConnection, saved: &[RuleSeries<'_>]) -> Result<()> {
    if saved.is_empty() {
        return Ok(());
    }
    let tenants: Vec<Uuid> = saved.iter().map(|row| row.tenant_id.as_uuid()).collect();
    let rules: Vec<Uuid> = saved.iter().map(|row| row.rule_id).collect();
    let keys: Vec<&str> = saved.iter().map(|row| row.series.series.as_str()).collect();
    let labels: Vec<Json<&BTreeMap<String, String>>> =
        saved.iter().map(|row| Json(&row.series.labels.0)).collect();
    let states: Vec<&str> = saved
        .iter()
        .map(|row| row.series.state.state.as_str())
        .collect();
    let since: Vec<DateTime<Utc>> = saved.iter().map(|row| row.series.state.since).collect();
    let last_breach: Vec<Option<DateTime<Utc>>> = saved
        .iter()
        .map(|row| row.series.state.last_breach)
        .collect();
    let values: Vec<Option<Decimal>> = saved.iter().map(|row| row.series.value).collect();
    let evaluated_at: Vec<DateTime<Utc>> =
        saved.iter().map(|row| row.series.evaluated_at).collect();
    sqlx::query!(
        "INSERT INTO alert_series (tenant_id, rule_id, series, labels, state, since, last_breach,
                                   value, evaluated_at)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[],
                              $6::timestamptz[], $7::timestamptz[], $8::numeric[],
                              $9::timestamptz[])
         ON CONFLICT (rule_id, series) DO UPDATE SET
             labels = excluded.labels, state = excluded.state, since = excluded.since,
             last_breach = excluded.last_breach, value = excluded.value,
             evaluated_at = excluded.evaluated_at",
        &tenants,
        &rules,
        &keys as &[&str],
        &labels as _,
        &states as &[&str],
        &since,
        &last_breach as _,
        &values as _,
        &evaluated_at,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// Forgets series, of any rules, given as (rule, key), in one statement: ones inactive
/// again, or resolved long enough ago.
pub async fn forget(connection: &mut PgConnection, forgotten: &[(Uuid, String)]) -> Result<()> {
    if forgotten.is_empty() {
        return Ok(());
    }
    let (rules, keys): (Vec<Uuid>, Vec<String>) = forgotten.iter().cloned().unzip();
    sqlx::query!(
        "DELETE FROM alert_series s
         USING unnest($1::uuid[], $2::text[]) AS f (rule_id, series)
         WHERE s.rule_id = f.rule_id AND s.series = f.series",
        &rules,
        &keys,
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
    let rows = sqlx::query_as!(
        SeriesRow::<String>,
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
            let (rule, series) = row.into_stored()?;
            Ok(Alert { rule, series })
        })
        .collect()
}

/// Whether a stored state is worth keeping: inactive series are forgotten, so that only
/// what alerted is stored.
pub fn worth_keeping(state: State) -> bool {
    state != State::Inactive
}
