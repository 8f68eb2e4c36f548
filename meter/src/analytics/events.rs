//! Pages of a tenant's raw events read from `events_raw`, newest first, optionally filtered by
//! type, subject and source. A page ends at the [`RawEventPosition`] of its last event and the
//! next page starts after it; the tenant is always the caller's, never part of a position.

use serde::{Deserialize, Serialize};

use super::{Analytics, Page};
use crate::Result;
use crate::ids::TenantId;

/// Which raw events to list; a filter left out matches every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEventFilter {
    /// Only events of this type.
    pub event_type: Option<String>,
    /// Only events of this subject.
    pub subject: Option<String>,
    /// Only events from this source.
    pub source: Option<String>,
}

/// Where a page of raw events ended: the ingest time, source and id of its last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEventPosition {
    /// Ingest time, in milliseconds since the epoch.
    pub ingest_time_ms: i64,
    /// The event's source.
    pub source: String,
    /// The event's id within its source.
    pub id: String,
}

/// A raw event as the aggregator keeps it: a row of `events_raw`, written by each pass and
/// read back in pages.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub struct RawEvent {
    /// The tenant's id.
    pub tenant_id: String,
    /// The day ingest accepted it, in days since the epoch (the partition key).
    pub ingest_date: u16,
    /// When ingest accepted it, in milliseconds since the epoch.
    pub ingest_time_ms: i64,
    /// Event time, in milliseconds since the epoch.
    pub event_time_ms: i64,
    /// Its id within its source.
    pub id: String,
    /// Where it came from.
    pub source: String,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// What it is about (empty if nothing).
    pub subject: String,
    /// The payload, as the sender's JSON text.
    pub data: String,
}

/// A page of raw events, newest first.
pub type RawEventPage = Page<RawEvent, RawEventPosition>;

impl Analytics {
    /// Returns up to `first` raw events of the tenant after `after`, newest first, matching
    /// the filter.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, first = first))]
    pub async fn events_page(
        &self,
        tenant: TenantId,
        filter: &RawEventFilter,
        first: usize,
        after: Option<&RawEventPosition>,
    ) -> Result<RawEventPage> {
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
        if after.is_some() {
            conditions.push("(ingest_time_ms, source, id) < (?, ?, ?)".to_owned());
        }
        let sql = format!(
            "SELECT tenant_id, ingest_date, ingest_time_ms, event_time_ms, id, source, type,
                    subject, data
             FROM events_raw FINAL WHERE {}
             ORDER BY ingest_time_ms DESC, source DESC, id DESC LIMIT {}",
            conditions.join(" AND "),
            first.saturating_add(1)
        );
        let mut query = self.client.query(&sql).bind(tenant.to_string());
        for value in [&filter.event_type, &filter.subject, &filter.source]
            .into_iter()
            .flatten()
        {
            query = query.bind(value);
        }
        if let Some(position) = after {
            query = query
                .bind(position.ingest_time_ms)
                .bind(&position.source)
                .bind(&position.id);
        }
        let rows = query.fetch_all::<RawEvent>().await?;
        Ok(Page::cut(rows, first, |last| RawEventPosition {
            ingest_time_ms: last.ingest_time_ms,
            source: last.source.clone(),
            id: last.id.clone(),
        }))
    }
}
