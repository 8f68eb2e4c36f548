//! Fuzzes the CloudEvents decoder: the first byte picks the mode (as the `Content-Type` would),
//! the rest is the request body. Besides not panicking, every decode must keep the invariants
//! the ingest pipeline relies on.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use tally_ingest::cloudevents::{self, Mode};

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
    let Ok(candidates) = cloudevents::decode(body, mode, INGEST_TIME_MS) else {
        return;
    };
    if mode == Mode::Single {
        assert_eq!(candidates.len(), 1, "a single-event body is one candidate");
    }
    let body_range = body.as_ptr_range();
    for candidate in &candidates {
        let raw = candidate.raw.as_ref();
        assert!(!raw.is_empty(), "a candidate's raw bytes are empty");
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
