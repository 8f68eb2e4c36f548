//! `tally bench …`: benchmarks that drive real Tally processes against the configured
//! services and print what they measured. Each bench starts the processes it measures as
//! children of its own, so their CPU time can be read from `/proc`.
//!
//! - [`ingest`]: `tally bench ingest`, the orchestration: bench tenants, the ingest node, runs,
//!   phases and the summary;
//! - [`node`]: the child `tally serve --roles ingest` and `tally migrate`;
//! - [`load`], [`body`]: the HTTP senders and the CloudEvents batches they send;
//! - [`cpu`]: CPU time of a process and of the machine, from `/proc`;
//! - [`report`]: the figures of a phase and the tables printed from them.

pub mod body;
pub mod cpu;
pub mod ingest;
pub mod load;
pub mod node;
pub mod report;

use std::path::Path;

use crate::cli::BenchCommand;
use crate::config::Config;

/// Runs one bench; `config_path` is handed on to the `tally` processes it starts.
pub async fn run(
    config: &Config,
    config_path: Option<&Path>,
    command: BenchCommand,
) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest::run(config, config_path, &args).await,
    }
}
