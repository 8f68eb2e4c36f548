//! Token buckets: a sustained rate with room for bursts, shared by ingest's per-tenant event
//! limits and the API's per-key request limits.

use std::time::{Duration, Instant};

/// A token bucket that refills at a rate up to its burst. A take of more than the burst is
/// allowed once the bucket is full, leaving it in debt, so that one large batch still passes
/// at the sustained rate.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// Returns a full bucket.
    pub fn full(burst: u64, now: Instant) -> Self {
        Self {
            tokens: burst as f64,
            refilled_at: now,
        }
    }

    /// Takes `wanted` tokens, or returns how long until enough would be there.
    pub fn take(
        &mut self,
        wanted: u64,
        rate_per_sec: u64,
        burst: u64,
        now: Instant,
    ) -> Result<(), Duration> {
        let rate = rate_per_sec.max(1) as f64;
        let burst = burst as f64;
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.refilled_at = now;
        let wanted = wanted as f64;
        let needed = wanted.min(burst);
        if self.tokens >= needed {
            self.tokens -= wanted;
            return Ok(());
        }
        Err(Duration::from_secs_f64((needed - self.tokens) / rate))
    }

    /// Whether the bucket has refilled to its burst by `now`: such a bucket is as good as a
    /// new one, so maps of buckets may forget it.
    pub fn is_full(&self, rate_per_sec: u64, burst: u64, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens + elapsed * rate_per_sec.max(1) as f64 >= burst as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_pass_then_the_rate_holds() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(10, start);
        assert!(bucket.take(10, 5, 10, start).is_ok());
        let wait = bucket.take(1, 5, 10, start).expect_err("empty");
        assert_eq!(wait, Duration::from_millis(200));
        assert!(
            bucket
                .take(1, 5, 10, start + Duration::from_millis(200))
                .is_ok()
        );
    }

    #[test]
    fn a_bucket_is_full_again_once_it_had_time_to_refill() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(10, start);
        assert!(bucket.is_full(5, 10, start));
        assert!(bucket.take(10, 5, 10, start).is_ok());
        assert!(!bucket.is_full(5, 10, start + Duration::from_millis(1999)));
        assert!(bucket.is_full(5, 10, start + Duration::from_secs(2)));
    }

    #[test]
    fn a_full_bucket_lends_to_a_batch_larger_than_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(10, start);
        assert!(bucket.take(25, 10, 10, start).is_ok());
        let wait = bucket.take(1, 10, 10, start).expect_err("in debt");
        assert_eq!(wait, Duration::from_millis(1600));
    }
}
