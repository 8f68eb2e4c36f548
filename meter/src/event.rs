//! The event model and its wire format on the bus.
//!
//! Ingest turns every accepted CloudEvent or OTLP item into an [`Event`] and appends
//! [`EventBatch`]es (many events of one tenant per Kafka record, JSON, compressed by the
//! producer) to the events topic. Rejected input goes to the quarantine topic as
//! [`QuarantineRecord`]s; every ingest node sends [`MeteringRecord`]s to the metering topic.
//! The aggregators decode exactly these types.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ids::TenantId;

/// Version of the records' layout, written into each so that readers can evolve.
pub const WIRE_VERSION: u8 = 1;

/// One accepted event, in the shape of a CloudEvent: the `(tenant, source, id)` triple
/// identifies it for deduplication.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Unique within its source.
    pub id: String,
    /// Where the event came from, such as a device or service URI.
    pub source: String,
    /// What happened, such as `api.request` or `otlp.metric`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// What the event is about, such as a customer or a room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Event time in milliseconds since the Unix epoch (the ingest time when the sender gave
    /// none).
    pub time_ms: i64,
    /// The payload, kept as the sender's JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

/// A Kafka record on the events topic: events of one tenant accepted in one request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventBatch {
    /// Layout version, [`WIRE_VERSION`].
    pub v: u8,
    /// The tenant, from the credential that sent the events.
    pub tenant_id: TenantId,
    /// Server time when ingest accepted the events, in milliseconds; authoritative for order.
    pub ingest_time_ms: i64,
    /// The events, in request order.
    pub events: Vec<Event>,
}

/// A Kafka record on the quarantine topic: one rejected event and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuarantineRecord {
    /// Layout version, [`WIRE_VERSION`].
    pub v: u8,
    /// The tenant whose request carried the event.
    pub tenant_id: TenantId,
    /// Server time when ingest rejected it, in milliseconds.
    pub ingest_time_ms: i64,
    /// Position of the event in its request.
    pub index: usize,
    /// The event's id, when it had a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Why it was rejected, in words a person can act on.
    pub reason: String,
    /// The event exactly as received (lossy UTF-8 if it was not text).
    pub raw: String,
}

/// A Kafka record on the metering topic: what one ingest node accepted and rejected for one
/// tenant in one second. Sums over nodes give the platform usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeteringRecord {
    /// Layout version, [`WIRE_VERSION`].
    pub v: u8,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The second, in seconds since the Unix epoch.
    pub second: i64,
    /// Which ingest process counted (random per process start).
    pub node: String,
    /// Events accepted.
    pub accepted_events: u64,
    /// Events rejected (quarantined or refused by throttling).
    pub rejected_events: u64,
    /// Bytes of accepted events, as received.
    pub accepted_bytes: u64,
}
