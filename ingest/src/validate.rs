//! Per-event rules applied to every decoded event, whatever its format: size, attribute
//! lengths, the event-time window around the server's clock, and registered types.

use std::collections::HashSet;

use tally_meter::event::Event;
use tally_meter::event_type::MAX_EVENT_TYPE_LENGTH;

const MAX_ID_LENGTH: usize = 256;
const MAX_SOURCE_LENGTH: usize = 1024;
const MAX_SUBJECT_LENGTH: usize = 1024;

/// The configured limits.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Largest event as received, with what it inherits, in bytes.
    pub max_event_bytes: usize,
    /// Oldest event time, in milliseconds before now.
    pub max_age_ms: i64,
    /// Furthest event time, in milliseconds after now.
    pub max_future_ms: i64,
}

/// Checks one event of `size` bytes (see [`crate::Candidate::size`]); `Err` is the reason it
/// is quarantined.
pub fn check(
    event: &Event,
    size: usize,
    rules: &Rules,
    registered_types: Option<&HashSet<String>>,
    now_ms: i64,
) -> Result<(), String> {
    if size > rules.max_event_bytes {
        return Err(format!(
            "the event is {size} bytes; the limit is {} bytes",
            rules.max_event_bytes
        ));
    }
    let lengths = [
        ("id", event.id.len(), MAX_ID_LENGTH),
        ("source", event.source.len(), MAX_SOURCE_LENGTH),
        ("type", event.event_type.len(), MAX_EVENT_TYPE_LENGTH),
        (
            "subject",
            event.subject.as_ref().map_or(0, String::len),
            MAX_SUBJECT_LENGTH,
        ),
    ];
    for (name, length, limit) in lengths {
        if length > limit {
            return Err(format!(
                "attribute {name} is {length} bytes; the limit is {limit}"
            ));
        }
    }
    if event.time_ms < now_ms.saturating_sub(rules.max_age_ms) {
        return Err(format!(
            "time is more than {} in the past",
            describe_ms(rules.max_age_ms)
        ));
    }
    if event.time_ms > now_ms.saturating_add(rules.max_future_ms) {
        return Err(format!(
            "time is more than {} in the future",
            describe_ms(rules.max_future_ms)
        ));
    }
    if let Some(types) = registered_types
        && !types.contains(&event.event_type)
    {
        return Err(format!(
            "event type {:?} is not registered for this tenant",
            event.event_type
        ));
    }
    Ok(())
}

fn describe_ms(ms: i64) -> String {
    let secs = ms / 1000;
    match secs {
        s if s % 86_400 == 0 && s > 0 => format!("{} days", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;
    const RULES: Rules = Rules {
        max_event_bytes: 100,
        max_age_ms: 7 * 86_400_000,
        max_future_ms: 300_000,
    };

    fn event(event_type: &str, time_ms: i64) -> Event {
        Event {
            id: "e".to_owned(),
            source: "s".to_owned(),
            event_type: event_type.to_owned(),
            subject: None,
            time_ms,
            data: None,
        }
    }

    #[test]
    fn each_rule_names_what_is_wrong() {
        assert_eq!(check(&event("t", NOW), 10, &RULES, None, NOW), Ok(()));
        assert_eq!(
            check(&event("t", NOW), 101, &RULES, None, NOW),
            Err("the event is 101 bytes; the limit is 100 bytes".to_owned())
        );
        assert_eq!(
            check(&event("t", NOW - 8 * 86_400_000), 10, &RULES, None, NOW),
            Err("time is more than 7 days in the past".to_owned())
        );
        assert_eq!(
            check(&event("t", NOW + 301_000), 10, &RULES, None, NOW),
            Err("time is more than 5 minutes in the future".to_owned())
        );
        let types: HashSet<String> = ["known".to_owned()].into();
        assert_eq!(
            check(&event("known", NOW), 10, &RULES, Some(&types), NOW),
            Ok(())
        );
        assert_eq!(
            check(&event("other", NOW), 10, &RULES, Some(&types), NOW),
            Err("event type \"other\" is not registered for this tenant".to_owned())
        );
    }
}
