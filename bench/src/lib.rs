//! `tally bench …`: benchmarks that drive real Tally processes against the configured
//! services and print what they measured. Each bench starts the processes it measures as
//! children of its own, so their CPU time can be read from `/proc`.
//!
//! The `tally` binary parses [`BenchCommand`] as part of its command line and calls [`run`]
//! with a [`Setup`]: its own executable, the config file and the loaded service configs. The
//! bench reads no config and no environment of its own.
//!
//! - [`cli`]: the subcommands and flags of `tally bench …`; [`setup`]: what a bench takes
//!   from the binary;
//! - [`ingest`]: `tally bench ingest`, the orchestration: bench tenants, the ingest node, runs,
//!   phases and the summary;
//! - [`e2e`]: `tally bench e2e`: a steady load through an ingest node and an aggregator, and
//!   the ingest-to-queryable latency of canary events;
//! - [`query`]: `tally bench query`: GraphQL `lastHour` and `usage` latency over many
//!   tenants' loaded events, next to an auth-only baseline;
//! - [`invoice`]: `tally bench invoice`: an invoice run over many customers, and a rerun;
//! - [`alerting`]: `tally bench alerting`: full evaluation passes over many threshold rules,
//!   next to a sample evaluated one query per rule;
//! - [`slo`]: `tally bench slo`: many SLOs measured at once, every burn-rate window and window
//!   so far, and an alert pass over their rules, next to a sample measured one at a time;
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

mod alerting;
mod body;
mod cli;
mod cpu;
mod e2e;
mod failures;
mod format;
mod histogram;
mod http;
mod ingest;
mod invoice;
mod load;
mod node;
mod query;
mod report;
mod setup;
mod slo;
mod tenants;

use anyhow::{Context, bail};
use tally_meter::catalog::Catalog;

pub use crate::cli::{
    BenchAlertingArgs, BenchCommand, BenchE2eArgs, BenchIngestArgs, BenchInvoiceArgs,
    BenchQueryArgs, BenchSloArgs,
};
pub use crate::setup::Setup;

/// Runs one bench; the `tally` processes it starts read `setup.config_path`.
pub async fn run(setup: &Setup, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest::run(setup, &args).await,
        BenchCommand::E2e(args) => e2e::run(setup, &args).await,
        BenchCommand::Query(args) => query::run(setup, &args).await,
        BenchCommand::Invoice(args) => invoice::run(setup, &args).await,
        BenchCommand::Alerting(args) => alerting::run(setup, &args).await,
        BenchCommand::Slo(args) => slo::run(setup, &args).await,
    }
}

/// Migrates the configured services with `tally migrate`, as the bench's nodes will see
/// them, and connects to the catalog: what every bench does first.
async fn migrate_and_connect(setup: &Setup) -> anyhow::Result<Catalog> {
    progress("migrating the configured services");
    node::migrate(setup).await?;
    Catalog::connect(&setup.postgres).await.with_context(|| {
        format!(
            "cannot reach postgres at {}",
            setup.postgres.display_target()
        )
    })
}

/// What a bench measured over `--duration` does first: refuses a duration of 0, then migrates
/// and connects as [`migrate_and_connect`] does.
async fn migrate_for_timed_bench(
    setup: &Setup,
    duration: std::time::Duration,
) -> anyhow::Result<Catalog> {
    if duration.is_zero() {
        bail!("--duration must be longer than 0 s");
    }
    migrate_and_connect(setup).await
}

/// Fails, after a bench printed its figures, with the `problems` they show: they do not
/// describe a healthy `subject` (`pipeline`, `API`).
fn fail_unless_healthy(problems: &[String], subject: &str) -> anyhow::Result<()> {
    if !problems.is_empty() {
        bail!(
            "{}: these figures do not describe a healthy {subject}",
            problems.join("; ")
        );
    }
    Ok(())
}

/// The head of an insert of whole rows into ClickHouse's `rollup_writes`, every column as
/// the aggregator writes them; the benches that write rollups themselves follow it with the
/// `SELECT` that makes their rows.
const INSERT_ROLLUP_WRITES: &str = "INSERT INTO rollup_writes (tenant_id, meter_id, minute, \
     subject, group_values, kafka_partition, block, version, events, value_sum, value_min, \
     value_max, latest_time_ms, latest_position, latest_value, resolution)";

/// Prints a bench's table of figures, then each of its `problems` on a line of its own; fails
/// with them all if there are any.
fn print_figures(table: &str, problems: &[String]) -> anyhow::Result<()> {
    println!("{table}");
    if !problems.is_empty() {
        for problem in problems {
            println!("!! {problem}");
        }
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// Eight random hex digits, to make names and ids unique to one bench.
fn short_random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// Reports progress on standard error, which keeps standard output for the figures.
fn progress(message: &str) {
    eprintln!("bench: {message}");
}
