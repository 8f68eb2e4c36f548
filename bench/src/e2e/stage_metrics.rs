//! The stage histograms `tally bench e2e` reads from the nodes' `/metrics` (Prometheus text) at
//! both ends of its measured window: the aggregator's waits per record and steps per pass
//! (`tally_meter::aggregator::telemetry`) and the ingest node's produce→ack per request; what
//! was observed in between, and its quantiles, interpolated within the buckets as Prometheus'
//! `histogram_quantile` does.

use std::collections::BTreeMap;

use tally_meter::aggregator::telemetry::{RECORD_WAIT, STAGE_DURATION, Stage};

use crate::format::divide;

/// The ingest node's histogram of produce→ack per request
/// (`tally_ingest::telemetry::PRODUCE_ACK_DURATION`).
pub(super) const PRODUCE_ACK: &str = "tally_ingest_produce_ack_seconds";

/// A Prometheus histogram: cumulative bucket counts, sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Histogram {
    /// Upper bound in seconds and cumulative count, by ascending bound; the last is +Inf.
    buckets: Vec<(f64, f64)>,
    /// Sum of the observations, in seconds.
    sum: f64,
    /// Observations.
    count: f64,
}

impl Histogram {
    /// What was observed after `before` (nothing, if `None`) up to `self`.
    fn since(&self, before: Option<&Self>) -> Self {
        let Some(before) = before else {
            return self.clone();
        };
        let earlier = |bound: f64| {
            before
                .buckets
                .iter()
                .find(|(before_bound, _)| *before_bound == bound)
                .map_or(0.0, |(_, count)| *count)
        };
        Self {
            buckets: self
                .buckets
                .iter()
                .map(|(bound, count)| (*bound, count - earlier(*bound)))
                .collect(),
            sum: self.sum - before.sum,
            count: self.count - before.count,
        }
    }

    /// A quantile in milliseconds, interpolated linearly within its bucket as Prometheus'
    /// `histogram_quantile` does (the highest finite bound if it falls in the +Inf bucket).
    pub(super) fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let rank = quantile * self.count;
        let (mut lower_bound, mut lower_count) = (0.0, 0.0);
        for (bound, count) in &self.buckets {
            if *count >= rank && *count > lower_count {
                if bound.is_infinite() {
                    return Some(lower_bound * 1000.0);
                }
                let within = (rank - lower_count) / (count - lower_count);
                return Some((lower_bound + (bound - lower_bound) * within) * 1000.0);
            }
            (lower_bound, lower_count) = (*bound, *count);
        }
        None
    }

    /// The exact mean in milliseconds.
    pub(super) fn mean_ms(&self) -> Option<f64> {
        divide(self.sum * 1000.0, self.count)
    }

    /// How many observations it holds.
    pub(super) fn count(&self) -> f64 {
        self.count
    }

    /// The sum in milliseconds.
    pub(super) fn sum_ms(&self) -> f64 {
        self.sum * 1000.0
    }
}

/// The stage histograms of both nodes' `/metrics`, by metric name and `stage` label (empty
/// when the metric has none).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct StageMetrics {
    histograms: BTreeMap<(String, String), Histogram>,
}

impl StageMetrics {
    /// Reads the stage histograms from a `/metrics` text (Prometheus text format).
    pub(super) fn parse(text: &str) -> Self {
        let mut metrics = Self::default();
        for (series, value) in samples(text) {
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let labels = parse_labels(labels.trim_end_matches('}'));
            let Some((metric, part)) = [STAGE_DURATION, RECORD_WAIT, PRODUCE_ACK]
                .into_iter()
                .find_map(|metric| Some((metric, name.strip_prefix(metric)?)))
            else {
                continue;
            };
            let bound = match (part, labels.get("le").map(String::as_str)) {
                ("_bucket", Some("+Inf")) => Some(f64::INFINITY),
                ("_bucket", Some(bound)) => match bound.parse() {
                    Ok(bound) => Some(bound),
                    Err(_) => continue,
                },
                ("_sum" | "_count", _) => None,
                _ => continue,
            };
            let stage = labels.get("stage").cloned().unwrap_or_default();
            let histogram = metrics
                .histograms
                .entry((metric.to_owned(), stage))
                .or_default();
            match (bound, part) {
                (Some(bound), _) => {
                    histogram.buckets.push((bound, value));
                    histogram.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
                (None, "_sum") => histogram.sum = value,
                (None, _) => histogram.count = value,
            }
        }
        metrics
    }

    /// Adds the histograms of another node.
    pub(super) fn extend(&mut self, other: Self) {
        self.histograms.extend(other.histograms);
    }

    /// What was observed after `before` up to `self`.
    pub(super) fn since(&self, before: &Self) -> Self {
        Self {
            histograms: self
                .histograms
                .iter()
                .map(|(key, after)| (key.clone(), after.since(before.histograms.get(key))))
                .collect(),
        }
    }

    pub(super) fn get(&self, metric: &str, stage: &str) -> Option<&Histogram> {
        self.histograms.get(&(metric.to_owned(), stage.to_owned()))
    }

    /// The aggregator's passes: each observes its dedup lookup once.
    pub(super) fn passes(&self) -> f64 {
        self.get(STAGE_DURATION, Stage::DedupLookup.name())
            .map_or(0.0, |histogram| histogram.count)
    }
}

/// The samples of a Prometheus text: each series (name and labels) with its value; comments
/// and lines without a number are skipped.
pub(super) fn samples(text: &str) -> impl Iterator<Item = (&str, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series, value.parse().ok()?))
        })
}

