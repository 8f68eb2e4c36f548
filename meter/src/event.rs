//! The event model and its wire format on the bus.
//!
//! Ingest turns every accepted CloudEvent or OTLP item into an [`Event`] and appends
//! [`EventBatch`]es (many events of one tenant per Kafka record, JSON, compressed by the
//! producer) to the events topic. Rejected input goes to the quarantine topic as
//! [`QuarantineRecord`]s; every ingest node sends [`MeteringRecord`]s to the metering topic.
//! The aggregators decode exactly these types.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

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
    /// The start of the event as received (lossy UTF-8 if it was not text), at most the
    /// configured number of bytes (`ingest.quarantine_raw_bytes`), cut at a character boundary.
    pub raw: String,
    /// Length of the whole event as received, in bytes; more than `raw`'s length when `raw`
    /// was cut. 0 in records written before the cut existed.
    #[serde(default)]
    pub raw_bytes: u64,
    /// SHA-256 of the whole event as received, in lowercase hex; empty in records written
    /// before the cut existed.
    #[serde(default)]
    pub raw_sha256: String,
}

impl QuarantineRecord {
    /// Returns the record's raw part as stored: as it is, or, for a record written before
    /// ingest bounded them (no length), its text bounded to `limit` bytes here.
    pub fn bounded_raw(&self, limit: usize) -> BoundedRaw {
        if self.raw_bytes == 0 && !self.raw.is_empty() {
            return BoundedRaw::new(self.raw.as_bytes(), limit);
        }
        BoundedRaw {
            raw: self.raw.clone(),
            raw_bytes: self.raw_bytes,
            raw_sha256: self.raw_sha256.clone(),
        }
    }
}

/// How many bytes of a quarantined event are kept when nothing else is configured.
pub const DEFAULT_QUARANTINE_RAW_BYTES: usize = 16 * 1024;

/// A quarantined event's bytes reduced to what is stored: a prefix, the full length and a hash
/// of the whole, so that one huge rejected event cannot make its record too large to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedRaw {
    /// At most the limit's worth of bytes from the start, as text.
    pub raw: String,
    /// Length of the whole, in bytes.
    pub raw_bytes: u64,
    /// SHA-256 of the whole, in lowercase hex.
    pub raw_sha256: String,
}

impl BoundedRaw {
    /// Keeps at most `limit` bytes of `bytes` as text (lossy UTF-8, never cutting a character
    /// in two), with the length and hash of all of `bytes`.
    pub fn new(bytes: &[u8], limit: usize) -> Self {
        let digest = Sha256::digest(bytes);
        let mut raw_sha256 = String::with_capacity(digest.len() * 2);
        for byte in digest {
            let _ = write!(raw_sha256, "{byte:02x}");
        }
        Self {
            raw: text_prefix(bytes, limit),
            raw_bytes: bytes.len() as u64,
            raw_sha256,
        }
    }

    /// Says whether `raw` holds less than the whole.
    pub fn is_truncated(&self) -> bool {
        self.raw_bytes > self.raw.len() as u64
    }
}

/// Returns at most `limit` bytes of text from the start of `bytes`.
fn text_prefix(bytes: &[u8], limit: usize) -> String {
    let mut prefix = &bytes[..bytes.len().min(limit)];
    // A character cut in two by the limit is dropped, not shown as a replacement character.
    if let Err(error) = std::str::from_utf8(prefix)
        && error.error_len().is_none()
    {
        prefix = &prefix[..error.valid_up_to()];
    }
    let mut text = String::from_utf8_lossy(prefix).into_owned();
    // Replacement characters (3 bytes) for invalid bytes can make the text longer than its bytes.
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// A Kafka record on the metering topic: what one ingest node accepted and rejected, or one API
/// node answered, for one tenant in one second. Sums over nodes give the platform usage.
///
/// A record of [`TenantId::PLATFORM`] (the nil id, no tenant's) instead carries the node's
/// [`Observation`]s of that second: what the platform's own SLOs count.
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
    /// GraphQL requests and exports answered with one of the tenant's own keys (records from
    /// before API queries were counted have none).
    #[serde(default)]
    pub api_queries: u64,
    /// Outcomes of the node's own work in the second, for the platform's SLOs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<Observation>,
}

/// How many of a node's operations in one second had the same outcome, described as the data
/// of an event of a reserved type (see [`crate::sli::OBSERVED_TYPES`]): ingest's answers
/// (`tally.ingest.request`, `{"route": "/v1/events", "status": 503}`), the API's
/// (`tally.api.request`, `{"route": "/graphql", "status": 200, "latency_ms": 50}`) and the
/// freshness canary's (`tally.freshness`, `{"delay_ms": 900}`). The platform tenant's SLOs of
/// those types count each observation as `count` events with that data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The reserved event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// What the outcome was, as an event's data.
    pub data: serde_json::Value,
    /// How many operations had it.
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_raw_keeps_a_prefix_the_length_and_the_hash_of_the_whole() {
        let small = BoundedRaw::new(b"abc", 16);
        assert_eq!(small.raw, "abc");
        assert_eq!(small.raw_bytes, 3);
        assert_eq!(
            small.raw_sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!small.is_truncated());

        let cut = BoundedRaw::new(b"abcdef", 4);
        assert_eq!((cut.raw.as_str(), cut.raw_bytes), ("abcd", 6));
        assert!(cut.is_truncated());
        assert_eq!(cut.raw_sha256, BoundedRaw::new(b"abcdef", 100).raw_sha256);
    }

    #[test]
    fn a_bounded_raw_never_cuts_a_character_and_stays_within_the_limit() {
        // "é" is two bytes: a limit in its middle keeps the text before it.
        assert_eq!(BoundedRaw::new("aé".as_bytes(), 2).raw, "a");
        assert_eq!(BoundedRaw::new("aé".as_bytes(), 3).raw, "aé");
        // Invalid bytes become replacement characters (3 bytes each), still within the limit.
        let invalid = BoundedRaw::new(&[0xff; 10], 4);
        assert_eq!(invalid.raw, "\u{fffd}");
        assert_eq!(invalid.raw_bytes, 10);
        assert!(BoundedRaw::new(&[0xff; 10], 0).raw.is_empty());
    }

    #[test]
    fn records_written_before_the_bounds_still_decode() {
        let old = r#"{"v":1,"tenant_id":"00000000-0000-0000-0000-000000000001",
            "ingest_time_ms":1,"index":0,"reason":"r","raw":"x"}"#;
        let record: QuarantineRecord = serde_json::from_str(old).expect("decodes");
        assert_eq!((record.raw_bytes, record.raw_sha256.as_str()), (0, ""));
    }
}
