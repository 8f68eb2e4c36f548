//! `[alerting]`: how often the alerting role evaluates rules.

use std::time::Duration;

use serde::Deserialize;

/// `[alerting]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Seconds between two evaluations of every rule.
    pub eval_interval_secs: u64,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            eval_interval_secs: 15,
        }
    }
}

impl AlertingConfig {
    /// The time between evaluations, at least a second.
    pub fn eval_interval(&self) -> Duration {
        Duration::from_secs(self.eval_interval_secs.max(1))
    }
}
