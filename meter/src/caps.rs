//! Per-tenant caps on definitions: how many meters, group-bys per meter, registered event types
//! and active API keys one tenant may have, so that no tenant can multiply the work of the
//! shared aggregator and ingest nodes. Each check runs in the transaction of the insert it
//! guards, after locking the tenant's row ([`crate::catalog`]), so concurrent creations cannot
//! overshoot a cap.

use serde::Deserialize;

use crate::{Error, Result};

/// The caps (`[caps]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Caps {
    /// Most meters of one tenant.
    pub meters_per_tenant: u32,
    /// Most groups (`--group-by`) of one meter.
    pub group_by_per_meter: u32,
    /// Most registered event types of one tenant.
    pub event_types_per_tenant: u32,
    /// Most active (unrevoked) API keys of one tenant.
    pub keys_per_tenant: u32,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            meters_per_tenant: 1000,
            group_by_per_meter: 10,
            event_types_per_tenant: 1000,
            keys_per_tenant: 100,
        }
    }
}

/// Refuses one more of `what` when a tenant already has `count` of them and the cap is `cap`;
/// `key` names the setting that raises it.
pub(crate) fn check(count: i64, cap: u32, what: &str, key: &str) -> Result<()> {
    if count < i64::from(cap) {
        return Ok(());
    }
    Err(Error::LimitReached(format!(
        "this tenant has {count} {what}, the most it may have (caps.{key} = {cap}); \
         remove some first, or ask the operator to raise the cap"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_itself_is_refused_and_below_it_is_not() {
        assert!(check(999, 1000, "meters", "meters_per_tenant").is_ok());
        let refused = check(1000, 1000, "meters", "meters_per_tenant").expect_err("at the cap");
        assert!(matches!(refused, Error::LimitReached(_)));
        assert!(
            refused
                .to_string()
                .contains("caps.meters_per_tenant = 1000")
        );
    }
}
