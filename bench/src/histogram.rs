//! Histograms of the durations a bench measures (request latency, send lag, time to show in
//! a usage query), kept in whole microseconds and read back as quantiles in milliseconds.

use std::time::Duration;

use anyhow::Context;
use hdrhistogram::{AdditionError, Histogram};

/// Durations from 1 µs to a ceiling, in whole microseconds at 3 significant figures; a longer
/// duration is recorded as the ceiling, a shorter one as 1 µs.
#[derive(Debug, Clone)]
pub struct DurationHistogram {
    micros: Histogram<u64>,
    /// The ceiling, in microseconds.
    max_micros: u64,
}

impl DurationHistogram {
    /// An empty histogram holding durations up to `max`.
    pub fn up_to(max: Duration) -> anyhow::Result<Self> {
        let max_micros = u64::try_from(max.as_micros()).context("too long a ceiling")?;
        Ok(Self {
            micros: Histogram::new_with_bounds(1, max_micros, 3)
                .context("cannot create a histogram")?,
            max_micros,
        })
    }

    /// Records one duration.
    pub fn record(&mut self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros())
            .unwrap_or(self.max_micros)
            .clamp(1, self.max_micros);
        self.micros.saturating_record(micros);
    }

    /// Adds every duration `other` holds.
    pub fn merge(&mut self, other: &Self) -> Result<(), AdditionError> {
        self.micros.add(&other.micros)
    }

    /// A quantile, in milliseconds; `None` when nothing was recorded.
    pub fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        (!self.micros.is_empty()).then(|| self.micros.value_at_quantile(quantile) as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_milliseconds_and_durations_stay_in_bounds() {
        let mut latency = DurationHistogram::up_to(Duration::from_secs(600)).expect("a histogram");
        assert_eq!(latency.quantile_ms(0.95), None);
        for millis in 1..=100 {
            latency.record(Duration::from_millis(millis));
        }
        let p95 = latency.quantile_ms(0.95).expect("a value");
        assert!((94.9..=95.1).contains(&p95), "{p95}");

        let mut bounds = DurationHistogram::up_to(Duration::from_secs(600)).expect("a histogram");
        bounds.record(Duration::ZERO);
        assert_eq!(bounds.quantile_ms(0.0), Some(0.001));
        bounds.record(Duration::from_secs(100_000));
        let max = bounds.quantile_ms(1.0).expect("a value");
        assert!((599_000.0..=601_000.0).contains(&max), "{max}");
    }
}
