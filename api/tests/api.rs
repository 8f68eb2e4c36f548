//! The API's integration tests: the crate's router driven in process (no `tally` binary, no
//! socket) against the real PostgreSQL and ClickHouse that `scripts/services.sh` starts. Every
//! test has its own databases (`tally-testkit`), so tests run in parallel.

mod api {
    pub mod alerting;
    pub mod billing;
    pub mod cost;
    pub mod invoices;
    pub mod rate;
    pub mod slo;
    pub mod support;
    pub mod usage;
}
