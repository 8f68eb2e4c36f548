//! The GraphQL object types, converted from the domain's.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_meter::api_key::{self, Scope};
use tally_meter::audit;
use tally_meter::meter::{self, Aggregation};
use tally_meter::quota::{Limits, QuotaMode};
use tally_meter::traffic;
use tally_meter::usage::{self, Window};

/// What an API key may do.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Scope", remote = "Scope")]
pub enum ScopeValue {
    /// Send events.
    Ingest,
    /// Read the tenant's data.
    Read,
    /// Read, and manage meters, quotas and keys.
    Admin,
    /// An operator's key, acting on the tenant it names.
    Platform,
}

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

/// The size of usage windows, aligned to UTC.
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

/// What happens past the monthly quota.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "QuotaMode", remote = "QuotaMode")]
pub enum QuotaModeValue {
    /// Events past the quota are refused.
    Hard,
    /// Events past the quota are accepted with a warning.
    Soft,
}

/// The caller.
#[derive(SimpleObject, Debug, Clone)]
pub struct Me {
    /// The caller's tenant.
    pub tenant_id: ID,
    /// The tenant's name.
    pub tenant_name: String,
    /// The scope of the key used.
    pub scope: ScopeValue,
    /// The id of the key used.
    pub key_id: ID,
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
    /// Start of the window (or of the range).
    pub window_start: DateTime<Utc>,
    /// End of the window (or of the range), exclusive.
    pub window_end: DateTime<Utc>,
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

/// The tenant's limits and what it used of them this month.
#[derive(SimpleObject, Debug, Clone)]
pub struct Quota {
    /// Sustained events per second.
    pub rate_per_sec: u64,
    /// Events that may arrive at once above the rate.
    pub burst: u64,
    /// Events per calendar month (UTC), if capped.
    pub monthly_events: Option<u64>,
    /// What happens past the monthly quota.
    pub monthly_mode: QuotaModeValue,
    /// Whether these are the tenant's own limits or the defaults.
    pub is_default: bool,
    /// First day of the current period.
    pub period_start: chrono::NaiveDate,
    /// Events accepted in the current period so far.
    pub consumed: u64,
    /// The most rate the operator granted: the tenant's admins may set up to this, not more.
    pub granted_rate_per_sec: u64,
    /// The most burst the operator granted.
    pub granted_burst: u64,
    /// The most monthly events the operator granted, if it capped them.
    pub granted_monthly_events: Option<u64>,
    /// The monthly mode the operator granted: a tenant may go from soft to hard, not back.
    pub granted_monthly_mode: QuotaModeValue,
}

impl Quota {
    /// Combines limits, the operator's grant and consumption.
    pub fn new(
        limits: Limits,
        grant: Limits,
        is_default: bool,
        period_start: chrono::NaiveDate,
        consumed: u64,
    ) -> Self {
        Self {
            rate_per_sec: limits.rate_per_sec,
            burst: limits.burst,
            monthly_events: limits.monthly_events,
            monthly_mode: limits.monthly_mode.into(),
            granted_rate_per_sec: grant.rate_per_sec,
            granted_burst: grant.burst,
            granted_monthly_events: grant.monthly_events,
            granted_monthly_mode: grant.monthly_mode.into(),
            is_default,
            period_start,
            consumed,
        }
    }
}

/// New limits for the tenant.
#[derive(InputObject, Debug, Clone)]
pub struct QuotaInput {
    /// Sustained events per second.
    pub rate_per_sec: u64,
    /// Events that may arrive at once above the rate (default: twice the rate).
    pub burst: Option<u64>,
    /// Events per calendar month, if capped.
    pub monthly_events: Option<u64>,
    /// What happens past the monthly quota.
    #[graphql(default_with = "QuotaModeValue::Hard")]
    pub monthly_mode: QuotaModeValue,
}

/// An API key, without its secret.
#[derive(SimpleObject, Debug, Clone)]
pub struct ApiKey {
    /// Stable id, used to revoke it.
    pub id: ID,
    /// What it may do.
    pub scope: ScopeValue,
    /// Its first characters, to tell keys apart.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::ApiKey> for ApiKey {
    fn from(key: api_key::ApiKey) -> Self {
        Self {
            id: ID(key.id.to_string()),
            scope: key.scope.into(),
            prefix: key.prefix,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A new key and its secret, shown this once.
#[derive(SimpleObject, Debug, Clone)]
pub struct CreatedApiKey {
    /// The stored key.
    pub key: ApiKey,
    /// The full key; it is not stored and cannot be shown again.
    pub secret: String,
}

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

/// An event that was not counted, and why.
#[derive(SimpleObject, Debug, Clone)]
pub struct QuarantinedEvent {
    /// When ingest received it.
    pub ingest_time: DateTime<Utc>,
    /// Its id, when it had a readable one.
    pub event_id: Option<String>,
    /// Why it was refused, in words a person can act on.
    pub reason: String,
    /// The start of the event as received: at most `ingest.quarantine_raw_bytes` bytes.
    pub raw: String,
    /// Length of the whole event as received, in bytes (0 for events quarantined before
    /// lengths were recorded).
    pub raw_bytes: u64,
    /// SHA-256 of the whole event as received, in lowercase hex (empty for events quarantined
    /// before hashes were recorded).
    pub raw_sha256: String,
    /// Whether `raw` holds less than the whole event.
    pub truncated: bool,
}

/// A page of quarantined events, newest first.
#[derive(SimpleObject, Debug, Clone)]
pub struct QuarantinePage {
    /// The events.
    pub items: Vec<QuarantinedEvent>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// An entry of the tenant's audit log.
#[derive(SimpleObject, Debug, Clone)]
pub struct AuditEntry {
    /// Who: `operator` (the command line), `key:<id>` (one of the tenant's keys),
    /// `platform:<id>` (an operator's platform key) or `anonymous` (failed authentications).
    pub actor: String,
    /// What, such as `quota.set`, `key.created`, `meter.deleted`, `session.signed_in`,
    /// `platform.access` or `auth.failed` (the README lists them all).
    pub action: String,
    /// The value before, as JSON, if there was one.
    pub old_value: Option<String>,
    /// The value after, as JSON.
    pub new_value: Option<String>,
    /// The client's address, where known (sign-ins, platform access, failures).
    pub client: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<audit::AuditEntry> for AuditEntry {
    fn from(entry: audit::AuditEntry) -> Self {
        Self {
            actor: entry.actor,
            action: entry.action,
            old_value: entry.old_value.map(|value| value.to_string()),
            new_value: entry.new_value.map(|value| value.to_string()),
            client: entry.client,
            at: entry.at,
        }
    }
}
