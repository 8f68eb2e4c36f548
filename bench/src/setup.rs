//! What a bench takes from the `tally` binary that runs it, as plain values: the bench reads
//! no config file and no environment of its own.

use std::path::PathBuf;

use tally_alerting::config::AlertingConfig;
use tally_meter::aggregator::AggregatorConfig;
use tally_meter::analytics::ClickHouseConfig;
use tally_meter::bus::KafkaConfig;
use tally_meter::catalog::PostgresConfig;
use tally_meter::quota::Limits;

/// The executable, config file and service configs a bench runs with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `tally` executable the bench starts `tally migrate` and its nodes from.
    pub executable: PathBuf,
    /// The config file handed on (`--config`) to every `tally` process the bench starts, if
    /// any; without it they read the same defaults, `tally.toml` and environment as the bench.
    pub config_path: Option<PathBuf>,
    /// The catalog, where the bench creates its tenants, keys and meters.
    pub postgres: PostgresConfig,
    /// The analytics store, which the bench's usage queries read.
    pub clickhouse: ClickHouseConfig,
    /// The event bus; its topic prefix names the consumer group of the bench's aggregator.
    pub kafka: KafkaConfig,
    /// The meter role: its consumer group and flush interval.
    pub meter: AggregatorConfig,
    /// The alerting role: its evaluation interval.
    pub alerting: AlertingConfig,
    /// The limits of tenants without their own, which quota rules compare with.
    pub default_limits: Limits,
}
