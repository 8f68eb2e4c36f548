//! What the three signals share: attribute values as JSON, the resource and scope every item
//! carries, times and ids, and the assembly of an item into a [`Candidate`].

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use tally_meter::event::Event;

use super::size::{self, Inherited, json_len};
use crate::Candidate;

/// The event source used when a resource has no `service.name`.
const DEFAULT_SOURCE: &str = "otlp";

/// Length of a content-hash id, in hex characters.
const CONTENT_ID_LEN: usize = 32;

/// What every item of one resource shares: its event source, its attributes as JSON and their
/// size, and the size limit of the items.
pub(super) struct ResourceContext {
    source: String,
    attributes: Value,
    attributes_bytes: usize,
    max_event_bytes: usize,
}

impl ResourceContext {
    /// Reads the source (`service.name`) and attributes of an item's resource; items larger
    /// than `max_event_bytes` with what they inherit will be refused unbuilt.
    pub(super) fn new(resource: Option<&Resource>, max_event_bytes: usize) -> Self {
        let attributes = resource
            .map(|resource| resource.attributes.as_slice())
            .unwrap_or_default();
        let source = attributes
            .iter()
            .find(|attribute| attribute.key == "service.name")
            .and_then(
                |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                    AnyValueKind::StringValue(name) if !name.is_empty() => Some(name.clone()),
                    _ => None,
                },
            )
            .unwrap_or_else(|| DEFAULT_SOURCE.to_owned());
        let attributes = attributes_json(attributes);
        Self {
            source,
            attributes_bytes: json_len(&attributes),
            attributes,
            max_event_bytes,
        }
    }

    /// Builds an item's `data`: resource, scope, the item's attributes, and under `kind` the
    /// item's own fields.
    pub(super) fn data(
        &self,
        scope: &Value,
        attributes: &[KeyValue],
        kind: &str,
        item: Value,
    ) -> Value {
        json!({
            "resource": self.attributes,
            "scope": scope,
            "attributes": attributes_json(attributes),
            kind: item,
        })
    }

    /// Turns one item into a candidate whose raw bytes are `raw`'s OTLP/JSON rendering and
    /// whose size adds what it inherits (this resource's attributes and `inherited`). An item
    /// within the limit is mapped by `map` (which may give the reason it cannot be); a larger
    /// one is refused without being mapped.
    pub(super) fn candidate<Raw: Serialize>(
        &self,
        event_type: &str,
        raw: &Raw,
        inherited: Inherited,
        map: impl FnOnce() -> Result<Mapped, String>,
    ) -> Candidate<'static> {
        let raw = serde_json::to_vec(raw).unwrap_or_else(|error| {
            json!({ "unrenderable_otlp_item": error.to_string() })
                .to_string()
                .into_bytes()
        });
        let inherited_bytes = self.attributes_bytes.saturating_add(inherited.bytes);
        let size = raw.len().saturating_add(inherited_bytes);
        let decoded = if size > self.max_event_bytes {
            Err(size::too_large(
                size,
                inherited_bytes,
                inherited.from,
                self.max_event_bytes,
            ))
        } else {
            map().and_then(|mapped| self.event(event_type, mapped))
        };
        Candidate {
            raw: Cow::Owned(raw),
            size,
            decoded,
        }
    }

    fn event(&self, event_type: &str, mapped: Mapped) -> Result<Event, String> {
        let id = match mapped.id {
            Some(id) => id,
            None => content_id(&json!({
                "type": event_type,
                "source": self.source,
                "subject": mapped.subject,
                "time_ms": mapped.time_ms,
                "data": mapped.data,
            })),
        };
        let data = serde_json::value::to_raw_value(&mapped.data)
            .map_err(|error| format!("cannot render the item as JSON: {error}"))?;
        Ok(Event {
            id,
            source: self.source.clone(),
            event_type: event_type.to_owned(),
            subject: mapped.subject,
            time_ms: mapped.time_ms,
            data: Some(data),
        })
    }
}

