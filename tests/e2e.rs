//! End-to-end tests: the real `tally` binary against real PostgreSQL, ClickHouse and a
//! Kafka-protocol broker, started by `scripts/test.sh`. Every test makes its own database,
//! ClickHouse database and topic prefix (`tally-testkit`), so tests run in parallel. Tests
//! that need no process are in the crates' integration tests (`api/tests`, `ingest/tests`,
//! `meter/tests`); the ones here run the binary as an operator would, or kill parts of the
//! system under it (`faults`).

mod e2e {
    pub mod alerting;
    pub mod api;
    pub mod api_snapshots;
    pub mod bench;
    pub mod bench_stages;
    pub mod billing;
    pub mod cli;
    pub mod costs;
    pub mod faults;
    pub mod meter;
    pub mod meter_load;
    pub mod otlp;
    pub mod platform_billing;
    pub mod readme;
    pub mod security;
    pub mod serve;
    pub mod slo;
    pub mod stripe;
    pub mod support;
    pub mod usage_tables;
    pub mod web;
    pub mod web_billing;
    pub mod web_slo;
}
