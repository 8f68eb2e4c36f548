//! A tenant's raw events: `events`, its GraphQL types, and its pages from ClickHouse, newest
//! first. A cursor is the position of the last event of a page; the tenant comes from the
//! caller, never from the cursor, so a cursor cannot reach another tenant's events.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tally_meter::analytics::Analytics;
use tally_meter::ids::TenantId;

use super::context::{caller, services};
use super::cursor;
use crate::cost::{self, CLICKHOUSE_QUERY};
use crate::error::ApiResult;

/// A raw event as the aggregator kept it.
#[derive(SimpleObject, Debug, Clone)]
pub struct Event {
    /// Its id within its source.
    pub id: String,
    /// Where it came from.
    pub source: String,
    /// Its type.
    #[graphql(name = "type")]
    pub event_type: String,
    /// What it is about (empty if nothing).
    pub subject: String,
    /// Event time.
    pub time: DateTime<Utc>,
    /// When ingest accepted it.
    pub ingest_time: DateTime<Utc>,
    /// The payload, as the sender's JSON text.
    pub data: String,
}

/// A page of events, newest first.
#[derive(SimpleObject, Debug, Clone)]
pub struct EventPage {
    /// The events.
    pub items: Vec<Event>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Which events to list.
#[derive(InputObject, Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events of this type.
    #[graphql(name = "type")]
    pub event_type: Option<String>,
    /// Only events of this subject.
    pub subject: Option<String>,
    /// Only events from this source.
    pub source: Option<String>,
}

/// Queries of raw events.
#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// Recent raw events, newest first, a page at a time.
    #[graphql(complexity = "CLICKHOUSE_QUERY + cost::page(first, child_complexity)")]
    async fn events(
        &self,
        context: &Context<'_>,
        filter: Option<EventFilter>,
        #[graphql(default = 50)] first: usize,
        after: Option<String>,
    ) -> async_graphql::Result<EventPage> {
        let tenant = caller(context)?.may_read()?;
        Ok(page(
            &services(context).analytics,
            tenant,
            &filter.unwrap_or_default(),
            first,
            after.as_deref(),
        )
        .await?)
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct EventRow {
    ingest_time_ms: i64,
    event_time_ms: i64,
    id: String,
    source: String,
    #[serde(rename = "type")]
    event_type: String,
    subject: String,
    data: String,
}

/// Where a page ended: ingest time, source and id of its last event.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor(i64, String, String);

/// Returns up to `first` events of the tenant after the cursor, matching the filter.
async fn page(
    analytics: &Analytics,
    tenant: TenantId,
    filter: &EventFilter,
    first: usize,
    after: Option<&str>,
) -> ApiResult<EventPage> {
    cursor::check_page_size(first)?;
    let cursor: Option<Cursor> = after.map(cursor::decode).transpose()?;
    let mut conditions = vec!["tenant_id = ?".to_owned()];
    for (column, value) in [
        ("type", &filter.event_type),
        ("subject", &filter.subject),
        ("source", &filter.source),
    ] {
        if value.is_some() {
            conditions.push(format!("{column} = ?"));
        }
    }
    if cursor.is_some() {
        conditions.push("(ingest_time_ms, source, id) < (?, ?, ?)".to_owned());
    }
    let sql = format!(
        "SELECT ingest_time_ms, event_time_ms, id, source, type, subject, data
         FROM events_raw FINAL WHERE {}
         ORDER BY ingest_time_ms DESC, source DESC, id DESC LIMIT {}",
        conditions.join(" AND "),
        first + 1
    );
    let mut query = analytics.client().query(&sql).bind(tenant.to_string());
    for value in [&filter.event_type, &filter.subject, &filter.source]
        .into_iter()
        .flatten()
    {
        query = query.bind(value);
    }
    if let Some(Cursor(time, source, id)) = &cursor {
        query = query.bind(time).bind(source).bind(id);
    }
    let mut rows: Vec<EventRow> = query.fetch_all().await.map_err(tally_meter::Error::from)?;
    let more = rows.len() > first;
    rows.truncate(first);
    let next_cursor = more.then(|| rows.last()).flatten().map(|row| {
        cursor::encode(&Cursor(
            row.ingest_time_ms,
            row.source.clone(),
            row.id.clone(),
        ))
    });
    Ok(EventPage {
        items: rows
            .into_iter()
            .map(|row| Event {
                time: time_of(row.event_time_ms),
                ingest_time: time_of(row.ingest_time_ms),
                id: row.id,
                source: row.source,
                event_type: row.event_type,
                subject: row.subject,
                data: row.data,
            })
            .collect(),
        next_cursor,
    })
}

/// Converts milliseconds since the epoch to a time.
pub(super) fn time_of(milliseconds: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(milliseconds)
        .single()
        .unwrap_or_default()
}
