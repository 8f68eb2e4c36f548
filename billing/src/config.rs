//! `[billing]`: how the billing role runs invoices, and `[billing.stripe]`: whether and where
//! it pushes finalized invoices to Stripe.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// `[billing]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    /// Hours after a period's end that its draft is recomputed for late usage before it is
    /// finalized.
    pub grace_hours: u32,
    /// Seconds between two invoice runs of the billing role.
    pub run_interval_secs: u64,
    /// The plan of the platform tenant that tenants without a customer there are subscribed
    /// to, by platform invoice runs (see [`crate::platform`]).
    pub platform_plan: String,
    /// The Stripe sync and webhook.
    pub stripe: StripeConfig,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            grace_hours: 24,
            run_interval_secs: 60,
            platform_plan: "platform".to_owned(),
            stripe: StripeConfig::default(),
        }
    }
}

/// `[billing.stripe]`: the sync is off without a secret key, the webhook refuses every event
/// without a webhook secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeConfig {
    /// The account's secret key (`sk_live_…` or `sk_test_…`).
    pub secret_key: Option<SecretString>,
    /// Where Stripe's API is: its own address but in tests.
    pub api_base: String,
    /// The signing secret of the webhook endpoint (`whsec_…`).
    pub webhook_secret: Option<SecretString>,
    /// Seconds between two passes of the sync over invoices waiting for it.
    pub sync_interval_secs: u64,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            secret_key: None,
            api_base: "https://api.stripe.com".to_owned(),
            webhook_secret: None,
            sync_interval_secs: 10,
        }
    }
}

impl StripeConfig {
    /// The time between passes of the sync, at least a second.
    pub fn sync_interval(&self) -> Duration {
        Duration::from_secs(self.sync_interval_secs.max(1))
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