/// Reads `a="x",b="y"` (values without commas or escaped quotes, as the stage labels are).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            Some((
                key.trim().to_owned(),
                value.trim().trim_matches('"').to_owned(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# TYPE tally_meter_stage_seconds histogram\n\
        tally_meter_stage_seconds_bucket{stage=\"dedup_lookup\",le=\"0.01\"} 1\n\
        tally_meter_stage_seconds_bucket{stage=\"dedup_lookup\",le=\"0.1\"} 2\n\
        tally_meter_stage_seconds_bucket{stage=\"dedup_lookup\",le=\"+Inf\"} 2\n\
        tally_meter_stage_seconds_sum{stage=\"dedup_lookup\"} 0.06\n\
        tally_meter_stage_seconds_count{stage=\"dedup_lookup\"} 2\n\
        tally_meter_events_total{outcome=\"counted\"} 5\n";
    const AFTER: &str = "tally_meter_stage_seconds_bucket{stage=\"dedup_lookup\",le=\"0.01\"} 1\n\
        tally_meter_stage_seconds_bucket{stage=\"dedup_lookup\",le=\"0.1\"} 6\n\
        tally_meter_stage_seconds_bucket{stage=\"dedup_lookup\",le=\"+Inf\"} 7\n\
        tally_meter_stage_seconds_sum{stage=\"dedup_lookup\"} 2.26\n\
        tally_meter_stage_seconds_count{stage=\"dedup_lookup\"} 7\n\
        tally_ingest_produce_ack_seconds_bucket{le=\"0.01\"} 4\n\
        tally_ingest_produce_ack_seconds_sum 0.02\n\
        tally_ingest_produce_ack_seconds_count 4\n";

    #[test]
    fn histograms_are_read_by_stage_and_subtracted() {
        let window = StageMetrics::parse(AFTER).since(&StageMetrics::parse(BEFORE));
        let dedup = window
            .get(STAGE_DURATION, "dedup_lookup")
            .expect("dedup lookups");
        assert_eq!(dedup.count, 5.0);
        assert_eq!(
            dedup.buckets,
            [(0.01, 0.0), (0.1, 4.0), (f64::INFINITY, 5.0)]
        );
        assert!((dedup.mean_ms().expect("a mean") - 440.0).abs() < 1e-6);
        assert_eq!(window.passes(), 5.0);
        // Ingest's histogram has no label; it started within the window.
        let acks = window.get(PRODUCE_ACK, "").expect("acks");
        assert_eq!(acks.count, 4.0);
        assert!(window.get("tally_meter_events_total", "counted").is_none());
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let histogram = Histogram {
            buckets: vec![(0.01, 0.0), (0.1, 4.0), (f64::INFINITY, 5.0)],
            sum: 2.2,
            count: 5.0,
        };
        // The median is the 2.5th of 4 observations spread over 10-100 ms.
        let p50 = histogram.quantile_ms(0.5).expect("a median");
        assert!((p50 - (10.0 + 90.0 * 2.5 / 4.0)).abs() < 1e-9, "{p50}");
        // The last observation is beyond the last finite bound: that bound is all we know.
        assert_eq!(histogram.quantile_ms(0.99), Some(100.0));
        assert_eq!(Histogram::default().quantile_ms(0.5), None);
    }
}
