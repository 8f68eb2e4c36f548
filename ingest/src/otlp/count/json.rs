//! Counting OTLP items in OTLP/JSON with serde, through small visitors that follow only the
//! keys leading to items (as the generated decoder spells them: `resourceLogs`, `scopeLogs`,
//! `logRecords`, …) and skip every other value unread. Any value where an object or array is
//! expected but something else is found is skipped too: the decoder will refuse it.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Signal;

/// Keys leading from a request to its log records; the last key's array holds the items.
const LOG_RECORDS: &[&[&str]] = &[&["resourceLogs"], &["scopeLogs"], &["logRecords"]];
/// Keys leading from a request to its spans.
const SPANS: &[&[&str]] = &[&["resourceSpans"], &["scopeSpans"], &["spans"]];
/// Keys leading from a request to its metric data points.
const DATA_POINTS: &[&[&str]] = &[
    &["resourceMetrics"],
    &["scopeMetrics"],
    &["metrics"],
    &[
        "gauge",
        "sum",
        "histogram",
        "exponentialHistogram",
        "summary",
    ],
    &["dataPoints"],
];

/// Items counted so far against the most allowed, and whether counting stopped because there
/// were too many.
struct ItemCounter {
    counted: Cell<usize>,
    max_items: usize,
    over_limit: Cell<bool>,
}

/// Says whether an OTLP/JSON export request of `signal` holds more than `max_items` items.
pub(super) fn exceeds(signal: Signal, body: &[u8], max_items: usize) -> bool {
    let path = match signal {
        Signal::Metrics => DATA_POINTS,
        Signal::Logs => LOG_RECORDS,
        Signal::Traces => SPANS,
    };
    let counter = ItemCounter {
        counted: Cell::new(0),
        max_items,
        over_limit: Cell::new(false),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    // The outcome is in the counter: an error is either the stop at the limit or a body the
    // decoder will refuse.
    let _ = Node {
        path,
        counter: &counter,
    }
    .deserialize(&mut deserializer);
    counter.over_limit.get()
}

/// A value on the way to items: an object whose keys in `path[0]` lead on, or an array of
/// such values; with an empty path, an array of items.
#[derive(Clone, Copy)]
struct Node<'a> {
    path: &'a [&'a [&'a str]],
    counter: &'a ItemCounter,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an OTLP/JSON value")
    }

    fn visit_map<Entries: MapAccess<'de>>(
        self,
        mut entries: Entries,
    ) -> Result<(), Entries::Error> {
        let Some((keys, deeper)) = self.path.split_first() else {
            // An item where an array of items belongs: the decoder refuses it.
            while entries.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while let Some(leads_on) = entries.next_key_seed(KeyIn { keys })? {
            if leads_on {
                entries.next_value_seed(Node {
                    path: deeper,
                    counter: self.counter,
                })?;
            } else {
                entries.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<Items: SeqAccess<'de>>(self, mut items: Items) -> Result<(), Items::Error> {
        if !self.path.is_empty() {
            while items.next_element_seed(self)?.is_some() {}
            return Ok(());
        }
        while items.next_element::<IgnoredAny>()?.is_some() {
            let counted = self.counter.counted.get() + 1;
            self.counter.counted.set(counted);
            if counted > self.counter.max_items {
                self.counter.over_limit.set(true);
                return Err(de::Error::custom("too many items"));
            }
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Reads an object key and says whether it is one of `keys`, without copying it.
struct KeyIn<'a> {
    keys: &'a [&'a str],
}

impl<'de> DeserializeSeed<'de> for KeyIn<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIn<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(self.keys.contains(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact count: over `count - 1`, not over `count`.
    fn counts(signal: Signal, body: &str, count: usize) -> bool {
        let body = body.as_bytes();
        exceeds(signal, body, count.saturating_sub(1)) && !exceeds(signal, body, count)
    }

    #[test]
    fn log_records_and_spans_are_counted_through_their_keys() {
        let logs = r#"{"resourceLogs":[
            {"resource":{"attributes":[{"key":"logRecords","value":{"stringValue":"x"}}]},
             "scopeLogs":[{"logRecords":[{},{"body":{"stringValue":"[1,2]"}}]},
                          {"scope":{"name":"s"},"logRecords":[{}]}]},
            {"scopeLogs":[{"logRecords":[]}]}]}"#;
        assert!(counts(Signal::Logs, logs, 3));
        let spans = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{},{},{}]}]}]}"#;
        assert!(counts(Signal::Traces, spans, 4));
        assert!(
            !exceeds(
                Signal::Traces,
                br#"{"resource_spans":[{"scopeSpans":[{"spans":[{}]}]}]}"#,
                0
            ),
            "snake_case keys are not read by the decoder either"
        );
    }

    #[test]
    fn data_points_of_every_kind_are_counted() {
        let metrics = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
            {"name":"a","gauge":{"dataPoints":[{},{}]}},
            {"name":"b","sum":{"dataPoints":[{}],"isMonotonic":true}},
            {"name":"c","histogram":{"dataPoints":[{}]}},
            {"name":"d","exponentialHistogram":{"dataPoints":[{}]}},
            {"name":"e","summary":{"dataPoints":[{},{}]}},
            {"name":"empty"}]}]}]}"#;
        assert!(counts(Signal::Metrics, metrics, 7));
    }

    #[test]
    fn values_of_unexpected_shapes_are_skipped() {
        let odd = r#"{"resourceLogs":[null, 3, "x", {"scopeLogs":{"logRecords":[{}]}},
            {"scopeLogs":[{"logRecords":{"a":1}}, {"logRecords":[{}]}]}]}"#;
        assert!(counts(Signal::Logs, odd, 2));
    }

    #[test]
    fn counting_stops_at_the_first_item_past_the_limit() {
        let body = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{},{}, not json"#;
        assert!(exceeds(Signal::Logs, body.as_bytes(), 2));
        assert!(
            !exceeds(Signal::Logs, body.as_bytes(), 3),
            "unreadable before the limit"
        );
        assert!(!exceeds(Signal::Logs, b"", 0));
    }
}
