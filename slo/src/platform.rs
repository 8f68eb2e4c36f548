//! Tally's own SLOs, which the operator gets with the platform tenant (`tally tenant create
//! --platform`): ingest availability, ingest-to-queryable freshness and API latency. They count
//! the platform's observations ([`tally_meter::sli::OBSERVED_TYPES`]) rather than events, and
//! are otherwise SLOs like any other: the operator reads them in the web UI and the API,
//! changes or deletes them with `tally slo`, and is paged by their alert tiers.

use crate::spec::SloSpec;

/// The platform's SLOs, as their JSON specs.
const PLATFORM_SLOS: [&str; 3] = [
    r#"{"name": "ingest-availability",
        "description": "Ingest answers without a server error (2xx and 4xx, not 5xx), on /v1/events and OTLP",
        "indicator": {"kind": "ratio", "event_type": "tally.ingest.request",
                      "good": "$.status < 500"},
        "objective": "99.9", "window": "28d"}"#,
    // One canary a minute per aggregator: the tiers ask for 5 canaries per window, so that the
    // 5-minute windows can fire.
    r#"{"name": "ingest-freshness",
        "description": "An event is queryable within 5 s of being sent (the canary's delay)",
        "indicator": {"kind": "latency", "event_type": "tally.freshness",
                      "value": "$.delay_ms", "threshold": "5000"},
        "objective": "99", "window": "28d",
        "tiers": [
            {"name": "page-fast", "severity": "critical", "factor": "14.4", "long": "1h",
             "short": "5m", "min_events": 5},
            {"name": "page-slow", "severity": "critical", "factor": "6", "long": "6h",
             "short": "30m", "min_events": 5},
            {"name": "ticket", "severity": "warning", "factor": "1", "long": "3d",
             "short": "6h", "min_events": 5}]}"#,
    r#"{"name": "api-latency",
        "description": "GraphQL and export answers within 1 s",
        "indicator": {"kind": "latency", "event_type": "tally.api.request",
                      "value": "$.latency_ms", "threshold": "1000"},
        "objective": "99", "window": "28d"}"#,
];

/// The platform's SLOs.
pub fn platform_slos() -> Vec<SloSpec> {
    PLATFORM_SLOS
        .iter()
        .map(|json| {
            SloSpec::parse(json)
                .unwrap_or_else(|error| unreachable!("the platform's SLOs are valid: {error}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_slos_parse_and_count_the_observed_types() {
        let slos = platform_slos();
        let types: Vec<&str> = slos.iter().map(|slo| slo.indicator.event_type()).collect();
        for event_type in tally_meter::sli::OBSERVED_TYPES {
            assert!(types.contains(&event_type), "{event_type}");
        }
    }
}
