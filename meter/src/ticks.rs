//! The clock of Tally's periodic background tasks: a tick every interval until shutdown.

use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Ticks every `period`, the first at once, until `shutdown` is cancelled. A pass that
/// overruns delays the next tick instead of bringing on a burst of them.
pub struct Ticks {
    interval: Interval,
    shutdown: CancellationToken,
}

impl Ticks {
    /// Starts the clock.
    pub fn new(period: Duration, shutdown: &CancellationToken) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticks {
            interval,
            shutdown: shutdown.clone(),
        }
    }

    /// Waits for the next tick: `true` at the tick, `false` once shutdown is cancelled.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            _ = self.interval.tick() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ticks_until_shutdown() {
        let shutdown = CancellationToken::new();
        let period = Duration::from_millis(50);
        let mut ticks = Ticks::new(period, &shutdown);
        let start = tokio::time::Instant::now();
        assert!(ticks.next().await, "the first tick comes at once");
        assert!(start.elapsed() < period);
        assert!(ticks.next().await);
        assert!(start.elapsed() >= period);
        shutdown.cancel();
        assert!(!ticks.next().await, "no tick after shutdown");
    }
}
