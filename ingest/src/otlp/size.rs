//! The size of an OTLP item as ingest counts it: its own OTLP/JSON rendering plus the JSON it
//! inherits from the messages around it (resource attributes, scope, and for a data point its
//! metric's name, description and unit), which every event made from it carries in `data`.
//! Measured once per resource, scope and metric, without rendering anything twice, so that an
//! item too large with what it inherits is refused before its event is built.

use std::io;

use serde::Serialize;

/// What an item inherits, measured as JSON.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inherited {
    /// Bytes of JSON, resource attributes excluded (the resource adds its own).
    pub(super) bytes: usize,
    /// The messages they come from, for the rejection reason, such as `"scope"`.
    pub(super) from: &'static str,
}

/// Returns the length of a value's JSON rendering, without keeping the rendering.
pub(super) fn json_len<Value: Serialize + ?Sized>(value: &Value) -> usize {
    let mut counter = ByteCounter(0);
    // Writing to a counter cannot fail; a value that cannot be rendered counts what it wrote.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The reason an item over `limit` bytes with what it inherits is refused.
pub(super) fn too_large(size: usize, inherited: usize, from: &str, limit: usize) -> String {
    format!(
        "the event is {size} bytes, {inherited} of them inherited from its {from}; \
         the limit is {limit} bytes (ingest.max_event_bytes)"
    )
}

/// An `io::Write` that only counts.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_lengths_match_the_rendering() {
        let value = json!({"service.name": "checkout", "n": [1, 2.5, null], "s": "é\"x"});
        assert_eq!(json_len(&value), value.to_string().len());
        assert_eq!(json_len(""), 2);
    }
}
