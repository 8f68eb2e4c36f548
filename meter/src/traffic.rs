//! A tenant's traffic over the last hour: events stored and events quarantined per minute of
//! ingest time, and the busiest event types. This is what the dashboards show first; it needs
//! no meter. The counts come from the hot tables
//! ([`Analytics::traffic_last_hour`](crate::analytics::Analytics::traffic_last_hour)); this
//! module owns the types and lays the counts out minute by minute.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

/// One minute of a tenant's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteTraffic {
    /// Start of the minute (ingest time).
    pub minute: DateTime<Utc>,
    /// Events stored.
    pub accepted: u64,
    /// Events quarantined: refused by ingest or by the aggregator.
    pub rejected: u64,
}

/// How many events of one type were stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCount {
    /// The CloudEvents `type`.
    pub event_type: String,
    /// Events of that type.
    pub events: u64,
}

/// A tenant's last hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    /// 60 minutes, oldest first, ending with the current one.
    pub minutes: Vec<MinuteTraffic>,
    /// The busiest event types, busiest first.
    pub top_types: Vec<TypeCount>,
}

impl Traffic {
    /// Lays out the 60 minutes starting at `from` from counts keyed by minutes since the epoch;
    /// a minute without a count has none.
    pub(crate) fn from_counts(
        from: DateTime<Utc>,
        accepted: &HashMap<i64, u64>,
        rejected: &HashMap<i64, u64>,
        top_types: Vec<TypeCount>,
    ) -> Self {
        let minutes = (0..60)
            .map(|offset| {
                let minute = from + Duration::minutes(offset);
                let index = minute.timestamp() / 60;
                MinuteTraffic {
                    minute,
                    accepted: accepted.get(&index).copied().unwrap_or(0),
                    rejected: rejected.get(&index).copied().unwrap_or(0),
                }
            })
            .collect();
        Self { minutes, top_types }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_without_counts_are_zero() {
        let from: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().expect("a valid time");
        let second = from.timestamp() / 60 + 1;
        let accepted = HashMap::from([(second, 7)]);
        let rejected = HashMap::from([(second + 58, 2)]);
        let traffic = Traffic::from_counts(from, &accepted, &rejected, Vec::new());
        assert_eq!(traffic.minutes.len(), 60);
        assert_eq!(traffic.minutes[0].minute, from);
        assert_eq!(
            (traffic.minutes[0].accepted, traffic.minutes[0].rejected),
            (0, 0)
        );
        assert_eq!(traffic.minutes[1].accepted, 7);
        assert_eq!(traffic.minutes[59].rejected, 2);
    }
}
