//! Meters as the aggregator applies them: which meters an event feeds, and what each reads from
//! it. Everything here depends only on the event and the meter, never on when the aggregator
//! runs, so that a replay decides exactly as the first reading did.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::event::Event;
use crate::ids::TenantId;
use crate::meter::{Aggregation, Meter};
use crate::sli::{Indicator, Predicate};

/// What a meter reads from one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// The event counts; no value (COUNT).
    Count,
    /// A number (SUM, AVG, MIN, MAX, LATEST).
    Number(Decimal),
    /// A value whose distinct occurrences count (UNIQUE_COUNT).
    Distinct(String),
}

/// One event as one meter sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurement {
    /// Values of the meter's group-by paths, in the order of their names; empty text for a
    /// missing one.
    pub group_values: Vec<String>,
    /// What the meter reads.
    pub reading: Reading,
}

/// The largest magnitude of a value a meter reads: 10^18. A larger one is quarantined, not
/// summed, so that no sum a meter keeps (a block's rows, a query's totals over years of them)
/// can overflow the 96-bit decimals sums are kept in, nor ClickHouse's `Decimal128(9)`.
pub const MAX_READING: Decimal = Decimal::from_parts(0xa764_0000, 0x0de0_b6b3, 0, false, 0);

/// A meter as the aggregator applies it: a tenant's meter, or the SUM meter an SLO's
/// indicator is counted as ([`Indicator::meter`]), which reads 1 for a good event and 0 for
/// another, whatever its subject.
#[derive(Debug, Clone)]
pub struct Counted {
    /// The meter.
    pub meter: Meter,
    /// An indicator's condition for a good event.
    pub good: Option<Predicate>,
}

impl Counted {
    /// What the meter reads from an event whose data is `data`, measured as `measured`.
    pub fn reading(&self, measured: Reading, data: &Value) -> Reading {
        match &self.good {
            Some(good) if good.holds(data) => Reading::Number(Decimal::ONE),
            Some(_) => Reading::Number(Decimal::ZERO),
            None => measured,
        }
    }

    /// The subject its rollup rows keep: the event's, or none for an indicator, whose counts
    /// are never read per subject.
    pub fn subject(&self, event: &Event) -> String {
        match &self.good {
            Some(_) => String::new(),
            None => event.subject.clone().unwrap_or_default(),
        }
    }
}

/// Every tenant's meters and indicators, indexed by tenant and event type, and the platform
/// tenant's indicators of its observations, by type.
#[derive(Debug, Default)]
pub struct MeterSet {
    by_type: HashMap<TenantId, HashMap<String, Vec<Counted>>>,
    observing: HashMap<String, Vec<Counted>>,
}

impl MeterSet {
    /// Indexes the given meters and indicators.
    pub fn new(meters: Vec<Meter>, indicators: Vec<Indicator>) -> Self {
        let mut set = Self::default();
        for meter in meters {
            set.by_type
                .entry(meter.tenant_id)
                .or_default()
                .entry(meter.spec.event_type.clone())
                .or_default()
                .push(Counted { meter, good: None });
        }
        for indicator in indicators {
            let counted = Counted {
                meter: indicator.meter(),
                good: Some(indicator.good.clone()),
            };
            if indicator.observes() {
                set.observing
                    .entry(indicator.event_type)
                    .or_default()
                    .push(counted);
            } else {
                set.by_type
                    .entry(indicator.tenant_id)
                    .or_default()
                    .entry(indicator.event_type)
                    .or_default()
                    .push(counted);
            }
        }
        set
    }

    /// Returns the platform tenant's indicators of observations of this type.
    pub fn observing(&self, event_type: &str) -> &[Counted] {
        self.observing.get(event_type).map_or(&[], Vec::as_slice)
    }

    /// Returns the tenant's meters and indicators of events of this type.
    pub fn matching(&self, tenant: TenantId, event_type: &str) -> &[Counted] {
        self.by_type
            .get(&tenant)
            .and_then(|types| types.get(event_type))
            .map_or(&[], Vec::as_slice)
    }
}

