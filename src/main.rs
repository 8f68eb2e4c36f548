//! The `tally` binary, Tally's composition root: it parses the command line, loads the config,
//! starts logging and hands over to the library crates.

mod bench;
mod cli;
mod cmd;
mod config;
mod health;
mod logging;
mod serve;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// mimalloc instead of glibc's allocator: ingest allocates per event (decoding, records), and
/// `tally bench ingest` measured 20 % more events/s per ingest core with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status for a bad command line or config.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("tally: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    logging::init(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tally: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => match serve::build(&config, &args.roles).await {
                Ok(server) => server.run().await,
                Err(error) => Err(error),
            },
            Command::Migrate => cmd::migrate::run(&config).await,
            Command::Tenant(command) => cmd::tenant::run(&config, command).await,
            Command::Key(command) => cmd::key::run(&config, command).await,
            Command::Quota(command) => cmd::quota::run(&config, command).await,
            Command::EventType(command) => cmd::event_type::run(&config, command).await,
            Command::Meter(command) => cmd::meter::run(&config, command).await,
            Command::Usage(args) => cmd::usage::run(&config, args).await,
            Command::Customer(command) => cmd::billing::customer(&config, command).await,
            Command::Plan(command) => cmd::billing::plan(&config, command).await,
            Command::Subscription(command) => cmd::billing::subscription(&config, command).await,
            Command::Invoice(command) => cmd::invoice::run(&config, command).await,
            Command::Cost(command) => cmd::cost::run(&config, command).await,
            Command::Alert(command) => cmd::alert::run(&config, command).await,
            Command::Slo(command) => cmd::slo::run(&config, command).await,
            Command::Audit(command) => cmd::audit::run(&config, command).await,
            Command::Bench(command) => bench::run(&config, cli.config.as_deref(), command).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tally: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// Joins an error's chain of causes into one line, leaving out causes whose text the line
/// already holds (many libraries repeat their source in their own message).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
