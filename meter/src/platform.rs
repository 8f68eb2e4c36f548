//! Platform usage: what ingest accepted and rejected for a tenant, and how many API queries its
//! keys made, per hour, summed over ingest and API nodes by the aggregator from the metering
//! topic. It counts every accepted event, resends included (ingest does not know them), which
//! is what the platform carried. The hours are read by
//! [`Analytics::platform_hourly`](crate::analytics::Analytics::platform_hourly).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One hour of a tenant's platform usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourUsage {
    /// Start of the hour (UTC).
    pub hour: DateTime<Utc>,
    /// Events accepted by ingest.
    pub accepted_events: u64,
    /// Events rejected by ingest (quarantined or throttled).
    pub rejected_events: u64,
    /// Bytes of the accepted events, as received.
    pub accepted_bytes: u64,
    /// GraphQL requests and exports answered with one of the tenant's own keys.
    pub api_queries: u64,
}
