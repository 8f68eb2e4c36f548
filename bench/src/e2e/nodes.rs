//! What `tally bench e2e` reads of the two nodes it measures at each end of the measured
//! window: the CPU time of the ingest node and of the aggregator (and of the broker and
//! ClickHouse, when they run on this machine) from `/proc`, the
//! aggregator's totals from its `/metrics` (passes, their write time, events read), and the
//! stage histograms of both nodes' `/metrics` ([`StageMetrics`]).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use tally_meter::aggregator::telemetry;

use super::stage_metrics::{StageMetrics, samples};
use crate::cpu::{Clock, Snapshot, process_time};
use crate::{http, progress};

/// The processes whose CPU time and metrics the bench reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Nodes {
    /// The ingest node's process id.
    pub(super) ingest: u32,
    /// The aggregator's process id.
    pub(super) aggregator: u32,
    /// The ingest node's HTTP address.
    pub(super) ingest_address: SocketAddr,
    /// The aggregator's HTTP address.
    pub(super) aggregator_address: SocketAddr,
    /// The broker's process, when it runs on this machine.
    pub(super) broker: Option<u32>,
    /// ClickHouse's process, when it runs on this machine.
    pub(super) clickhouse: Option<u32>,
}

/// CPU counters of both nodes, and the aggregator's metrics, at one moment.
pub(super) struct Snapshots {
    /// The ingest node's CPU counters.
    pub(super) ingest: Snapshot,
    /// The aggregator's CPU counters, with the bench's and the machine's.
    pub(super) aggregator: Snapshot,
    /// The broker's CPU time, when it runs here.
    pub(super) broker: Option<Duration>,
    /// ClickHouse's CPU time, when it runs here.
    pub(super) clickhouse: Option<Duration>,
    /// `None` if `/metrics` could not be read.
    pub(super) metrics: Option<AggregatorMetrics>,
    /// The stage histograms of both nodes; those of a node whose `/metrics` could not be
    /// read are missing.
    pub(super) stages: StageMetrics,
}

impl Snapshots {
    /// Reads the counters of both nodes now.
    pub(super) async fn take(clock: Clock, nodes: Nodes) -> anyhow::Result<Self> {
        let aggregator = Snapshot::take(clock, nodes.aggregator)
            .context("cannot read the aggregator's CPU time")?;
        let ingest = Snapshot::take(clock, nodes.ingest)
            .context("cannot read the ingest node's CPU time")?;
        let service = |pid: Option<u32>| pid.and_then(|pid| process_time(clock, pid).ok());
        let (broker, clickhouse) = (service(nodes.broker), service(nodes.clickhouse));
        let mut stages = StageMetrics::default();
        let metrics = match scrape(nodes.aggregator_address).await {
            Ok(text) => {
                stages.extend(StageMetrics::parse(&text));
                Some(AggregatorMetrics::parse(&text))
            }
            Err(error) => {
                progress(&format!("cannot read the aggregator's metrics: {error:#}"));
                None
            }
        };
        match scrape(nodes.ingest_address).await {
            Ok(text) => stages.extend(StageMetrics::parse(&text)),
            Err(error) => progress(&format!("cannot read the ingest node's metrics: {error:#}")),
        }
        Ok(Self {
            ingest,
            aggregator,
            broker,
            clickhouse,
            metrics,
            stages,
        })
    }
}

/// Reads a node's `/metrics` at `address`.
async fn scrape(address: SocketAddr) -> anyhow::Result<String> {
    let (status, text) = http::get(address, "/metrics").await?;
    if !status.is_success() {
        bail!("/metrics answered {status}");
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// Totals from the aggregator's `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct AggregatorMetrics {
    /// Passes written to ClickHouse.
    pub(super) passes: f64,
    /// Time spent writing them, in seconds.
    pub(super) write_secs: f64,
    /// Events read, whatever their outcome.
    pub(super) events: f64,
}

impl AggregatorMetrics {
    /// What `before` and `after`, both read, say happened between them.
    pub(super) fn between(before: Option<Self>, after: Option<Self>) -> Option<Self> {
        let (before, after) = before.zip(after)?;
        Some(Self {
            passes: after.passes - before.passes,
            write_secs: after.write_secs - before.write_secs,
            events: after.events - before.events,
        })
    }

    /// Reads the Prometheus text format; metrics not yet recorded count as zero.
    fn parse(text: &str) -> Self {
        let (passes, write_secs) = (
            format!("{}_count", telemetry::WRITE_DURATION),
            format!("{}_sum", telemetry::WRITE_DURATION),
        );
        let mut metrics = Self::default();
        for (series, value) in samples(text) {
            let name = series.split('{').next().unwrap_or_default();
            if name == passes {
                metrics.passes += value;
            } else if name == write_secs {
                metrics.write_secs += value;
            } else if name == telemetry::EVENTS {
                metrics.events += value;
            }
        }
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregator_metrics_sum_every_outcome_and_read_the_write_histogram() {
        let text = "# TYPE tally_meter_events_total counter\n\
                    tally_meter_events_total{outcome=\"counted\"} 1200\n\
                    tally_meter_events_total{outcome=\"duplicate\"} 3\n\
                    tally_meter_write_failures_total 2\n\
                    # TYPE tally_meter_write_duration_seconds histogram\n\
                    tally_meter_write_duration_seconds_bucket{le=\"0.5\"} 6\n\
                    tally_meter_write_duration_seconds_sum 1.5\n\
                    tally_meter_write_duration_seconds_count 6\n";
        let metrics = AggregatorMetrics::parse(text);
        assert_eq!(
            metrics,
            AggregatorMetrics {
                passes: 6.0,
                write_secs: 1.5,
                events: 1203.0,
            }
        );
        assert_eq!(AggregatorMetrics::parse(""), AggregatorMetrics::default());
    }
}
