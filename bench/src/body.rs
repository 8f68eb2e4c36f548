//! The CloudEvents batches a bench sender posts. Each sender builds its batch once, with
//! fixed-width placeholders for every event's sequence number and time, and patches them in
//! place before each request: every event gets a unique id and the current time for the cost
//! of a copy, so building bodies takes little of the CPU the sender shares with the server.

use std::io::Write as _;

use hyper::body::Bytes;

/// Digits of the per-sender sequence number in event ids.
const SEQ_DIGITS: usize = 12;
/// Length of an RFC 3339 UTC time with milliseconds: `2026-01-01T00:00:00.000Z`.
const TIME_LENGTH: usize = 24;
/// What closes every event: the padding string, `data` and the event.
const EVENT_TAIL: &[u8] = br#""}}"#;

/// An event time as RFC 3339 text of fixed length.
pub type EventTime = [u8; TIME_LENGTH];

/// Returns the current time as [`EventTime`].
pub fn now() -> EventTime {
    let mut time = [b'0'; TIME_LENGTH];
    let text = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    // The format always yields 24 bytes for years 1000-9999.
    let _ = write!(&mut time[..], "{text}");
    time
}

/// One sender's batch, ready to be stamped and sent.
pub struct BatchTemplate {
    bytes: Vec<u8>,
    seq_offsets: Vec<usize>,
    time_offsets: Vec<usize>,
    largest_event_bytes: usize,
    next_seq: u64,
}

impl BatchTemplate {
    /// Builds a batch of `events` events of about `event_bytes` bytes each (exactly, unless
    /// the attributes alone are longer), whose ids start with `id_prefix`.
    pub fn new(id_prefix: &str, sender: usize, events: usize, event_bytes: usize) -> Self {
        let mut template = Self {
            bytes: Vec::with_capacity(events * (event_bytes + 1) + 2),
            seq_offsets: Vec::with_capacity(events),
            time_offsets: Vec::with_capacity(events),
            largest_event_bytes: 0,
            next_seq: 0,
        };
        template.bytes.push(b'[');
        for index in 0..events {
            if index > 0 {
                template.bytes.push(b',');
            }
            template.push_event(id_prefix, sender, index, event_bytes);
        }
        template.bytes.push(b']');
        template
    }

    fn push_event(&mut self, id_prefix: &str, sender: usize, index: usize, event_bytes: usize) {
        let start = self.bytes.len();
        let bytes = &mut self.bytes;
        bytes.extend_from_slice(br#"{"specversion":"1.0","id":""#);
        bytes.extend_from_slice(format!("{id_prefix}-{sender}-").as_bytes());
        self.seq_offsets.push(bytes.len());
        bytes.extend_from_slice(&[b'0'; SEQ_DIGITS]);
        bytes.extend_from_slice(
            format!(
                r#"","source":"bench/sender-{sender}","type":"bench.reading","subject":"device-{index}","time":""#
            )
            .as_bytes(),
        );
        self.time_offsets.push(bytes.len());
        bytes.extend_from_slice(&[b'0'; TIME_LENGTH]);
        bytes.extend_from_slice(br#"","data":{"pad":""#);
        let written = bytes.len() - start + EVENT_TAIL.len();
        bytes.resize(bytes.len() + event_bytes.saturating_sub(written), b'x');
        bytes.extend_from_slice(EVENT_TAIL);
        self.largest_event_bytes = self.largest_event_bytes.max(bytes.len() - start);
    }

    /// Size of the largest event, in bytes.
    pub fn largest_event_bytes(&self) -> usize {
        self.largest_event_bytes
    }

    /// Size of the whole body, in bytes.
    pub fn body_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Returns the next body: every event with a fresh sequence number and `time`.
    pub fn next_body(&mut self, time: &EventTime) -> Bytes {
        for offset in &self.seq_offsets {
            write_digits(
                &mut self.bytes[*offset..*offset + SEQ_DIGITS],
                self.next_seq,
            );
            self.next_seq += 1;
        }
        for offset in &self.time_offsets {
            self.bytes[*offset..*offset + TIME_LENGTH].copy_from_slice(time);
        }
        Bytes::copy_from_slice(&self.bytes)
    }
}

/// Writes `value` zero-padded into `digits` (its lowest digits, should it not fit).
fn write_digits(digits: &mut [u8], mut value: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn events_have_the_asked_size_unique_ids_and_the_given_time() {
        let mut template = BatchTemplate::new("ab12cd34-r1-ingest", 3, 4, 300);
        let time = *b"2026-01-02T03:04:05.678Z";
        let first = template.next_body(&time);
        let second = template.next_body(&time);
        assert_eq!(first.len(), template.body_bytes());
        assert_eq!(template.largest_event_bytes(), 300);

        let mut ids = Vec::new();
        for body in [&first, &second] {
            let events: Vec<&serde_json::value::RawValue> =
                serde_json::from_slice(body).expect("a JSON array");
            assert_eq!(events.len(), 4);
            for raw in events {
                assert_eq!(raw.get().len(), 300);
                let event: Value = serde_json::from_str(raw.get()).expect("an object");
                assert_eq!(event["specversion"], "1.0");
                assert_eq!(event["time"], "2026-01-02T03:04:05.678Z");
                ids.push(event["id"].as_str().expect("an id").to_owned());
            }
        }
        assert_eq!(ids[0], "ab12cd34-r1-ingest-3-000000000000");
        assert_eq!(ids[7], "ab12cd34-r1-ingest-3-000000000007");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8);
    }

    #[test]
    fn events_smaller_than_their_attributes_get_no_padding() {
        let mut template = BatchTemplate::new("p", 0, 1, 10);
        let body = template.next_body(&now());
        let events: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
        assert_eq!(events[0]["data"]["pad"], "");
    }

    #[test]
    fn now_is_rfc3339_with_milliseconds() {
        let time = now();
        let text = std::str::from_utf8(&time).expect("ASCII");
        assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
        assert!(text.ends_with('Z'));
    }
}
