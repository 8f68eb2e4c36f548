//! Tally's service-level objectives: SLO specs, error-budget and burn-rate math, and the alert
//! tiers that feed the alerting crate.
//!
//! Nothing lives here yet.
