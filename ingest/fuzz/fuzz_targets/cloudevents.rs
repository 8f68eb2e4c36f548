//! Fuzzes the CloudEvents decoder: the first byte picks the mode (as the `Content-Type` would)
//! and the most events allowed (1 to 8), the rest is the request body. Besides not panicking,
//! every decode must keep the invariants the ingest pipeline relies on: never more candidates
//! than the limit, a batch refused as too large only when it does hold more (as far as it
//! parses), and each candidate's size its raw length.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use tally_ingest::cloudevents::{self, DecodeError, Mode};

/// The ingest time handed to the decoder, a realistic "now".
const INGEST_TIME_MS: i64 = 1_790_000_000_000;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let mode = match selector % 3 {
        0 => Mode::Single,
        1 => Mode::Batch,
        _ => Mode::Detect,
    };
    let max_events = usize::from(selector / 3 % 8) + 1;
    let candidates = match cloudevents::decode(body, mode, max_events, INGEST_TIME_MS) {
        Ok(candidates) => candidates,
        Err(DecodeError::TooManyEvents { limit }) => {
            assert_eq!(limit, max_events);
            // Reading stopped at the first event too many, so the rest may be anything; but
            // when the whole body is a batch, it must hold more than the limit.
            if let Ok(all) = cloudevents::decode(body, mode, usize::MAX, INGEST_TIME_MS) {
                assert!(
                    all.len() > max_events,
                    "a batch within the limit was refused"
                );
            }
            return;
        }
        Err(DecodeError::Malformed(reason)) => {
            assert!(!reason.is_empty(), "a malformed body has no reason");
            return;
        }
    };
    assert!(
        candidates.len() <= max_events,
        "{} candidates, over the limit of {max_events}",
        candidates.len()
    );
    let unlimited = cloudevents::decode(body, mode, usize::MAX, INGEST_TIME_MS)
        .expect("a body decoded within the limit decodes without one");
    assert_eq!(
        unlimited.len(),
        candidates.len(),
        "the limit changed the candidates"
    );
    if mode == Mode::Single {
        assert_eq!(candidates.len(), 1, "a single-event body is one candidate");
    }
    let body_range = body.as_ptr_range();
    for candidate in &candidates {
        let raw = candidate.raw.as_ref();
        assert!(!raw.is_empty(), "a candidate's raw bytes are empty");
        assert_eq!(
            candidate.size,
            raw.len(),
            "a CloudEvent's size is its raw length"
        );
        assert!(
            body_range.contains(&raw.as_ptr()) && raw.as_ptr_range().end <= body_range.end,
            "a candidate's raw bytes are not a slice of the body"
        );
        assert!(
            serde_json::from_slice::<&RawValue>(raw).is_ok(),
            "a candidate's raw bytes are not one JSON value"
        );
        match &candidate.decoded {
            Ok(event) => {
                assert!(!event.id.is_empty(), "an accepted event has an empty id");
                assert!(
                    !event.source.is_empty(),
                    "an accepted event has an empty source"
                );
                assert!(
                    !event.event_type.is_empty(),
                    "an accepted event has an empty type"
                );
                if let Some(data) = &event.data {
                    assert!(
                        serde_json::from_str::<&RawValue>(data.get()).is_ok(),
                        "an accepted event's data is not JSON"
                    );
                }
            }
            Err(reason) => assert!(!reason.is_empty(), "a rejection has no reason"),
        }
    }
});
