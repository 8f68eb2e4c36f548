//! Per-tenant ingest policy, enforced in each node without a catalog round trip per request:
//! limits, registered event types and hot tenants are reloaded from PostgreSQL every
//! `refresh_secs`, so a change there takes effect within that time without a restart.
//!
//! Rate: a token bucket per tenant in this node (events cost one token each; a request may
//! take the bucket into debt once it is full enough, so batches larger than the burst still
//! pass at the sustained rate). Monthly quota: each node adds the events it accepted to
//! `quota_usage` on every refresh and reads back the sum over all nodes, so a hard quota is
//! exact to within one refresh interval of every node's traffic.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use parking_lot::{Mutex, RwLock};
use tally_meter::catalog::{Catalog, event_types, quotas, tenants};
use tally_meter::ids::TenantId;
use tally_meter::quota::{self, Limits, QuotaMode};
use tally_meter::throttle::TokenBucket;

use crate::error::IngestError;

/// What the catalog said at the last refresh.
#[derive(Debug, Default)]
struct Snapshot {
    limits: HashMap<TenantId, Limits>,
    event_types: HashMap<TenantId, Arc<HashSet<String>>>,
    hot: HashSet<TenantId>,
    period: Option<NaiveDate>,
    /// Consumption in `period` over all nodes, including this node's flushed counts.
    usage: HashMap<TenantId, u64>,
}

/// This node's accepted events not yet added to `quota_usage`.
#[derive(Debug, Default)]
struct PendingUsage {
    period: Option<NaiveDate>,
    /// Counted since the last flush began.
    pending: HashMap<TenantId, u64>,
    /// Taken by a flush but not yet written (kept across failed writes).
    flushing: HashMap<TenantId, u64>,
    /// Written, but not yet in the snapshot's usage; still counted until the reload.
    flushed: HashMap<TenantId, u64>,
}

/// The policy a request runs under.
#[derive(Debug, Clone)]
pub struct TenantPolicy {
    /// Registered types, when the tenant registered any.
    pub event_types: Option<Arc<HashSet<String>>>,
    /// Whether events are keyed by tenant and subject.
    pub hot: bool,
}

/// Every tenant's policy in this node.
pub struct Policy {
    catalog: Catalog,
    defaults: Limits,
    snapshot: RwLock<Arc<Snapshot>>,
    buckets: Mutex<HashMap<TenantId, TokenBucket>>,
    usage: Mutex<PendingUsage>,
}

