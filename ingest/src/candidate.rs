//! What every receiver hands to the ingest pipeline: one item of a request, decoded into an
//! [`Event`] or refused with a reason, together with the bytes it arrived as (kept, bounded, for
//! the quarantine topic) and its size; and the limits every decoder enforces while it reads a
//! body, before any per-item work.

use std::borrow::Cow;

use tally_meter::event::Event;

/// One item of a request.
#[derive(Debug)]
pub struct Candidate<'a> {
    /// The item as received: a slice of the request body, or for formats without per-item
    /// bytes (OTLP protobuf) the item's JSON rendering.
    pub raw: Cow<'a, [u8]>,
    /// The item's size in bytes, compared with `ingest.max_event_bytes`: its raw bytes, plus
    /// for OTLP what every event made from it inherits (resource, scope, and a data point's
    /// metric).
    pub size: usize,
    /// The decoded event, or why the item could not be decoded.
    pub decoded: Result<Event, String>,
}

/// Limits a decoder applies as it reads, so that a small body cannot make it build a large
/// number of items or large items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most items one body may hold (`ingest.max_batch_events`); a body with more is refused
    /// before its items are built.
    pub max_events: usize,
    /// Largest item, with what it inherits (`ingest.max_event_bytes`); a larger OTLP item is
    /// refused without building its event.
    pub max_event_bytes: usize,
}
