//! The path every request's events take, whatever their format: throttle, validate, check
//! the monthly quota, append accepted events and quarantined items to the bus, wait for the
//! broker's acknowledgement, then count. A quarantined item keeps at most
//! `ingest.quarantine_raw_bytes` of its bytes, with its full length and hash, so that its
//! record always fits the broker.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tally_meter::event::{BoundedRaw, Event, EventBatch, QuarantineRecord, WIRE_VERSION};
use tally_meter::ids::TenantId;

use crate::error::IngestError;
use crate::producer::OutRecord;
use crate::telemetry::{EventsStored, EventsThrottled, EventsUnacknowledged};
use crate::{Candidate, Ingest, validate};

/// One event refused by the pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// Its position in the request.
    pub index: usize,
    /// Its id, when it had a readable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why.
    pub reason: String,
}

/// What happened to a request's events.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Events now durable in Kafka.
    pub accepted: usize,
    /// Events quarantined, with reasons.
    pub rejected: Vec<Rejection>,
    /// Things the sender should know, such as a soft quota exceeded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Ingest {
    /// Runs a request's candidates through the pipeline for `tenant` at `now`.
    pub async fn submit(
        &self,
        tenant: TenantId,
        candidates: Vec<Candidate<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, IngestError> {
        let count = candidates.len();
        if count == 0 {
            return Err(IngestError::Undecodable(
                "the request holds no events".to_owned(),
            ));
        }
        if count > self.config.max_batch_events {
            return Err(IngestError::TooLarge(format!(
                "the request holds {count} events; the limit is {} (ingest.max_batch_events)",
                self.config.max_batch_events
            )));
        }
        if let Err(error) = self.policy.admit(tenant, count, Instant::now()) {
            self.metering.record(tenant, 0, count, 0);
            EventsThrottled {
                tenant,
                events: count,
            }
            .emit();
            return Err(error);
        }

        let now_ms = now.timestamp_millis();
        let tenant_policy = self.policy.tenant(tenant);
        let mut accepted: Vec<Event> = Vec::with_capacity(count);
        let mut accepted_bytes = 0;
        let mut quarantined: Vec<(Rejection, BoundedRaw)> = Vec::new();
        for (index, candidate) in candidates.into_iter().enumerate() {
            let (id, reason) = match candidate.decoded {
                Ok(event) => {
                    let types = tenant_policy.event_types.as_deref();
                    match validate::check(&event, candidate.size, &self.rules, types, now_ms) {
                        Ok(()) => {
                            accepted_bytes += candidate.raw.len();
                            accepted.push(event);
                            continue;
                        }
                        Err(reason) => (Some(event.id), reason),
                    }
                }
                Err(reason) => (readable_id(&candidate.raw), reason),
            };
            let raw = BoundedRaw::new(&candidate.raw, self.config.quarantine_raw_bytes);
            quarantined.push((Rejection { index, id, reason }, raw));
        }

        let warning = self.policy.check_quota(tenant, accepted.len(), now)?;
        let mut records = self.event_records(tenant, tenant_policy.hot, now_ms, accepted);
        let accepted_count = count - quarantined.len();
        records.extend(quarantined.iter().map(|(rejection, raw)| {
            OutRecord::quarantine(&QuarantineRecord {
                v: WIRE_VERSION,
                tenant_id: tenant,
                ingest_time_ms: now_ms,
                index: rejection.index,
                event_id: rejection.id.clone(),
                reason: rejection.reason.clone(),
                raw: raw.raw.clone(),
                raw_bytes: raw.raw_bytes,
                raw_sha256: raw.raw_sha256.clone(),
            })
        }));
        let producing = Instant::now();
        if let Err(error) = self.producer.send_all(records).await {
            EventsUnacknowledged {
                tenant,
                events: count,
                error: &error,
            }
            .emit();
            return Err(IngestError::Unavailable(
                "kafka did not acknowledge the events",
            ));
        }

        self.policy.record_accepted(tenant, accepted_count, now);
        self.metering
            .record(tenant, accepted_count, quarantined.len(), accepted_bytes);
        EventsStored {
            tenant,
            accepted: accepted_count,
            rejected: quarantined.len(),
            accepted_bytes,
            acknowledged_in: producing.elapsed(),
        }
        .emit();
        Ok(Outcome {
            accepted: accepted_count,
            rejected: quarantined
                .into_iter()
                .map(|(rejection, _)| rejection)
                .collect(),
            warnings: warning.into_iter().collect(),
        })
    }

    /// Packs accepted events into records of at most `events_per_record`, keyed by tenant, or
    /// by tenant and subject for hot tenants.
    fn event_records(
        &self,
        tenant: TenantId,
        hot: bool,
        ingest_time_ms: i64,
        events: Vec<Event>,
    ) -> Vec<OutRecord> {
        let mut groups: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        if hot {
            for event in events {
                let key = format!("{tenant}/{}", event.subject.as_deref().unwrap_or(""));
                groups.entry(key).or_default().push(event);
            }
        } else if !events.is_empty() {
            groups.insert(tenant.to_string(), events);
        }
        let per_record = self.config.events_per_record;
        let mut records = Vec::new();
        for (key, mut events) in groups {
            while !events.is_empty() {
                let rest = events.split_off(events.len().min(per_record));
                let batch = EventBatch {
                    v: WIRE_VERSION,
                    tenant_id: tenant,
                    ingest_time_ms,
                    events,
                };
                records.push(OutRecord::events(key.clone(), &batch));
                events = rest;
            }
        }
        records
    }
}

/// The `id` of an event that could not be decoded, if it has a string one, so that the sender
/// can tell which event was refused.
fn readable_id(raw: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct WithId {
        id: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<WithId>(raw).ok()?.id? {
        serde_json::Value::String(id) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_events_keep_a_string_id_when_they_have_one() {
        assert_eq!(
            readable_id(br#"{"specversion":"0.3","id":"e-1"}"#),
            Some("e-1".to_owned())
        );
        assert_eq!(readable_id(br#"{"id":7}"#), None);
        assert_eq!(readable_id(b"not json"), None);
    }
}
