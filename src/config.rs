//! Tally's configuration, loaded once at start and validated before anything runs.
//!
//! Layers, later ones winning: built-in defaults → a TOML file (`--config PATH`, or
//! `tally.toml` in the working directory if present) → environment variables
//! `TALLY__SECTION__KEY`. The keys, with their defaults:
//!
//! | key | env var | default |
//! |---|---|---|
//! | `log.format` | `TALLY__LOG__FORMAT` | `pretty` (or `json`) |
//! | `log.filter` | `TALLY__LOG__FILTER` | `info,sqlx=warn` |
//! | `http.listen` | `TALLY__HTTP__LISTEN` | `127.0.0.1:8080` |
//! | `postgres.url` | `TALLY__POSTGRES__URL` | `postgres://postgres@127.0.0.1:5432/tally` |
//! | `postgres.max_connections` | `TALLY__POSTGRES__MAX_CONNECTIONS` | `16` |
//! | `postgres.connect_timeout_secs` | `TALLY__POSTGRES__CONNECT_TIMEOUT_SECS` | `5` |
//! | `clickhouse.url` | `TALLY__CLICKHOUSE__URL` | `http://127.0.0.1:8123` |
//! | `clickhouse.database` | `TALLY__CLICKHOUSE__DATABASE` | `tally` |
//! | `clickhouse.user` | `TALLY__CLICKHOUSE__USER` | `default` |
//! | `clickhouse.password` | `TALLY__CLICKHOUSE__PASSWORD` | empty |
//! | `kafka.brokers` | `TALLY__KAFKA__BROKERS` | `127.0.0.1:9092` |
//! | `kafka.topic_prefix` | `TALLY__KAFKA__TOPIC_PREFIX` | `tally.` |
//! | `kafka.partitions` | `TALLY__KAFKA__PARTITIONS` | `12` |
//! | `kafka.replication_factor` | `TALLY__KAFKA__REPLICATION_FACTOR` | `1` |
//! | `kafka.options` | TOML only | none (extra librdkafka properties) |
//! | `ingest.*` | `TALLY__INGEST__*` | see [`IngestConfig`] and the README |
//! | `meter.*` | `TALLY__METER__*` | see [`AggregatorConfig`] and the README |
//! | `api.*` | `TALLY__API__*` | see [`ApiConfig`] and the README |
//! | `web.*` | `TALLY__WEB__*` | see [`WebConfig`] and the README |
//! | `caps.*` | `TALLY__CAPS__*` | see [`Caps`] and the README |
//! | `billing.*` | `TALLY__BILLING__*` | see [`BillingConfig`] and the README |
//! | `alerting.*` | `TALLY__ALERTING__*` | see [`AlertingConfig`] and the README |

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use tally_alerting::config::AlertingConfig;
use tally_api::ApiConfig;
use tally_billing::config::BillingConfig;
use tally_ingest::IngestConfig;
use tally_meter::aggregator::AggregatorConfig;
use tally_meter::analytics::ClickHouseConfig;
use tally_meter::bus::KafkaConfig;
use tally_meter::caps::Caps;
use tally_meter::catalog::PostgresConfig;
use tally_web::WebConfig;

/// The file read when no `--config` is given, if it exists.
const DEFAULT_CONFIG_FILE: &str = "tally.toml";
/// Prefix of the environment variables that override config keys.
const ENV_PREFIX: &str = "TALLY__";

/// Everything Tally can be configured with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Logging.
    pub log: LogConfig,
    /// The HTTP server of `tally serve`.
    pub http: HttpConfig,
    /// The catalog (control plane).
    pub postgres: PostgresConfig,
    /// The analytics store.
    pub clickhouse: ClickHouseConfig,
    /// The event bus.
    pub kafka: KafkaConfig,
    /// The ingest role.
    pub ingest: IngestConfig,
    /// The meter role (the aggregator).
    pub meter: AggregatorConfig,
    /// The api role.
    pub api: ApiConfig,
    /// The web UI, served by the api role.
    pub web: WebConfig,
    /// Per-tenant caps on definitions.
    pub caps: Caps,
    /// The billing role.
    pub billing: BillingConfig,
    /// The alerting role.
    pub alerting: AlertingConfig,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured on a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Line format.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,tally_meter=debug`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info,sqlx=warn".to_owned(),
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port `tally serve` listens on; port 0 picks a free one, which the log
    /// line `tally is serving` names.
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

/// A config that cannot be used; the message names the key and the expected form.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` does not exist.
    #[error("config file {0} does not exist")]
    MissingFile(String),
    /// A key has the wrong type or form, or is unknown.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads and validates the config from its layers.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let toml = match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::MissingFile(path.display().to_string()));
            }
            Some(path) => Toml::file(path),
            None => Toml::file(DEFAULT_CONFIG_FILE),
        };
        let config: Config = Figment::new()
            .merge(toml)
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .map_err(|error| ConfigError::Invalid(describe(error)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |error: tally_meter::Error| ConfigError::Invalid(error.to_string());
        self.postgres.connect_options().map_err(invalid)?;
        self.clickhouse.validate().map_err(invalid)?;
        self.meter.validate().map_err(invalid)?;
        if self.web.session_hours == 0 {
            return Err(ConfigError::Invalid(
                "web.session_hours must be at least 1".to_owned(),
            ));
        }
        if self.api.rate_per_key_per_sec == 0 || self.api.burst_per_key == 0 {
            return Err(ConfigError::Invalid(
                "api.rate_per_key_per_sec and api.burst_per_key must be at least 1".to_owned(),
            ));
        }
        if self.kafka.brokers.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "kafka.brokers must list at least one host:port".to_owned(),
            ));
        }
        if self.kafka.partitions < 1 || self.kafka.replication_factor < 1 {
            return Err(ConfigError::Invalid(
                "kafka.partitions and kafka.replication_factor must be at least 1".to_owned(),
            ));
        }
        self.ingest.validate().map_err(ConfigError::Invalid)?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            return Err(ConfigError::Invalid(format!(
                "log.filter must be a tracing filter such as `info` or `info,tally_meter=debug`, got {:?}",
                self.log.filter
            )));
        }
        Ok(())
    }
}

/// Turns figment's error into one line naming the key, where it came from and what was wrong.
fn describe(error: figment::Error) -> String {
    let key = error.path.join(".");
    let source = error
        .metadata
        .as_ref()
        .map(|metadata| match &metadata.source {
            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
            _ if metadata.name.contains("environment") => format!(
                " (from {ENV_PREFIX}{})",
                error.path.join("__").to_uppercase()
            ),
            _ => String::new(),
        })
        .unwrap_or_default();
    if key.is_empty() {
        format!("{}{source}", error.kind)
    } else {
        format!("{key}: {}{source}", error.kind)
    }
}
