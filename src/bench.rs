//! `tally bench …`: benchmarks that drive real Tally processes against the configured
//! services and print what they measured. Each bench starts the processes it measures as
//! children of its own, so their CPU time can be read from `/proc`.
//!
//! - [`ingest`]: `tally bench ingest`, the orchestration: bench tenants, the ingest node, runs,
//!   phases and the summary;
//! - [`e2e`]: `tally bench e2e`: a steady load through an ingest node and an aggregator, and
//!   the ingest-to-queryable latency of canary events;
//! - [`query`]: `tally bench query`: GraphQL `lastHour` and `usage` latency over many
//!   tenants' loaded events, next to an auth-only baseline;
//! - [`node`]: the child `tally serve --roles ingest`, `tally serve --roles meter`,
//!   `tally serve --roles api` and `tally migrate`;
//! - [`tenants`]: the bench tenants, their ingest keys and limits;
//! - [`load`]: the HTTP senders of `tally bench ingest`;
//! - [`body`]: the CloudEvents batches the benches send;
//! - [`http`]: the client connections every bench sends on, and how a batch's answer is read;
//! - [`cpu`]: CPU time of a process and of the machine, from `/proc`;
//! - [`histogram`], [`failures`]: what senders count: durations, and failed requests by kind;
//! - [`report`], [`mod@format`]: the figures of a `tally bench ingest` phase, the tables printed
//!   from them, and how every bench writes its figures.

pub mod body;
pub mod cpu;
pub mod e2e;
pub mod failures;
pub mod format;
pub mod histogram;
pub mod http;
pub mod ingest;
pub mod load;
pub mod node;
pub mod query;
pub mod report;
pub mod tenants;

use std::path::Path;

use tally_meter::catalog::Pool;

use crate::cli::BenchCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one bench; `config_path` is handed on to the `tally` processes it starts.
pub async fn run(
    config: &Config,
    config_path: Option<&Path>,
    command: BenchCommand,
) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest::run(config, config_path, &args).await,
        BenchCommand::E2e(args) => e2e::run(config, config_path, &args).await,
        BenchCommand::Query(args) => query::run(config, config_path, &args).await,
    }
}

/// Migrates the configured services with `tally migrate`, as the bench's nodes will see
/// them, and connects to the catalog: what every bench does first.
pub async fn migrate_and_connect(
    config: &Config,
    config_path: Option<&Path>,
) -> anyhow::Result<Pool> {
    progress("migrating the configured services");
    node::migrate(config_path).await?;
    connect_catalog(config).await
}

/// Eight random hex digits, to make names and ids unique to one bench.
pub fn short_random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// Reports progress on standard error, which keeps standard output for the figures.
pub fn progress(message: &str) {
    eprintln!("bench: {message}");
}