/// One item mapped to the parts of an event that differ between signals.
pub(super) struct Mapped {
    /// The event subject.
    pub(super) subject: Option<String>,
    /// The event time, already defaulted to the ingest time.
    pub(super) time_ms: i64,
    /// The id, or `None` for a content hash of the event.
    pub(super) id: Option<String>,
    /// The event's `data`.
    pub(super) data: Value,
}

/// An instrumentation scope as `{name, version}`, and the size of that JSON.
pub(super) struct ScopeJson {
    /// The JSON every item of the scope carries.
    pub(super) value: Value,
    /// Its length.
    pub(super) bytes: usize,
}

/// Renders an instrumentation scope as `{name, version}`.
pub(super) fn scope_json(scope: Option<&InstrumentationScope>) -> ScopeJson {
    let value = match scope {
        Some(scope) => json!({ "name": scope.name, "version": scope.version }),
        None => json!({ "name": "", "version": "" }),
    };
    ScopeJson {
        bytes: json_len(&value),
        value,
    }
}

/// Renders attributes as one flat JSON object; a repeated key keeps its last value.
pub(super) fn attributes_json(attributes: &[KeyValue]) -> Value {
    let map: Map<String, Value> = attributes
        .iter()
        .map(|attribute| {
            (
                attribute.key.clone(),
                any_value_json(attribute.value.as_ref()),
            )
        })
        .collect();
    Value::Object(map)
}

/// Renders an attribute value or log body as the JSON value it naturally is.
pub(super) fn any_value_json(value: Option<&AnyValue>) -> Value {
    let Some(kind) = value.and_then(|value| value.value.as_ref()) else {
        return Value::Null;
    };
    match kind {
        AnyValueKind::StringValue(text) => Value::String(text.clone()),
        AnyValueKind::BoolValue(flag) => Value::Bool(*flag),
        AnyValueKind::IntValue(number) => Value::from(*number),
        AnyValueKind::DoubleValue(number) => double_json(*number),
        AnyValueKind::ArrayValue(array) => Value::Array(
            array
                .values
                .iter()
                .map(|item| any_value_json(Some(item)))
                .collect(),
        ),
        AnyValueKind::KvlistValue(list) => attributes_json(&list.values),
        AnyValueKind::BytesValue(bytes) => Value::String(BASE64.encode(bytes)),
        // An index into a profile's string table, meaningless outside profiles.
        AnyValueKind::StringValueStrindex(_) => Value::Null,
    }
}

/// Renders a double, writing NaN and the infinities as strings the way OTLP/JSON does.
pub(super) fn double_json(number: f64) -> Value {
    match serde_json::Number::from_f64(number) {
        Some(finite) => Value::Number(finite),
        None if number.is_nan() => Value::from("NaN"),
        None if number > 0.0 => Value::from("Infinity"),
        None => Value::from("-Infinity"),
    }
}

