//! Fault tests: the real binary while a dependency dies under it — the broker behind ingest
//! (`broker`), the aggregator itself, killed or sharing partitions (`aggregator`), ClickHouse
//! behind the aggregator (`clickhouse`) — or resumes where it did not stop (`resume`), each
//! proving that no acknowledged event is lost or counted twice. `own_broker` and
//! `own_clickhouse` start the private servers these tests may stop. They load the machine, so
//! nextest runs them in the `heavy` group.

pub mod aggregator;
pub mod broker;
pub mod clickhouse;
pub mod own_broker;
pub mod own_clickhouse;
pub mod resume;