/// Reads an event for a meter, or says why the meter cannot count it: the event is later than
/// the meter allows (judged against the ingest time, which replays share), or its value is
/// missing, of the wrong kind or beyond [`MAX_READING`].
pub fn measure(
    meter: &Meter,
    event: &Event,
    data: &Value,
    ingest_time_ms: i64,
) -> Result<Measurement, String> {
    let spec = &meter.spec;
    let lateness_ms = ingest_time_ms.saturating_sub(event.time_ms);
    let allowed_ms = i64::try_from(spec.allowed_lateness_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    if lateness_ms > allowed_ms {
        return Err(format!(
            "too late for meter {}: the event time is {} s before it was ingested, and the meter \
             allows {} s",
            spec.key,
            lateness_ms / 1000,
            spec.allowed_lateness_secs
        ));
    }
    let group_values = group_values(meter, data);
    let reading = match (&spec.value_path, spec.aggregation) {
        (None, _) | (Some(_), Aggregation::Count) => Reading::Count,
        (Some(path), Aggregation::UniqueCount) => match path.lookup(data) {
            Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                Reading::Distinct(distinct_text(value))
            }
            _ => {
                return Err(format!(
                    "meter {} needs a string or number at {} in the event's data",
                    spec.key,
                    path.as_str()
                ));
            }
        },
        (Some(path), _) => {
            let number = path.lookup(data).and_then(as_decimal).ok_or_else(|| {
                format!(
                    "meter {} needs a number at {} in the event's data",
                    spec.key,
                    path.as_str()
                )
            })?;
            if number.abs() > MAX_READING {
                return Err(format!(
                    "meter {} cannot count {number} at {}: values beyond ±{MAX_READING} are refused",
                    spec.key,
                    path.as_str()
                ));
            }
            Reading::Number(number)
        }
    };
    Ok(Measurement {
        group_values,
        reading,
    })
}

/// The values of the meter's groups in `data`, in the order of their names; empty where one is
/// missing.
pub fn group_values(meter: &Meter, data: &Value) -> Vec<String> {
    meter
        .spec
        .group_by
        .values()
        .map(|path| path.lookup(data).map(as_text).unwrap_or_default())
        .collect()
}

/// A JSON value as group or distinct value text: strings as they are, the rest as JSON.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A JSON number, or a string holding one, as an exact decimal (at most 28 significant digits).
/// What a UNIQUE_COUNT meter compares: a number as its shortest decimal text (so `1`, `1.0`
/// and `1e0` are one value, and the number `1` and the string `"1"` too), a string as written
/// (`"1.0"` and `"1"` are two), `true` and `false` as text.
fn distinct_text(value: &Value) -> String {
    match value {
        Value::Number(_) => as_decimal(value)
            .map(|number| number.normalize().to_string())
            .unwrap_or_else(|| value.to_string()),
        other => as_text(other),
    }
}

