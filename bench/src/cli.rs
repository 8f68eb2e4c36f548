//! The command line of `tally bench …`: its subcommands and their flags, parsed by the
//! `tally` binary as part of its own command line.

use std::time::Duration;

use clap::{Args, Subcommand};

/// `tally bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Drive CloudEvents batches at an ingest node of its own and at the node's decode-only
    /// baseline, and print events/s, latency, ingest CPU per event and their ratio.
    Ingest(BenchIngestArgs),
    /// Drive a steady event rate through an ingest node and an aggregator of its own, and
    /// print how long events take from ingest to usage queries, and the aggregator's CPU.
    E2e(BenchE2eArgs),
    /// Load events for many tenants through an ingest node and an aggregator of its own, then
    /// run `lastHour` and `usage` GraphQL queries concurrently against an API node of its own,
    /// and print their latency percentiles and queries/s next to an auth-only baseline.
    Query(BenchQueryArgs),
    /// Bill many customers of one tenant for a month of rollups (three usage charges each,
    /// graduated, volume and package), and print how long the invoice run takes, how long a
    /// rerun that changes nothing takes, and a hash of all invoices, equal on both.
    Invoice(BenchInvoiceArgs),
    /// Evaluate many threshold rules over rollups written straight into ClickHouse, and print
    /// how long a full evaluation pass takes (the first, when every series is new, and the
    /// steady ones after it) against the evaluation interval, next to a sample of rules
    /// evaluated one query per rule, as before batching.
    Alerting(BenchAlertingArgs),
    /// Measure many SLOs (every burn-rate window and window so far) over counts written
    /// straight into ClickHouse, and print how long measuring all of them at once takes, and
    /// an alert evaluation pass over their rules, against the evaluation interval, next to a
    /// sample of SLOs measured one at a time; and check every count read against those
    /// written.
    Slo(BenchSloArgs),
}

/// Arguments of `tally bench alerting`.
#[derive(Debug, Clone, Args)]
pub struct BenchAlertingArgs {
    /// Bench tenants to create, each with a MAX meter grouped by region.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub tenants: u32,
    /// Threshold rules per tenant (at most 1,000, a tenant's limit).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rules_per_tenant: u32,
    /// Subjects per tenant, each with a value of its own in every minute.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub subjects: u32,
    /// Steady passes after the first; the summary holds their median.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub passes: u32,
    /// Rules evaluated one query per rule, as before batching, for the baseline.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub baseline_rules: u32,
    /// Tenants of the delivery phase, each with a rule one of its subjects breaches and a
    /// webhook receiver; 0 leaves the phase out.
    #[arg(long, default_value_t = 100)]
    pub latency_tenants: u32,
    /// The `group_wait` of the delivery phase's routes (Alertmanager's default: 30 s).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub group_wait: Duration,
}

/// Arguments of `tally bench slo`.
#[derive(Debug, Clone, Args)]
pub struct BenchSloArgs {
    /// Bench tenants to create.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub tenants: u32,
    /// SLOs per tenant, each with its alert rule (at most 100, a tenant's limit).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub slos_per_tenant: u32,
    /// The evaluation interval the passes are held against: `15s`, `1m`, or plain seconds;
    /// `alerting.eval_interval_secs` unless given.
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Timed passes of each kind (and a first alert pass before them); the summary holds
    /// their medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub passes: u32,
    /// SLOs measured one at a time for the baseline, whose time is extrapolated to every SLO.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub baseline_slos: u32,
}

/// Arguments of `tally bench invoice`.
#[derive(Debug, Clone, Args)]
pub struct BenchInvoiceArgs {
    /// Customers to bill, each with one subject and one subscription.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub customers: u32,
}

/// Arguments of `tally bench ingest`.
#[derive(Debug, Clone, Args)]
pub struct BenchIngestArgs {
    /// Bench tenants to create; requests rotate over them.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub tenants: u32,
    /// Size of one serialized event, in bytes (its `data` is padded to reach it).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    pub event_bytes: u32,
    /// Events per request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Concurrent senders, each with its own keep-alive connection.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Measured time of each phase: `10s`, `1m30s`, or plain seconds.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured load before each phase's measured time.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Runs of both phases; the summary holds their medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
}

/// Arguments of `tally bench e2e`.
#[derive(Debug, Clone, Args)]
pub struct BenchE2eArgs {
    /// Target load, in events per second over all bench tenants, sent on a fixed schedule
    /// whatever the answers take (open loop).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// Measured time: `20s`, `1m30s`, or plain seconds.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured load before the measured time.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Bench tenants to create, each with a COUNT meter; requests rotate over them.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub tenants: u32,
    /// Events per request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Time between two canary events, whose ingest-to-queryable latency is measured, in
    /// milliseconds.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub canary_interval_ms: u64,
    /// Concurrent senders of the load, each with its own keep-alive connection; a slow answer
    /// delays the schedule only once all of them are busy.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
}

/// Arguments of `tally bench query`.
#[derive(Debug, Clone, Args)]
pub struct BenchQueryArgs {
    /// Bench tenants to create, each with a COUNT and a SUM meter, an ingest and a read key.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub tenants: u32,
    /// Events loaded per tenant before the queries, spread over the last day.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub events_per_tenant: u32,
    /// Concurrent query workers, each with its own keep-alive connection (also the number of
    /// senders loading the events).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Measured time of each phase (baseline, then queries): `10s`, `1m`, or plain seconds.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured queries before each phase's measured time.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
}

/// Reads a duration written as plain seconds (`10`, `0.5`) or in humantime form (`10s`, `1m`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.trim().parse::<f64>() {
        return Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("{text:?} is not a usable number of seconds"));
    }
    humantime::parse_duration(text.trim())
        .map_err(|error| format!("{text:?} is not a duration such as 10s or 1m30s: {error}"))
}
