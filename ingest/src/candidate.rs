//! What every receiver hands to the ingest pipeline: one item of a request, decoded into an
//! [`Event`] or refused with a reason, together with the bytes it arrived as (kept for the
//! quarantine topic).

use std::borrow::Cow;

use tally_meter::event::Event;

/// One item of a request.
#[derive(Debug)]
pub struct Candidate<'a> {
    /// The item as received: a slice of the request body, or for formats without per-item
    /// bytes (OTLP protobuf) the item's JSON rendering.
    pub raw: Cow<'a, [u8]>,
    /// The decoded event, or why the item could not be decoded.
    pub decoded: Result<Event, String>,
}
