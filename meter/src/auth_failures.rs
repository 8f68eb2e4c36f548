//! Failed authentications: each client address may fail only so often (a token bucket per
//! address, so guessing keys or flooding the key lookup is throttled before any catalog query),
//! and failures are counted per address, tenant and reason, then written to the audit log as
//! one entry per group and interval instead of one per request.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use secrecy::SecretString;
use serde_json::json;

use crate::Result;
use crate::audit::Action;
use crate::catalog::{self, Catalog};
use crate::ids::TenantId;
use crate::throttle::TokenBucket;
use crate::ticks::Ticks;

/// Most addresses tracked at once; failures of further addresses share one bucket and one
/// count, so a flood from many addresses cannot grow memory.
const MAX_TRACKED: usize = 10_000;
/// The stand-in address of the shared bucket.
const OVERFLOW: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// How often one client address may fail to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimits {
    /// Failures an address may have at once.
    pub burst: u64,
    /// Failures per second an address regains.
    pub per_sec: u64,
}

#[derive(Debug)]
struct Count {
    failures: u64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    buckets: HashMap<IpAddr, TokenBucket>,
    counts: HashMap<(IpAddr, Option<TenantId>, &'static str), Count>,
}

/// Throttles and counts failed authentications.
pub struct AuthFailures {
    limits: FailureLimits,
    state: Mutex<State>,
}

impl AuthFailures {
    /// Creates an empty tracker.
    pub fn new(limits: FailureLimits) -> Self {
        Self {
            limits,
            state: Mutex::default(),
        }
    }

    /// Checks, before any key lookup, that an address has failures left; `Err` is how long it
    /// must wait.
    pub fn admit(&self, client: IpAddr, now: Instant) -> std::result::Result<(), Duration> {
        let mut state = self.state.lock();
        let client = tracked(&state, client);
        let limits = self.limits;
        match state.buckets.get_mut(&client) {
            // Peek: take nothing, only learn whether one failure would still be allowed.
            Some(bucket) => {
                let mut probe = *bucket;
                probe.take(1, limits.per_sec, limits.burst, now)
            }
            None => Ok(()),
        }
    }

    /// Records a failure of an address, for a tenant when the key was one of its (revoked, or
    /// of a suspended tenant), with a short reason such as `unknown key`.
    pub fn record(
        &self,
        client: IpAddr,
        tenant: Option<TenantId>,
        reason: &'static str,
        now: Instant,
    ) {
        let mut state = self.state.lock();
        let client = tracked(&state, client);
        let limits = self.limits;
        // The failure counts even when the bucket is already empty.
        let _ = state
            .buckets
            .entry(client)
            .or_insert_with(|| TokenBucket::full(limits.burst, now))
            .take(1, limits.per_sec, limits.burst, now);
        let at = Utc::now();
        let tracked_count = state.counts.len();
        let key = if tracked_count >= MAX_TRACKED {
            (OVERFLOW, None, "other")
        } else {
            (client, tenant, reason)
        };
        state
            .counts
            .entry(key)
            .and_modify(|count| {
                count.failures += 1;
                count.last_at = at;
            })
            .or_insert(Count {
                failures: 1,
                first_at: at,
                last_at: at,
            });
    }

    /// Records a failure of an address with the key it presented, if any: a well-formed key
    /// that no longer authenticates (revoked, or of a suspended tenant) counts for its tenant,
    /// so that the tenant's admins see it.
    pub async fn record_key(
        &self,
        catalog: &Catalog,
        client: IpAddr,
        presented: Option<&SecretString>,
        reason: &'static str,
    ) {
        let tenant = match presented {
            Some(presented) => catalog::api_keys::owner_of_inactive(catalog, presented)
                .await
                .unwrap_or(None),
            None => None,
        };
        self.record(client, tenant, reason, Instant::now());
    }

    /// Forgets the buckets of addresses that have not failed for long enough to be full again.
    pub fn prune(&self, now: Instant) {
        let limits = self.limits;
        self.state
            .lock()
            .buckets
            .retain(|_, bucket| !bucket.is_full(limits.per_sec, limits.burst, now));
    }

    /// Writes the counted failures to the audit log, one entry per address, tenant and reason,
    /// and starts counting afresh.
    pub async fn flush(&self, catalog: &Catalog) -> Result<()> {
        let counts = std::mem::take(&mut self.state.lock().counts);
        for ((client, tenant, reason), count) in counts {
            let details = json!({
                "failures": count.failures,
                "reason": reason,
                "first_at": count.first_at,
                "last_at": count.last_at,
            });
            let client = (client != OVERFLOW).then(|| client.to_string());
            catalog::audit::note(
                catalog,
                tenant,
                "anonymous",
                Action::AuthenticationFailed,
                Some(details),
                client.as_deref(),
            )
            .await?;
        }
        Ok(())
    }

    /// Flushes and prunes every `interval` until `stop` is cancelled, then flushes once more.
    pub async fn run(
        self: std::sync::Arc<Self>,
        catalog: Catalog,
        interval: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut ticks = Ticks::new(interval, &stop);
        while ticks.next().await {
            self.prune(Instant::now());
            if let Err(error) = self.flush(&catalog).await {
                tracing::warn!(%error, "cannot record failed authentications in the audit log");
            }
        }
        if let Err(error) = self.flush(&catalog).await {
            tracing::warn!(%error, "cannot record failed authentications in the audit log");
        }
    }
}

/// The address to account a failure to: its own while there is room, else the shared one.
fn tracked(state: &State, client: IpAddr) -> IpAddr {
    if state.buckets.contains_key(&client) || state.buckets.len() < MAX_TRACKED {
        client
    } else {
        OVERFLOW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: FailureLimits = FailureLimits {
        burst: 3,
        per_sec: 1,
    };

    #[test]
    fn an_address_past_its_failures_waits_and_others_do_not() {
        let failures = AuthFailures::new(LIMITS);
        let start = Instant::now();
        let noisy: IpAddr = "10.0.0.1".parse().expect("an address");
        let quiet: IpAddr = "10.0.0.2".parse().expect("an address");
        for _ in 0..3 {
            assert!(failures.admit(noisy, start).is_ok());
            failures.record(noisy, None, "unknown key", start);
        }
        assert!(failures.admit(noisy, start).is_err());
        assert!(failures.admit(quiet, start).is_ok());
        assert!(
            failures
                .admit(noisy, start + Duration::from_secs(1))
                .is_ok()
        );
    }

    #[test]
    fn failures_are_counted_per_address_tenant_and_reason() {
        let failures = AuthFailures::new(LIMITS);
        let now = Instant::now();
        let client: IpAddr = "10.0.0.1".parse().expect("an address");
        for _ in 0..5 {
            failures.record(client, None, "unknown key", now);
        }
        failures.record(client, None, "malformed key", now);
        let state = failures.state.lock();
        assert_eq!(state.counts.len(), 2);
        assert_eq!(state.counts[&(client, None, "unknown key")].failures, 5);
    }

    #[test]
    fn idle_addresses_are_pruned() {
        let failures = AuthFailures::new(LIMITS);
        let start = Instant::now();
        let client: IpAddr = "10.0.0.1".parse().expect("an address");
        failures.record(client, None, "unknown key", start);
        failures.prune(start);
        assert_eq!(failures.state.lock().buckets.len(), 1);
        failures.prune(start + Duration::from_secs(60));
        assert!(failures.state.lock().buckets.is_empty());
    }
}
