//! Alert history in ClickHouse's `alert_events`: the transitions recorded in PostgreSQL,
//! copied by number ([`export`]), and read per tenant, rule and series ([`read`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tally_meter::analytics::Analytics;
use tally_meter::catalog::Catalog;
use tally_meter::ids::TenantId;
use tally_meter::{Error, Result};

use crate::catalog::transitions::{self, Recorded};
use crate::state::State;

/// Transitions copied per insert.
const EXPORT_BATCH: i64 = 1000;

/// Most entries one read returns.
pub const MAX_ENTRIES: u64 = 1000;

#[derive(Debug, clickhouse::Row, Serialize, Deserialize)]
struct EventRow {
    tenant_id: String,
    rule_id: String,
    rule_name: String,
    series: String,
    labels: String,
    from_state: String,
    to_state: String,
    at_date: u16,
    at_ms: i64,
    value: String,
    id: u64,
}

/// Copies every transition not yet in the history, oldest first, and returns how many. A
/// batch is marked copied only once ClickHouse holds it; one copied twice (a crash between the
/// two) replaces itself, as rows are keyed by the transition's number.
pub async fn export(catalog: &Catalog, analytics: &Analytics) -> Result<usize> {
    let mut copied = 0;
    loop {
        let batch = transitions::unexported(catalog, EXPORT_BATCH).await?;
        if batch.is_empty() {
            return Ok(copied);
        }
        let mut insert = analytics
            .client()
            .insert::<EventRow>("alert_events")
            .await
            .map_err(Error::from)?;
        for transition in &batch {
            insert.write(&row(transition)).await.map_err(Error::from)?;
        }
        insert.end().await.map_err(Error::from)?;
        let ids: Vec<i64> = batch.iter().map(|transition| transition.id).collect();
        transitions::exported(catalog, &ids).await?;
        copied += batch.len();
    }
}

fn row(transition: &Recorded) -> EventRow {
    let days = transition.at.date_naive() - chrono::NaiveDate::default();
    EventRow {
        tenant_id: transition.tenant_id.to_string(),
        rule_id: transition.rule_id.to_string(),
        rule_name: transition.rule_name.clone(),
        series: transition.series.clone(),
        labels: serde_json::to_string(&transition.labels).unwrap_or_default(),
        from_state: transition.from.as_str().to_owned(),
        to_state: transition.to.as_str().to_owned(),
        at_date: u16::try_from(days.num_days()).unwrap_or(0),
        at_ms: transition.at.timestamp_millis(),
        value: transition
            .value
            .map(|value| value.to_string())
            .unwrap_or_default(),
        id: u64::try_from(transition.id).unwrap_or(0),
    }
}

/// One transition of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The rule's name.
    pub rule: String,
    /// The series' key within the rule.
    pub series: String,
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// When.
    pub at: DateTime<Utc>,
    /// The value evaluated then, if any.
    pub value: Option<rust_decimal::Decimal>,
}

/// A tenant's history, newest first, of one rule (and one series of it) if given, at most
/// `limit` (up to [`MAX_ENTRIES`]) entries.
pub async fn read(
    analytics: &Analytics,
    tenant: TenantId,
    rule: Option<&str>,
    series: Option<&str>,
    limit: u64,
) -> Result<Vec<Entry>> {
    let rows: Vec<EventRow> = analytics
        .client()
        .query(
            "SELECT ?fields FROM alert_events FINAL
             WHERE tenant_id = ? AND (? = '' OR rule_name = ?) AND (? = '' OR series = ?)
             ORDER BY at_ms DESC, id DESC LIMIT ?",
        )
        .bind(tenant.to_string())
        .bind(rule.unwrap_or_default())
        .bind(rule.unwrap_or_default())
        .bind(series.unwrap_or_default())
        .bind(series.unwrap_or_default())
        .bind(limit.min(MAX_ENTRIES))
        .fetch_all()
        .await
        .map_err(Error::from)?;
    rows.into_iter()
        .map(|row| {
            Ok(Entry {
                rule: row.rule_name,
                series: row.series,
                labels: serde_json::from_str(&row.labels).unwrap_or_default(),
                from: row.from_state.parse()?,
                to: row.to_state.parse()?,
                at: DateTime::from_timestamp_millis(row.at_ms).unwrap_or_default(),
                value: (!row.value.is_empty())
                    .then(|| row.value.parse())
                    .transpose()
                    .map_err(|_| Error::Invalid(format!("{:?} is not a decimal", row.value)))?,
            })
        })
        .collect()
}
