//! Ingest's integration tests: the crate's router driven in process (no `tally` binary, no
//! socket) against the real PostgreSQL and Kafka-protocol broker that `scripts/services.sh`
//! starts. Every test has its own database and topic prefix (`tally-testkit`), so tests run in
//! parallel.

mod ingest {
    pub mod events;
    pub mod limits;
    pub mod otlp;
    pub mod support;
}
