//! Durations in JSON written as people do: `5m`, `1h`, `3d` (a serde `with` module, as in the
//! alerting crate's rules).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer, de};

/// Writes `duration` as humantime does: `5m`, `1h`, `3days`.
pub(crate) fn serialize<S: Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_duration(*duration))
}

/// Reads a duration such as `5m`, `1h 30m` or `3d`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map_err(|error| de::Error::custom(format!("{text:?} is not a duration: {error}")))
}