impl Policy {
    /// Creates the policy and loads it once; fails when the catalog cannot be read.
    pub async fn load(catalog: Catalog, defaults: Limits) -> tally_meter::Result<Self> {
        let policy = Self {
            catalog,
            defaults,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            buckets: Mutex::new(HashMap::new()),
            usage: Mutex::new(PendingUsage::default()),
        };
        policy.refresh(Utc::now()).await?;
        Ok(policy)
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read())
    }

    /// Adds this node's counts to the catalog, then reloads everything.
    pub async fn refresh(&self, now: DateTime<Utc>) -> tally_meter::Result<()> {
        let flushing = {
            let mut usage = self.usage.lock();
            let pending = std::mem::take(&mut usage.pending);
            for (tenant, count) in &pending {
                *usage.flushing.entry(*tenant).or_default() += count;
            }
            usage.period.map(|period| (period, usage.flushing.clone()))
        };
        if let Some((period, counts)) = flushing {
            quotas::add_usage(&self.catalog, period, &counts).await?;
            let mut usage = self.usage.lock();
            for (tenant, count) in std::mem::take(&mut usage.flushing) {
                *usage.flushed.entry(tenant).or_default() += count;
            }
        }
        let period = quota::period_of(now);
        let snapshot = Snapshot {
            limits: quotas::all(&self.catalog).await?,
            event_types: event_types::all(&self.catalog)
                .await?
                .into_iter()
                .map(|(tenant, types)| (tenant, Arc::new(types)))
                .collect(),
            hot: tenants::hot_tenants(&self.catalog)
                .await?
                .into_iter()
                .collect(),
            period: Some(period),
            usage: quotas::usage(&self.catalog, period).await?,
        };
        *self.snapshot.write() = Arc::new(snapshot);
        self.usage.lock().flushed.clear();
        Ok(())
    }

    /// Takes `events` tokens from the tenant's bucket, or says when to retry.
    pub fn admit(&self, tenant: TenantId, events: usize, now: Instant) -> Result<(), IngestError> {
        let limits = self.limits_in(&self.snapshot(), tenant);
        let mut buckets = self.buckets.lock();
        let bucket = buckets
            .entry(tenant)
            .or_insert_with(|| TokenBucket::full(limits.burst, now));
        bucket
            .take(events as u64, limits.rate_per_sec, limits.burst, now)
            .map_err(|retry_after| IngestError::RateLimited {
                rate_per_sec: limits.rate_per_sec,
                burst: limits.burst,
                retry_after,
            })
    }

    /// Drops the buckets of tenants idle long enough for them to have refilled: a missing bucket
    /// starts full, so nothing changes for those tenants, and the map holds only tenants that
    /// sent events within about `burst / rate` seconds.
    pub fn prune_buckets(&self, now: Instant) {
        let snapshot = self.snapshot();
        retain_refilling(
            &mut self.buckets.lock(),
            |tenant| self.limits_in(&snapshot, tenant),
            now,
        );
    }

    /// Returns the tenant's registered types and whether it is hot.
    pub fn tenant(&self, tenant: TenantId) -> TenantPolicy {
        let snapshot = self.snapshot();
        TenantPolicy {
            event_types: snapshot.event_types.get(&tenant).cloned(),
            hot: snapshot.hot.contains(&tenant),
        }
    }

    /// Checks the monthly quota for `events` more events: a hard quota refuses them, a soft
    /// one returns the warning to give.
    pub fn check_quota(
        &self,
        tenant: TenantId,
        events: usize,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, IngestError> {
        let snapshot = self.snapshot();
        let limits = self.limits_in(&snapshot, tenant);
        let Some(quota) = limits.monthly_events else {
            return Ok(None);
        };
        let used = self.used(&snapshot, tenant, now);
        if used.saturating_add(events as u64) <= quota {
            return Ok(None);
        }
        match limits.monthly_mode {
            QuotaMode::Hard => Err(IngestError::QuotaExhausted {
                quota,
                retry_after: until_next_month(now),
            }),
            QuotaMode::Soft => Ok(Some(format!(
                "soft monthly quota of {quota} events exceeded ({used} used before this request)"
            ))),
        }
    }

    /// Counts events this node accepted towards the tenant's monthly consumption.
    pub fn record_accepted(&self, tenant: TenantId, events: usize, now: DateTime<Utc>) {
        let period = quota::period_of(now);
        let mut usage = self.usage.lock();
        if usage.period != Some(period) {
            // A new month: the old month's unwritten counts no longer limit anyone.
            usage.pending.clear();
            usage.flushing.clear();
            usage.period = Some(period);
        }
        *usage.pending.entry(tenant).or_default() += events as u64;
    }

    fn used(&self, snapshot: &Snapshot, tenant: TenantId, now: DateTime<Utc>) -> u64 {
        let period = quota::period_of(now);
        let usage = self.usage.lock();
        let mut used = 0;
        if snapshot.period == Some(period) {
            used += snapshot.usage.get(&tenant).copied().unwrap_or(0);
        }
        if usage.period == Some(period) {
            used += usage.pending.get(&tenant).copied().unwrap_or(0);
            used += usage.flushing.get(&tenant).copied().unwrap_or(0);
            used += usage.flushed.get(&tenant).copied().unwrap_or(0);
        }
        used
    }

    fn limits_in(&self, snapshot: &Snapshot, tenant: TenantId) -> Limits {
        snapshot
            .limits
            .get(&tenant)
            .copied()
            .unwrap_or(self.defaults)
    }
}

/// Keeps only the buckets that would not be full again by `now`.
fn retain_refilling(
    buckets: &mut HashMap<TenantId, TokenBucket>,
    limits: impl Fn(TenantId) -> Limits,
    now: Instant,
) {
    buckets.retain(|tenant, bucket| {
        let limits = limits(*tenant);
        !bucket.is_full(limits.rate_per_sec, limits.burst, now)
    });
}

/// Returns the time left until the next calendar month (UTC) starts.
fn until_next_month(now: DateTime<Utc>) -> Duration {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .and_then(|start| (start - now).to_std().ok())
        .unwrap_or(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_of_tenants_idle_long_enough_to_refill_are_dropped() {
        let limits = Limits {
            rate_per_sec: 10,
            burst: 100,
            monthly_events: None,
            monthly_mode: QuotaMode::Hard,
        };
        let start = Instant::now();
        let (busy, idle) = (TenantId::generate(), TenantId::generate());
        let mut buckets = HashMap::new();
        for tenant in [busy, idle] {
            let mut bucket = TokenBucket::full(limits.burst, start);
            bucket
                .take(100, limits.rate_per_sec, limits.burst, start)
                .expect("a full bucket has 100 tokens");
            buckets.insert(tenant, bucket);
        }
        let later = start + Duration::from_secs(10);
        let busy_bucket = buckets.get_mut(&busy).expect("inserted");
        busy_bucket
            .take(50, limits.rate_per_sec, limits.burst, later)
            .expect("refilled");
        retain_refilling(&mut buckets, |_| limits, later);
        assert_eq!(buckets.keys().collect::<Vec<_>>(), [&busy]);
    }

    #[test]
    fn the_next_month_starts_on_the_first_at_midnight() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 59, 0)
            .single()
            .expect("valid");
        assert_eq!(until_next_month(now), Duration::from_secs(60));
    }
}
