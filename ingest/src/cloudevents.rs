//! CloudEvents 1.0 in JSON: one event (`application/cloudevents+json`) or a batch
//! (`application/cloudevents-batch+json`). A batch is split into its items first, so that one
//! malformed item is rejected on its own while the others go on. A batch is counted while it
//! is split: reading stops at the first item past `ingest.max_batch_events`, so that a body of
//! millions of tiny items never becomes millions of candidates.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use chrono::DateTime;
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer as _};
use serde_json::value::RawValue;
use tally_meter::event::Event;

use crate::Candidate;

/// How a body holds its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The body is one event.
    Single,
    /// The body is a JSON array of events.
    Batch,
    /// Plain `application/json`: an array is a batch, anything else one event.
    Detect,
}

impl Mode {
    /// Reads the mode from a `Content-Type`, ignoring parameters such as `charset`.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/cloudevents+json" => Some(Self::Single),
            "application/cloudevents-batch+json" => Some(Self::Batch),
            "application/json" => Some(Self::Detect),
            _ => None,
        }
    }
}

/// The attributes Tally reads; others (extensions) are accepted and ignored.
#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(borrow)]
    specversion: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subject: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    data_base64: Option<&'a RawValue>,
}

/// A body refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not JSON of the expected shape; the message says what is wrong.
    #[error("{0}")]
    Malformed(String),
    /// The batch holds more events than allowed; reading stopped at the first one too many.
    #[error(
        "the request holds more than {limit} events; the limit is {limit} (ingest.max_batch_events)"
    )]
    TooManyEvents {
        /// The most events a request may hold.
        limit: usize,
    },
}

/// Splits a body into candidates, refusing a batch of more than `max_events` items as soon as
/// the reader meets the first one too many, before any item is decoded.
pub fn decode(
    body: &[u8],
    mode: Mode,
    max_events: usize,
    ingest_time_ms: i64,
) -> Result<Vec<Candidate<'_>>, DecodeError> {
    let batch = match mode {
        Mode::Batch => true,
        Mode::Single => false,
        Mode::Detect => body
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            .is_some_and(|byte| *byte == b'['),
    };
    let items: Vec<&RawValue> = if batch {
        split_batch(body, max_events)?
    } else {
        vec![serde_json::from_slice(body).map_err(|error| {
            DecodeError::Malformed(format!("the body is not a JSON event: {error}"))
        })?]
    };
    Ok(items
        .into_iter()
        .map(|item| Candidate {
            raw: Cow::Borrowed(item.get().as_bytes()),
            size: item.get().len(),
            decoded: decode_item(item.get(), ingest_time_ms),
        })
        .collect())
}

/// Reads a JSON array into its items, unparsed, stopping at item `max_events + 1`.
fn split_batch(body: &[u8], max_events: usize) -> Result<Vec<&RawValue>, DecodeError> {
    let over_limit = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let items = deserializer
        .deserialize_seq(BoundedItems {
            max_events,
            over_limit: &over_limit,
        })
        .and_then(|items| deserializer.end().map(|()| items));
    match items {
        Ok(items) => Ok(items),
        Err(_) if over_limit.get() => Err(DecodeError::TooManyEvents { limit: max_events }),
        Err(error) => Err(DecodeError::Malformed(format!(
            "the body is not a JSON array of events: {error}"
        ))),
    }
}

/// Collects the items of a JSON array as raw JSON, failing (and saying so in `over_limit`) at
/// the first item past `max_events`.
struct BoundedItems<'flag> {
    max_events: usize,
    over_limit: &'flag Cell<bool>,
}

impl<'de> Visitor<'de> for BoundedItems<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON array of events")
    }

    fn visit_seq<Items: SeqAccess<'de>>(self, mut seq: Items) -> Result<Self::Value, Items::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if items.len() == self.max_events {
                self.over_limit.set(true);
                return Err(Items::Error::custom("too many events"));
            }
            items.push(item);
        }
        Ok(items)
    }
}

