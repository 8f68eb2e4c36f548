//! A meter's usage: `usage` over a range per window and `lastHour` per minute, and their
//! GraphQL types.

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::Decimal;
use tally_meter::usage::{self, UsageLimits, Window};

use super::context::{caller, converted, meter_key, read_access, services};
use crate::cost::{self, CLICKHOUSE_QUERY, POSTGRES_QUERY};
use crate::error::ApiResult;

/// Most windows and rows one `usage` field answers: smaller than an export's, since a
/// GraphQL answer is built in memory as a whole.
pub const USAGE_LIMITS: UsageLimits = UsageLimits {
    max_windows: 20_000,
    max_rows: 20_000,
};

/// The size of usage windows: minutes and hours aligned to UTC, days and months to the
/// midnight of the query's time zone.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Window", remote = "Window")]
pub enum WindowValue {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
    /// One calendar month.
    Month,
}

/// A group name and the value of one usage point.
#[derive(SimpleObject, Debug, Clone)]
pub struct GroupValue {
    /// The group's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A meter's value in one window.
#[derive(SimpleObject, Debug, Clone)]
pub struct UsagePoint {
    /// Start of the window (or of the range), with the offset of the query's time zone.
    pub window_start: DateTime<FixedOffset>,
    /// End of the window (or of the range), exclusive, likewise.
    pub window_end: DateTime<FixedOffset>,
    /// Values of the requested groups.
    pub groups: Vec<GroupValue>,
    /// Events counted.
    pub events: u64,
    /// The aggregate, exact; null for MIN, MAX, AVG and LATEST of an empty window.
    pub value: Option<Decimal>,
}

impl From<usage::UsagePoint> for UsagePoint {
    fn from(point: usage::UsagePoint) -> Self {
        Self {
            window_start: point.window_start,
            window_end: point.window_end,
            groups: point
                .groups
                .into_iter()
                .map(|(name, value)| GroupValue { name, value })
                .collect(),
            events: point.events,
            value: point.value,
        }
    }
}

/// Queries of usage (the store's own query type is [`usage::UsageQuery`]).
#[derive(Default)]
pub struct UsageQuery;

#[Object]
impl UsageQuery {
    /// A meter's usage over `[from, to)` (whole minutes) per window, optionally split by
    /// groups and limited to a subject. DAY and MONTH windows start at midnight in `timezone`
    /// (an IANA name such as `Europe/Berlin`), and every window is written with its offset.
    #[expect(clippy::too_many_arguments, reason = "the query's named arguments")]
    #[graphql(complexity = "cost::usage(from, to, window, child_complexity)")]
    async fn usage(
        &self,
        context: &Context<'_>,
        meter: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default_with = "WindowValue::Hour")] window: WindowValue,
        #[graphql(default)] group_by: Vec<String>,
        subject: Option<String>,
        #[graphql(default = "UTC")] timezone: String,
    ) -> ApiResult<Vec<UsagePoint>> {
        let tenant = caller(context)?.may_read()?;
        let services = services(context);
        let query = usage::UsageQuery {
            from,
            to,
            window: window.into(),
            time_zone: usage::parse_time_zone(&timezone)?,
            group_by,
            subject,
        };
        let points = usage::usage_within(
            &services.catalog,
            &services.analytics,
            tenant,
            &meter_key(&meter)?,
            &query,
            USAGE_LIMITS,
        )
        .await?;
        Ok(converted(points))
    }

    /// A meter per minute over the last hour: 60 points, oldest first.
    #[graphql(complexity = "POSTGRES_QUERY + CLICKHOUSE_QUERY + child_complexity")]
    async fn last_hour(&self, context: &Context<'_>, meter: String) -> ApiResult<Vec<UsagePoint>> {
        let (tenant, catalog) = read_access(context)?;
        let analytics = &services(context).analytics;
        let points = usage::last_hour(catalog, analytics, tenant, &meter_key(&meter)?).await?;
        Ok(converted(points))
    }
}
