//! Fault tests: the real binary while a dependency dies under it — the broker behind ingest
//! (`broker`), the aggregator itself, killed at random moments or sharing partitions
//! (`aggregator`) or crashing at a chosen step of a pass (`crash_points`), and ClickHouse
//! behind the aggregator (`clickhouse`) — or resumes where it did not stop (`resume`), each
//! proving that no acknowledged event is lost or counted twice; `ownership` checks that after a
//! rebalance only a partition's owner commits its offset; `alerting` kills the alerting
//! process while an alert is pending and while its notification is in flight. `own_broker` and `own_clickhouse`
//! start the private servers these tests may stop (`own_process`). They load the machine, so nextest runs them
//! in the `heavy` group.

pub mod aggregator;
pub mod alerting;
pub mod broker;
pub mod clickhouse;
// The crash points they arm exist in debug builds only.
#[cfg(debug_assertions)]
pub mod crash_points;
pub mod own_broker;
pub mod own_clickhouse;
pub mod own_process;
pub mod ownership;
pub mod resume;