fn as_decimal(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_owned(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::ids::{MeterId, MeterKey};
    use crate::meter::{JsonPath, MeterSpec};

    #[test]
    fn the_largest_reading_is_ten_to_the_eighteenth() {
        assert_eq!(MAX_READING, Decimal::from(10_u64.pow(18)));
    }

    fn meter(aggregation: Aggregation, value_path: Option<&str>) -> Meter {
        let group_by = BTreeMap::from([
            (
                "region".to_owned(),
                JsonPath::parse("$.region").expect("valid"),
            ),
            (
                "model".to_owned(),
                JsonPath::parse("$.llm.model").expect("valid"),
            ),
        ]);
        Meter {
            id: MeterId::generate(),
            tenant_id: TenantId::generate(),
            spec: MeterSpec {
                key: MeterKey::parse("tokens").expect("valid"),
                event_type: "llm".to_owned(),
                value_path: value_path.map(|path| JsonPath::parse(path).expect("valid")),
                aggregation,
                group_by,
                allowed_lateness_secs: 60,
            },
            created_at: Utc::now(),
        }
    }

    fn event(time_ms: i64) -> Event {
        Event {
            id: "1".to_owned(),
            source: "test".to_owned(),
            event_type: "llm".to_owned(),
            subject: None,
            time_ms,
            data: None,
        }
    }

    #[test]
    fn numbers_are_read_exactly_and_groups_in_name_order() {
        let data = json!({ "tokens": 0.1, "region": "eu", "llm": { "model": 4 } });
        let measured = measure(
            &meter(Aggregation::Sum, Some("$.tokens")),
            &event(0),
            &data,
            0,
        )
        .expect("measurable");
        assert_eq!(measured.reading, Reading::Number(Decimal::new(1, 1)));
        assert_eq!(measured.group_values, vec!["4".to_owned(), "eu".to_owned()]);
        let text = json!({ "tokens": "1e3" });
        let measured = measure(
            &meter(Aggregation::Max, Some("$.tokens")),
            &event(0),
            &text,
            0,
        )
        .expect("measurable");
        assert_eq!(measured.reading, Reading::Number(Decimal::from(1000)));
        assert_eq!(measured.group_values, vec![String::new(), String::new()]);
    }

    #[test]
    fn missing_values_and_late_events_are_refused_with_a_reason() {
        let sum = meter(Aggregation::Sum, Some("$.tokens"));
        let reason =
            measure(&sum, &event(0), &json!({ "tokens": "many" }), 0).expect_err("not a number");
        assert!(reason.contains("needs a number at $.tokens"), "{reason}");
        let reason =
            measure(&sum, &event(0), &json!({ "tokens": 1 }), 61_000).expect_err("too late");
        assert!(reason.contains("too late for meter tokens"), "{reason}");
        assert!(measure(&sum, &event(0), &json!({ "tokens": 1 }), 60_000).is_ok());
        let unique = meter(Aggregation::UniqueCount, Some("$.user"));
        assert!(measure(&unique, &event(0), &json!({ "user": {} }), 0).is_err());
        let counted = measure(&unique, &event(0), &json!({ "user": 7 }), 0).expect("readable");
        assert_eq!(counted.reading, Reading::Distinct("7".to_owned()));
    }

    #[test]
    fn unique_values_are_numbers_by_value_and_strings_as_written() {
        let unique = meter(Aggregation::UniqueCount, Some("$.user"));
        let read = |user: Value| {
            let measured = measure(&unique, &event(0), &json!({ "user": user }), 0);
            match measured.expect("readable").reading {
                Reading::Distinct(text) => text,
                other => panic!("not distinct: {other:?}"),
            }
        };
        for one in [json!(1), json!(1.0), json!(1e0), json!(1.000), json!("1")] {
            assert_eq!(read(one), "1");
        }
        assert_eq!(read(json!("1.0")), "1.0");
        assert_eq!(read(json!(-0.0)), "0");
        assert_eq!(read(json!(2.50)), "2.5");
        assert_eq!(read(json!(true)), "true");
    }

    #[test]
    fn an_indicator_reads_one_for_a_good_event_and_zero_for_another_without_subject() {
        let tenant = TenantId::generate();
        let indicator = Indicator::example(tenant, "llm");
        let set = MeterSet::new(vec![meter(Aggregation::Count, None)], vec![indicator]);
        assert!(set.matching(tenant, "llm").len() == 1 && set.matching(tenant, "x").is_empty());
        let counted = &set.matching(tenant, "llm")[0];
        let subject = Event {
            subject: Some("device-1".to_owned()),
            ..event(0)
        };
        for (status, good) in [(200, Decimal::ONE), (503, Decimal::ZERO)] {
            let data = json!({ "status": status, "route": "/pay" });
            let measured = measure(&counted.meter, &subject, &data, 0).expect("readable");
            assert_eq!(measured.group_values, ["/pay"]);
            assert_eq!(
                counted.reading(measured.reading, &data),
                Reading::Number(good)
            );
        }
        assert_eq!(counted.subject(&subject), "");
    }
}