/// Converts Unix nanoseconds to milliseconds, with 0 (absent) meaning the ingest time.
pub(super) fn time_ms(unix_nanos: u64, ingest_time_ms: i64) -> i64 {
    if unix_nanos == 0 {
        return ingest_time_ms;
    }
    i64::try_from(unix_nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Renders bytes as lowercase hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Renders a trace or span id that may be absent (empty) as hex or null, refusing one of the
/// wrong length or all zeros.
pub(super) fn optional_id_json(bytes: &[u8], len: usize, what: &str) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    required_id_hex(bytes, len, what).map(Value::String)
}

/// Renders a trace or span id as hex, refusing an absent one, one of the wrong length or all
/// zeros.
pub(super) fn required_id_hex(bytes: &[u8], len: usize, what: &str) -> Result<String, String> {
    if bytes.len() != len {
        return Err(format!("{what} must be {len} bytes, got {}", bytes.len()));
    }
    if bytes.iter().all(|byte| *byte == 0) {
        return Err(format!("{what} must not be all zeros"));
    }
    Ok(hex(bytes))
}

/// Hashes a value's canonical JSON (object keys sorted, no spaces) into a hex id.
fn content_id(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    let mut id = hex(&Sha256::digest(canonical.as_bytes()));
    id.truncate(CONTENT_ID_LEN);
    id
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|left, right| left.0.cmp(right.0));
            out.push('{');
            for (position, (key, item)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::from(key.as_str()));
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    use super::*;

    fn value(kind: AnyValueKind) -> Option<AnyValue> {
        Some(AnyValue { value: Some(kind) })
    }

    fn attribute(key: &str, kind: AnyValueKind) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: value(kind),
            ..Default::default()
        }
    }

    #[test]
    fn any_values_map_to_natural_json() {
        let nested = KeyValueList {
            values: vec![attribute("inner", AnyValueKind::IntValue(-3))],
        };
        let attributes = [
            attribute("s", AnyValueKind::StringValue("text".into())),
            attribute("b", AnyValueKind::BoolValue(true)),
            attribute("i", AnyValueKind::IntValue(9_007_199_254_740_993)),
            attribute("d", AnyValueKind::DoubleValue(1.5)),
            attribute("nan", AnyValueKind::DoubleValue(f64::NAN)),
            attribute("inf", AnyValueKind::DoubleValue(f64::NEG_INFINITY)),
            attribute("bytes", AnyValueKind::BytesValue(vec![0, 1, 255])),
            attribute(
                "a",
                AnyValueKind::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(AnyValueKind::StringValue("x".into())),
                    }],
                }),
            ),
            attribute("kv", AnyValueKind::KvlistValue(nested)),
            KeyValue {
                key: "empty".into(),
                value: None,
                ..Default::default()
            },
        ];
        assert_eq!(
            attributes_json(&attributes),
            json!({
                "s": "text", "b": true, "i": 9_007_199_254_740_993_i64, "d": 1.5, "nan": "NaN",
                "inf": "-Infinity", "bytes": "AAH/", "a": ["x"], "kv": {"inner": -3}, "empty": null,
            })
        );
    }

    #[test]
    fn the_source_is_the_service_name_or_otlp() {
        let named = Resource {
            attributes: vec![attribute(
                "service.name",
                AnyValueKind::StringValue("checkout".into()),
            )],
            ..Default::default()
        };
        assert_eq!(ResourceContext::new(Some(&named), 100).source, "checkout");
        let unnamed = Resource {
            attributes: vec![attribute("service.name", AnyValueKind::IntValue(1))],
            ..Default::default()
        };
        assert_eq!(ResourceContext::new(Some(&unnamed), 100).source, "otlp");
        assert_eq!(ResourceContext::new(None, 100).source, "otlp");
    }

    #[test]
    fn content_ids_ignore_key_order() {
        let one = content_id(&json!({"a": 1, "b": {"c": [1, 2], "d": "x"}}));
        let two: Value =
            serde_json::from_str(r#"{"b": {"d": "x", "c": [1, 2]}, "a": 1}"#).expect("json");
        assert_eq!(one, content_id(&two));
        assert_eq!(one.len(), 32);
        assert_ne!(
            one,
            content_id(&json!({"a": 2, "b": {"c": [1, 2], "d": "x"}}))
        );
    }

    #[test]
    fn times_and_ids() {
        assert_eq!(time_ms(0, 42), 42);
        assert_eq!(time_ms(1_544_712_660_300_000_000, 42), 1_544_712_660_300);
        assert_eq!(hex(&[0x5b, 0x8e, 0x0f]), "5b8e0f");
        assert_eq!(optional_id_json(&[], 8, "span id"), Ok(Value::Null));
        assert_eq!(
            optional_id_json(&[1, 2, 3], 8, "span id"),
            Err("span id must be 8 bytes, got 3".to_owned())
        );
        assert_eq!(
            required_id_hex(&[0; 16], 16, "trace id"),
            Err("trace id must not be all zeros".to_owned())
        );
    }
}
