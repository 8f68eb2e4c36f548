//! The counting pass that runs before an OTLP body is decoded: it walks the body and counts its
//! items (metric data points, log records, spans) without building any of them, stopping at
//! the first one past the limit. A body over the limit is refused (413) before the decoder
//! allocates one structure per item, which for millions of empty records in a few megabytes
//! would take gigabytes.
//!
//! Both walks are at least as lenient as the real decoders: a body they cannot read is left to
//! the decoder, which refuses it with its own message (400); a body they can read is counted
//! in full. Where the two could disagree (a repeated oneof, a duplicate JSON key), the walks
//! count more, never fewer, items than the decoder would build.

mod json;
mod wire;

use super::{Encoding, Signal};

/// Says whether the body holds more than `max_items` items of `signal`, as far as it can be
/// read; a body that cannot be read before the limit is passed is not over it.
pub(super) fn exceeds(signal: Signal, encoding: Encoding, body: &[u8], max_items: usize) -> bool {
    match encoding {
        Encoding::Protobuf => wire::exceeds(signal, body, max_items),
        Encoding::Json => json::exceeds(signal, body, max_items),
    }
}
