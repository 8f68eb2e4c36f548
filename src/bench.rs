//! `tally bench …`: hands the command to [`tally_bench`] with what a bench needs of this
//! process: its executable, the config file and the loaded service configs.

use std::path::Path;

use anyhow::Context;
use tally_bench::{BenchCommand, Setup};

use crate::config::Config;

/// Runs one bench; `config_path` is handed on to the `tally` processes it starts.
pub async fn run(
    config: &Config,
    config_path: Option<&Path>,
    command: BenchCommand,
) -> anyhow::Result<()> {
    let setup = Setup {
        executable: std::env::current_exe().context("cannot find the tally executable")?,
        config_path: config_path.map(Path::to_path_buf),
        postgres: config.postgres.clone(),
        clickhouse: config.clickhouse.clone(),
        kafka: config.kafka.clone(),
        meter: config.meter.clone(),
        alerting: config.alerting.clone(),
        default_limits: config.ingest.default_limits(),
    };
    tally_bench::run(&setup, command).await
}
