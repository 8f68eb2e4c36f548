//! `[billing]`: how the billing role runs invoices.

use std::time::Duration;

use serde::Deserialize;

/// `[billing]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    /// Hours after a period's end that its draft is recomputed for late usage before it is
    /// finalized.
    pub grace_hours: u32,
    /// Seconds between two invoice runs of the billing role.
    pub run_interval_secs: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            grace_hours: 24,
            run_interval_secs: 60,
        }
    }
}

impl BillingConfig {
    /// The grace period.
    pub fn grace(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.grace_hours))
    }

    /// The time between runs, at least a second.
    pub fn run_interval(&self) -> Duration {
        Duration::from_secs(self.run_interval_secs.max(1))
    }
}
