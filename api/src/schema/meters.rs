//! Meters: listing, creating and deleting them, and their GraphQL types.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use tally_meter::catalog::meters;
use tally_meter::meter::{self, Aggregation, JsonPath, MeterSpec};

use super::context::{admin_access, converted, meter_key, read_access, services};
use crate::cost::POSTGRES_QUERY;
use crate::error::ApiResult;

/// How a meter combines its events' values.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Aggregation", remote = "Aggregation")]
pub enum AggregationValue {
    /// Sum of the values.
    Sum,
    /// Number of events.
    Count,
    /// Mean of the values.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Number of distinct values.
    UniqueCount,
    /// The value of the latest event.
    Latest,
}

/// A named group of a meter and where its value comes from.
#[derive(SimpleObject, Debug, Clone)]
pub struct GroupBy {
    /// The group's name.
    pub name: String,
    /// The JSON path of its value in the event's data.
    pub path: String,
}

/// A meter.
#[derive(SimpleObject, Debug, Clone)]
pub struct Meter {
    /// Stable id.
    pub id: ID,
    /// Unique key within the tenant.
    pub key: String,
    /// Events of this type are metered.
    pub event_type: String,
    /// How values combine.
    pub aggregation: AggregationValue,
    /// Where the value is read (none for COUNT).
    pub value_path: Option<String>,
    /// Groups usage can be split by.
    pub group_by: Vec<GroupBy>,
    /// How late an event may arrive, in seconds.
    pub allowed_lateness_secs: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<meter::Meter> for Meter {
    fn from(meter: meter::Meter) -> Self {
        Self {
            id: ID(meter.id.to_string()),
            key: meter.spec.key.to_string(),
            event_type: meter.spec.event_type,
            aggregation: meter.spec.aggregation.into(),
            value_path: meter.spec.value_path.map(String::from),
            group_by: meter
                .spec
                .group_by
                .into_iter()
                .map(|(name, path)| GroupBy {
                    name,
                    path: path.into(),
                })
                .collect(),
            allowed_lateness_secs: meter.spec.allowed_lateness_secs,
            created_at: meter.created_at,
        }
    }
}

/// What a new meter is to be.
#[derive(InputObject, Debug, Clone)]
pub struct MeterInput {
    /// Unique key within the tenant: a-z, 0-9, '-' and '_'.
    pub key: String,
    /// Events of this type are metered.
    pub event_type: String,
    /// How values combine.
    pub aggregation: AggregationValue,
    /// Where the value is read, such as `$.tokens` (leave out for COUNT).
    pub value_path: Option<String>,
    /// Groups usage can be split by, as name and path.
    #[graphql(default)]
    pub group_by: Vec<GroupByInput>,
    /// How late an event may arrive, in seconds (default a day).
    #[graphql(default = 86400)]
    pub allowed_lateness_secs: u64,
}

/// A group of a new meter.
#[derive(InputObject, Debug, Clone)]
pub struct GroupByInput {
    /// The group's name.
    pub name: String,
    /// The JSON path of its value, such as `$.model`.
    pub path: String,
}

/// Queries of meters.
#[derive(Default)]
pub struct MetersQuery;

#[Object]
impl MetersQuery {
    /// The tenant's meters, by key.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn meters(&self, context: &Context<'_>) -> ApiResult<Vec<Meter>> {
        let (tenant, catalog) = read_access(context)?;
        Ok(converted(meters::list(catalog, tenant).await?))
    }
}

/// Mutations of meters.
#[derive(Default)]
pub struct MetersMutation;

#[Object]
impl MetersMutation {
    /// Creates a meter.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn create_meter(&self, context: &Context<'_>, input: MeterInput) -> ApiResult<Meter> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let group_by = input
            .group_by
            .into_iter()
            .map(|group| Ok((group.name, JsonPath::parse(&group.path)?)))
            .collect::<tally_meter::Result<_>>()?;
        let spec = MeterSpec {
            key: meter_key(&input.key)?,
            event_type: input.event_type,
            value_path: input
                .value_path
                .as_deref()
                .map(JsonPath::parse)
                .transpose()?,
            aggregation: input.aggregation.into(),
            group_by,
            allowed_lateness_secs: input.allowed_lateness_secs,
        };
        let created =
            meters::create(catalog, tenant, &spec, actor, &services(context).caps).await?;
        Ok(created.into())
    }

    /// Deletes a meter; its rollups stay in ClickHouse but are no longer reachable.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn delete_meter(&self, context: &Context<'_>, key: String) -> ApiResult<bool> {
        let (tenant, catalog, actor) = admin_access(context)?;
        meters::delete(catalog, tenant, &meter_key(&key)?, actor).await?;
        Ok(true)
    }
}
