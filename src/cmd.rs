//! The one-shot administrative commands: `migrate`, `tenant …`, `key …`, `quota …`,
//! `event-type …`, `meter …`, `usage`, `audit …`, billing's `customer …`, `plan …`,
//! `subscription …`, `invoice …` and `cost …`, and alerting's `alert …`.

pub mod alert;
pub mod audit;
pub mod billing;
pub mod cost;
pub mod event_type;
pub mod invoice;
pub mod key;
pub mod meter;
pub mod migrate;
pub mod quota;
pub mod slo;
pub mod tenant;
pub mod usage;

use anyhow::Context;
use tally_meter::catalog::Catalog;

use crate::config::Config;

/// Connects to the catalog, saying where it tried when it cannot.
pub async fn connect_catalog(config: &Config) -> anyhow::Result<Catalog> {
    Catalog::connect(&config.postgres).await.with_context(|| {
        format!(
            "cannot reach postgres at {}",
            config.postgres.display_target()
        )
    })
}
