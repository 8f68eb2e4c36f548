//! The GraphQL schema: queries and mutations of one tenant's data, each bound to the caller's
//! tenant, with the cost limits of [`crate::cost`]: query fields weigh the store queries they
//! run. Each domain's resolvers live beside its types in one module (`meters`, `usage`, …);
//! this one merges them into the schema's roots.

pub mod alerting;
pub mod audit;
pub mod billing;
mod context;
mod cursor;
pub mod events;
pub mod keys;
pub mod meters;
pub mod quarantine;
pub mod quota;
pub mod slo;
pub mod tenant;
pub mod traffic;
pub mod usage;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use tally_meter::analytics::Analytics;
use tally_meter::caps::Caps;
use tally_meter::catalog::Catalog;
use tally_meter::quota::Limits;

use self::alerting::{AlertingMutation, AlertingQuery};
use self::audit::AuditQuery;
use self::billing::{BillingMutation, BillingQuery};
use self::events::EventsQuery;
use self::keys::{KeysMutation, KeysQuery};
use self::meters::{MetersMutation, MetersQuery};
use self::quarantine::QuarantineQuery;
use self::quota::{QuotaMutation, QuotaQuery};
use self::slo::{SloMutation, SloQuery};
use self::tenant::TenantQuery;
use self::traffic::TrafficQuery;
use self::usage::UsageQuery;
use crate::cost::CostLimits;
pub use crate::cost::{MAX_COMPLEXITY, MAX_DEPTH};

/// Most items of a page.
pub const MAX_PAGE: usize = 200;

/// What resolvers use: the stores and the defaults.
#[derive(Clone)]
pub struct Services {
    /// The catalog.
    pub catalog: Catalog,
    /// The analytics store.
    pub analytics: Analytics,
    /// Limits of tenants without their own.
    pub default_limits: Limits,
    /// Per-tenant caps on definitions.
    pub caps: Caps,
    /// How many days raw events are kept after their ingest day, for the platform tenant's
    /// upcoming invoices (stored gigabyte-hours).
    pub raw_retention_days: u32,
}

/// The API's schema.
pub type TallySchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

impl Services {
    /// Returns the services with ClickHouse queries bounded by `deadline` on the server too
    /// (`max_execution_time`), for requests that give up at that deadline.
    pub fn with_deadline(self, deadline: std::time::Duration) -> Self {
        Self {
            analytics: self.analytics.with_max_execution_time(deadline),
            ..self
        }
    }
}

/// Builds the schema around the services, with the cost limits of [`crate::cost`] (which
/// also enforce [`MAX_DEPTH`] and [`MAX_COMPLEXITY`], with clearer errors than the library's).
pub fn build(services: Services) -> TallySchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .data(services)
    .extension(CostLimits)
    .finish()
}

// The roots have no doc comments: those would become descriptions the schema never had. A
// merged object has its parts' fields in the order of its parts.
#[expect(
    missing_docs,
    reason = "a doc comment would be the schema's description of the type"
)]
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    TenantQuery,
    MetersQuery,
    UsageQuery,
    TrafficQuery,
    EventsQuery,
    QuarantineQuery,
    QuotaQuery,
    AuditQuery,
    KeysQuery,
    BillingQuery,
    AlertingQuery,
    SloQuery,
);

#[expect(
    missing_docs,
    reason = "a doc comment would be the schema's description of the type"
)]
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    MetersMutation,
    QuotaMutation,
    KeysMutation,
    BillingMutation,
    AlertingMutation,
    SloMutation,
);