fn decode_item(text: &str, ingest_time_ms: i64) -> Result<Event, String> {
    let wire: WireEvent<'_> = serde_json::from_str(text).map_err(|error| {
        if text.trim_start().starts_with('{') {
            format!("invalid event: {error}")
        } else {
            "an event must be a JSON object".to_owned()
        }
    })?;
    match wire.specversion.as_deref() {
        Some("1.0") => {}
        Some(other) => return Err(format!("specversion must be \"1.0\", got {other:?}")),
        None => return Err("missing required attribute specversion (use \"1.0\")".to_owned()),
    }
    if wire.data_base64.is_some() {
        return Err("data_base64 is not supported: send the payload as JSON in data".to_owned());
    }
    let required = |value: Option<Cow<'_, str>>, name: &str| -> Result<String, String> {
        match value {
            Some(value) if !value.is_empty() => Ok(value.into_owned()),
            Some(_) => Err(format!("attribute {name} must not be empty")),
            None => Err(format!("missing required attribute {name}")),
        }
    };
    let time_ms = match wire.time.as_deref() {
        None => ingest_time_ms,
        Some(time) => DateTime::parse_from_rfc3339(time)
            .map_err(|_| format!("time must be an RFC 3339 timestamp, got {time:?}"))?
            .timestamp_millis(),
    };
    Ok(Event {
        id: required(wire.id, "id")?,
        source: required(wire.source, "source")?,
        event_type: required(wire.event_type, "type")?,
        subject: wire.subject.map(Cow::into_owned),
        time_ms,
        data: wire.data.map(RawValue::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;
    const MAX: usize = 1000;

    fn single(text: &str) -> Result<Event, String> {
        let mut candidates = decode(text.as_bytes(), Mode::Single, MAX, NOW).expect("decodes");
        assert_eq!(candidates.len(), 1);
        candidates.remove(0).decoded
    }

    #[test]
    fn a_full_event_keeps_every_attribute_and_the_raw_data() {
        let event = single(
            r#"{"specversion":"1.0","id":"e1","source":"dev/1","type":"reading","subject":"room-1",
                "time":"2026-09-21T10:00:00.250Z","data":{"celsius": 21.5},"ext":"ignored"}"#,
        )
        .expect("valid");
        assert_eq!(
            (
                event.id.as_str(),
                event.source.as_str(),
                event.event_type.as_str()
            ),
            ("e1", "dev/1", "reading")
        );
        assert_eq!(event.subject.as_deref(), Some("room-1"));
        assert_eq!(event.time_ms, 1_789_984_800_250);
        assert_eq!(
            event.data.map(|data| data.get().to_owned()).as_deref(),
            Some(r#"{"celsius": 21.5}"#)
        );
    }

    #[test]
    fn a_missing_time_is_the_ingest_time() {
        let event =
            single(r#"{"specversion":"1.0","id":"e","source":"s","type":"t"}"#).expect("valid");
        assert_eq!(event.time_ms, NOW);
        assert!(event.data.is_none() && event.subject.is_none());
    }

    #[test]
    fn each_malformed_item_of_a_batch_has_its_own_reason() {
        let body = r#"[
            {"specversion":"1.0","id":"ok","source":"s","type":"t"},
            {"specversion":"1.0","source":"s","type":"t"},
            {"specversion":"0.3","id":"x","source":"s","type":"t"},
            {"specversion":"1.0","id":"x","source":"s","type":"t","time":"yesterday"},
            {"specversion":"1.0","id":"","source":"s","type":"t"},
            {"specversion":"1.0","id":7,"source":"s","type":"t"},
            "not an object"
        ]"#;
        let candidates = decode(body.as_bytes(), Mode::Batch, MAX, NOW).expect("decodes");
        let reasons: Vec<String> = candidates
            .iter()
            .map(|candidate| match &candidate.decoded {
                Ok(_) => "ok".to_owned(),
                Err(reason) => reason.clone(),
            })
            .collect();
        assert_eq!(reasons[0], "ok");
        assert_eq!(reasons[1], "missing required attribute id");
        assert_eq!(reasons[2], r#"specversion must be "1.0", got "0.3""#);
        assert_eq!(
            reasons[3],
            r#"time must be an RFC 3339 timestamp, got "yesterday""#
        );
        assert_eq!(reasons[4], "attribute id must not be empty");
        assert!(
            reasons[5].starts_with("invalid event: invalid type: integer `7`"),
            "{}",
            reasons[5]
        );
        assert_eq!(reasons[6], "an event must be a JSON object");
        assert_eq!(candidates[6].raw.as_ref(), br#""not an object""#);
    }

    #[test]
    fn bodies_that_are_not_json_are_refused_whole() {
        assert!(matches!(
            decode(b"{not json", Mode::Single, MAX, NOW),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode(b"{}", Mode::Batch, MAX, NOW),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode(b"[{}] x", Mode::Batch, MAX, NOW),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(
            decode(b" [] ", Mode::Detect, MAX, NOW)
                .expect("an empty array")
                .len(),
            0
        );
    }

    #[test]
    fn a_batch_is_refused_at_the_first_item_past_the_limit() {
        let three = b"[0, 1, 2]";
        let candidates = decode(three, Mode::Batch, 3, NOW).expect("at the limit");
        assert_eq!(candidates.len(), 3);
        assert_eq!(candidates[2].size, 1);
        let error = decode(three, Mode::Detect, 2, NOW).expect_err("over the limit");
        assert!(matches!(error, DecodeError::TooManyEvents { limit: 2 }));
        assert_eq!(
            error.to_string(),
            "the request holds more than 2 events; the limit is 2 (ingest.max_batch_events)"
        );
        // Reading stops there: what follows the item too many is never looked at.
        let broken_tail = b"[0, 1, 2, this is not JSON";
        assert!(matches!(
            decode(broken_tail, Mode::Batch, 2, NOW),
            Err(DecodeError::TooManyEvents { .. })
        ));
        assert!(matches!(
            decode(broken_tail, Mode::Batch, 10, NOW),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn content_types_choose_the_mode() {
        assert_eq!(
            Mode::from_content_type("application/cloudevents+json; charset=utf-8"),
            Some(Mode::Single)
        );
        assert_eq!(
            Mode::from_content_type("application/cloudevents-batch+json"),
            Some(Mode::Batch)
        );
        assert_eq!(
            Mode::from_content_type("Application/JSON"),
            Some(Mode::Detect)
        );
        assert_eq!(Mode::from_content_type("text/plain"), None);
    }
}
