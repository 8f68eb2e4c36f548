//! The tenant's traffic over the last hour: `traffic` and its GraphQL types.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use tally_meter::traffic;

use super::context::{caller, services};
use crate::cost::CLICKHOUSE_QUERY;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Most event types `traffic` ranks.
pub const MAX_TOP_TYPES: u32 = 50;

/// The tenant's traffic over the last hour.
#[derive(SimpleObject, Debug, Clone)]
pub struct Traffic {
    /// 60 minutes, oldest first, ending with the current one.
    pub minutes: Vec<MinuteTraffic>,
    /// The busiest event types, busiest first.
    pub top_types: Vec<TypeCount>,
}

/// One minute of traffic, by ingest time.
#[derive(SimpleObject, Debug, Clone)]
pub struct MinuteTraffic {
    /// Start of the minute.
    pub minute: DateTime<Utc>,
    /// Events stored.
    pub accepted: u64,
    /// Events quarantined, by ingest or by the aggregator.
    pub rejected: u64,
}

/// Events of one type.
#[derive(SimpleObject, Debug, Clone)]
pub struct TypeCount {
    /// The CloudEvents `type`.
    pub event_type: String,
    /// Events stored.
    pub events: u64,
}

impl From<traffic::Traffic> for Traffic {
    fn from(traffic: traffic::Traffic) -> Self {
        Self {
            minutes: traffic
                .minutes
                .into_iter()
                .map(|minute| MinuteTraffic {
                    minute: minute.minute,
                    accepted: minute.accepted,
                    rejected: minute.rejected,
                })
                .collect(),
            top_types: traffic
                .top_types
                .into_iter()
                .map(|count| TypeCount {
                    event_type: count.event_type,
                    events: count.events,
                })
                .collect(),
        }
    }
}

/// Queries of traffic.
#[derive(Default)]
pub struct TrafficQuery;

#[Object]
impl TrafficQuery {
    /// The last hour per minute: events stored and quarantined, and the `top` busiest types.
    #[graphql(complexity = "3 * CLICKHOUSE_QUERY + child_complexity")]
    async fn traffic(
        &self,
        context: &Context<'_>,
        #[graphql(default = 5)] top: u32,
    ) -> ApiResult<Traffic> {
        let tenant = caller(context)?.may_read()?;
        if top > MAX_TOP_TYPES {
            return Err(ApiError::new(
                ErrorCode::BadUserInput,
                format!("top may be at most {MAX_TOP_TYPES}"),
            ));
        }
        let traffic = services(context)
            .analytics
            .traffic_last_hour(tenant, top)
            .await?;
        Ok(traffic.into())
    }
}
