//! A tenant's raw events: `events`, its GraphQL types, and its pages, newest first, read by
//! [`Analytics::events_page`]. A cursor is the position of the last event of a page; the tenant
//! comes from the caller, never from the cursor, so a cursor cannot reach another tenant's
//! events.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tally_meter::analytics::Analytics;
use tally_meter::analytics::events::{RawEventFilter, RawEventPosition};
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
    ) -> ApiResult<EventPage> {
        let tenant = caller(context)?.may_read()?;
        let analytics = &services(context).analytics;
        page(
            analytics,
            tenant,
            &filter.unwrap_or_default(),
            first,
            after.as_deref(),
        )
        .await
    }
}

/// Where a page ended: ingest time, source and id of its last event.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor(i64, String, String);

impl From<Cursor> for RawEventPosition {
    fn from(Cursor(ingest_time_ms, source, id): Cursor) -> Self {
        Self {
            ingest_time_ms,
            source,
            id,
        }
    }
}

impl From<RawEventPosition> for Cursor {
    fn from(position: RawEventPosition) -> Self {
        Self(position.ingest_time_ms, position.source, position.id)
    }
}

/// Returns up to `first` events of the tenant after the cursor, matching the filter.
async fn page(
    analytics: &Analytics,
    tenant: TenantId,
    filter: &EventFilter,
    first: usize,
    after: Option<&str>,
) -> ApiResult<EventPage> {
    cursor::check_page_size(first)?;
    let after: Option<RawEventPosition> = after
        .map(cursor::decode::<Cursor>)
        .transpose()?
        .map(RawEventPosition::from);
    let filter = RawEventFilter {
        event_type: filter.event_type.clone(),
        subject: filter.subject.clone(),
        source: filter.source.clone(),
    };
    let page = analytics
        .events_page(tenant, &filter, first, after.as_ref())
        .await?;
    Ok(EventPage {
        items: page
            .items
            .into_iter()
            .map(|event| Event {
                time: time_of(event.event_time_ms),
                ingest_time: time_of(event.ingest_time_ms),
                id: event.id,
                source: event.source,
                event_type: event.event_type,
                subject: event.subject,
                data: event.data,
            })
            .collect(),
        next_cursor: page
            .next
            .map(|position| cursor::encode(&Cursor::from(position))),
    })
}

/// Converts milliseconds since the epoch to a time.
pub(super) fn time_of(milliseconds: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(milliseconds)
        .single()
        .unwrap_or_default()
}
