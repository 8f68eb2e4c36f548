//! End-to-end tests: the real `tally` binary and Tally's store code against real PostgreSQL,
//! ClickHouse and a Kafka-protocol broker, started by `scripts/test.sh`. Every test makes its
//! own database, ClickHouse database and topic prefix, so tests run in parallel.

mod e2e {
    pub mod api;
    pub mod api_snapshots;
    pub mod bench;
    pub mod cli;
    pub mod faults;
    pub mod ingest;
    pub mod meter;
    pub mod meter_faults;
    pub mod meter_load;
    pub mod meter_outage;
    pub mod otlp;
    pub mod own_clickhouse;
    pub mod readme;
    pub mod security;
    pub mod serve;
    pub mod stores;
    pub mod support;
    pub mod web;
}
