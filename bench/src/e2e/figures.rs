//! The figures of `tally bench e2e` and what it prints from them: one table (load, latency,
//! aggregator passes, CPU and checks, one figure per line), a loud line for everything that
//! makes them doubtful, the verdict on the target, and a footer saying what they mean; and
//! the short reasons that fail the bench.

use std::fmt::Write as _;
use std::time::Duration;

use tally_meter::aggregator::AggregatorConfig;

use super::TARGET_P95_MS;
use super::canary::{CanaryFigures, DRAIN_TIMEOUT, MAX_PENDING_CANARIES, POLL_INTERVAL, POLLERS};
use super::load::{CATCH_UP_TIMEOUT, CatchUp, SenderCounts};
use super::nodes::{AggregatorMetrics, Snapshots};
use super::stage_metrics::StageMetrics;
use super::stages::Breakdown;
use crate::cli::BenchE2eArgs;
use crate::format::{Unit, divide, format_value, grouped};
use crate::load::Window;

/// Everything the bench measured.
pub(super) struct Figures {
    /// Length of the measured window, in seconds.
    seconds: f64,
    /// The events/s the load was to send.
    target_rate: f64,
    /// What the load's senders counted.
    load: SenderCounts,
    /// What the canaries measured.
    canaries: CanaryFigures,
    /// How the meters caught up with the load.
    catch_up: CatchUp,
    /// Aggregator metrics over the window: passes, write time and events.
    aggregator: Option<AggregatorMetrics>,
    /// The nodes' stage histograms over the window.
    stages: StageMetrics,
    /// CPU time the aggregator used in the window, in seconds.
    aggregator_cpu_secs: f64,
    /// CPU time the ingest node used in the window, in seconds.
    ingest_cpu_secs: f64,
    /// CPU time the bench itself used in the window, in seconds.
    client_cpu_secs: f64,
    /// CPU time the broker used in the window, in seconds, when it runs here.
    broker_cpu_secs: Option<f64>,
    /// CPU time ClickHouse used in the window, in seconds, when it runs here.
    clickhouse_cpu_secs: Option<f64>,
    /// Busy time of all the machine's cores in the window, in seconds.
    machine_busy_secs: f64,
    /// Time between the two CPU snapshots, in seconds.
    cpu_window_secs: f64,
}

impl Figures {
    /// Combines what the load, the canaries and the catch-up counted with the snapshots taken
    /// at the window's ends.
    pub(super) fn new(
        args: &BenchE2eArgs,
        window: Window,
        load: SenderCounts,
        canaries: CanaryFigures,
        catch_up: CatchUp,
        before: &Snapshots,
        after: &Snapshots,
    ) -> Self {
        let seconds = |start: Duration, end: Duration| end.saturating_sub(start).as_secs_f64();
        Self {
            seconds: window.end.duration_since(window.start).as_secs_f64(),
            target_rate: args.rate as f64,
            load,
            canaries,
            catch_up,
            aggregator: AggregatorMetrics::between(before.metrics, after.metrics),
            stages: after.stages.since(&before.stages),
            aggregator_cpu_secs: seconds(before.aggregator.process, after.aggregator.process),
            ingest_cpu_secs: seconds(before.ingest.process, after.ingest.process),
            client_cpu_secs: seconds(before.aggregator.own, after.aggregator.own),
            broker_cpu_secs: before
                .broker
                .zip(after.broker)
                .map(|(start, end)| seconds(start, end)),
            clickhouse_cpu_secs: before
                .clickhouse
                .zip(after.clickhouse)
                .map(|(start, end)| seconds(start, end)),
            machine_busy_secs: seconds(
                before.aggregator.machine_busy,
                after.aggregator.machine_busy,
            ),
            cpu_window_secs: after
                .aggregator
                .at
                .duration_since(before.aggregator.at)
                .as_secs_f64(),
        }
    }

    /// Events acknowledged per second of the window.
    fn acknowledged_per_sec(&self) -> Option<f64> {
        divide(self.load.acknowledged.events as f64, self.seconds)
    }

    /// Where a canary's time goes, stage by stage.
    pub(super) fn breakdown(&self) -> Breakdown {
        Breakdown::new(&self.canaries, &self.stages)
    }

    /// The ingest-to-queryable p95, in milliseconds.
    fn p95_ms(&self) -> Option<f64> {
        self.canaries.latency.quantile_ms(0.95)
    }

    /// The table: load, latency, CPU and checks, one figure per line.
    pub(super) fn table(&self) -> String {
        let load = &self.load;
        let canaries = &self.canaries;
        let latency = |quantile| canaries.latency.quantile_ms(quantile);
        let cores = |cpu_secs: f64| divide(cpu_secs, self.cpu_window_secs);
        let passes = self.aggregator.map(|metrics| metrics.passes);
        let per_pass = |total: Option<f64>| divide(total?, passes?);
        let others = self.machine_busy_secs
            - self.aggregator_cpu_secs
            - self.ingest_cpu_secs
            - self.client_cpu_secs
            - self.broker_cpu_secs.unwrap_or(0.0)
            - self.clickhouse_cpu_secs.unwrap_or(0.0);
        let rows: Vec<(&str, Option<f64>, Unit)> = vec![
            ("target events/s", Some(self.target_rate), Unit::Count),
            ("events sent", Some(load.events_sent as f64), Unit::Count),
            (
                "events sent/s",
                divide(load.events_sent as f64, self.seconds),
                Unit::Count,
            ),
            (
                "acknowledged events",
                Some(load.acknowledged.events as f64),
                Unit::Count,
            ),
            (
                "acknowledged events/s",
                self.acknowledged_per_sec(),
                Unit::Count,
            ),
            (
                "acknowledged/target",
                self.acknowledged_per_sec()
                    .and_then(|rate| divide(rate, self.target_rate)),
                Unit::Decimal,
            ),
            (
                "request latency p50 (ms)",
                load.acknowledged.latency.quantile_ms(0.50),
                Unit::Decimal,
            ),
            (
                "request latency p99 (ms)",
                load.acknowledged.latency.quantile_ms(0.99),
                Unit::Decimal,
            ),
            (
                "send lag behind schedule p99 (ms)",
                load.lag.quantile_ms(0.99),
                Unit::Decimal,
            ),
            ("canaries sent", Some(canaries.sent as f64), Unit::Count),
            ("canaries measured", Some(canaries.seen as f64), Unit::Count),
            ("ingest-to-queryable p50 (ms)", latency(0.50), Unit::Decimal),
            ("ingest-to-queryable p95 (ms)", self.p95_ms(), Unit::Decimal),
            ("ingest-to-queryable p99 (ms)", latency(0.99), Unit::Decimal),
            ("ingest-to-queryable max (ms)", latency(1.0), Unit::Decimal),
            (
                "canary acknowledged by ingest p95 (ms)",
                canaries.acknowledgement.quantile_ms(0.95),
                Unit::Decimal,
            ),
            ("aggregator passes", passes, Unit::Count),
            (
                "aggregator events per pass",
                per_pass(self.aggregator.map(|metrics| metrics.events)),
                Unit::Count,
            ),
            (
                "aggregator pass, mean (ms)",
                per_pass(Some(self.seconds * 1000.0)),
                Unit::Decimal,
            ),
            (
                "  of which ClickHouse writes (ms)",
                per_pass(self.aggregator.map(|metrics| metrics.write_secs * 1000.0)),
                Unit::Decimal,
            ),
            (
                "canary usage query p50 (ms)",
                canaries.query.quantile_ms(0.50),
                Unit::Decimal,
            ),
            (
                "aggregator CPU (s)",
                Some(self.aggregator_cpu_secs),
                Unit::Decimal,
            ),
            (
                "aggregator CPU (cores)",
                cores(self.aggregator_cpu_secs),
                Unit::Decimal,
            ),
            (
                "events/s per aggregator core",
                divide(load.acknowledged.events as f64, self.aggregator_cpu_secs),
                Unit::Count,
            ),
            (
                "ingest-node CPU (s)",
                Some(self.ingest_cpu_secs),
                Unit::Decimal,
            ),
            (
                "ingest-node CPU (cores)",
                cores(self.ingest_cpu_secs),
                Unit::Decimal,
            ),
            (
                "events/s per ingest-node core",
                divide(load.acknowledged.events as f64, self.ingest_cpu_secs),
                Unit::Count,
            ),
            (
                "bench client CPU (cores)",
                cores(self.client_cpu_secs),
                Unit::Decimal,
            ),
            (
                "broker CPU (cores)",
                self.broker_cpu_secs.and_then(cores),
                Unit::Decimal,
            ),
            (
                "ClickHouse CPU (cores)",
                self.clickhouse_cpu_secs.and_then(cores),
                Unit::Decimal,
            ),
            (
                "other processes CPU (cores)",
                cores(others.max(0.0)),
                Unit::Decimal,
            ),
            (
                "machine CPU busy (cores)",
                cores(self.machine_busy_secs),
                Unit::Decimal,
            ),
            (
                "broker's share of the busy CPU",
                self.broker_cpu_secs
                    .and_then(|broker| divide(broker, self.machine_busy_secs)),
                Unit::Decimal,
            ),
            (
                "events acknowledged in the whole run",
                Some(load.accepted_total as f64),
                Unit::Count,
            ),
            (
                "events counted by the meters",
                self.catch_up.counted.map(|count| count as f64),
                Unit::Count,
            ),
            (
                "meters caught up after the load (s)",
                self.catch_up.after.map(|after| after.as_secs_f64()),
                Unit::Decimal,
            ),
            (
                "failed requests",
                Some(load.failed_requests() as f64),
                Unit::Count,
            ),
            (
                "rejected events",
                Some(load.acknowledged.rejected_events as f64),
                Unit::Count,
            ),
        ];
        let title = format!("measured window ({:.1} s)", self.seconds);
        let mut text = format!("{title:<44}{:>12}\n", "value");
        for (label, value, unit) in rows {
            let _ = writeln!(text, "{label:<44}{:>12}", format_value(value, unit));
        }
        for line in self.problem_lines() {
            let _ = writeln!(text, "!! {line}");
        }
        let p95 = self.p95_ms();
        let verdict = match p95 {
            Some(p95) if p95 < TARGET_P95_MS => "PASS",
            _ => "FAIL",
        };
        let _ = writeln!(text, "\n{:<44}{:>12}{:>12}", "target", "target", "measured");
        let target = format!("< {}", format_value(Some(TARGET_P95_MS), Unit::Count));
        let _ = writeln!(
            text,
            "{:<44}{target:>12}{:>12}  {verdict}",
            "ingest-to-queryable p95 (ms)",
            format_value(p95, Unit::Decimal)
        );
        text
    }

    /// A line for everything that makes the figures doubtful.
    fn problem_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for line in self.load.acknowledged.failures.lines() {
            lines.push(format!("load: {line}"));
        }
        if self.load.acknowledged.rejected_events > 0 {
            lines.push(format!(
                "load: {} events were not accepted",
                self.load.acknowledged.rejected_events
            ));
        }
        for line in self.canaries.failures.lines() {
            lines.push(format!("canaries: {line}"));
        }
        if self.canaries.lost > 0 {
            lines.push(format!(
                "{} canaries did not show within {} s of the window's end; they count in the \
                 percentiles as the time they were waited for",
                self.canaries.lost,
                DRAIN_TIMEOUT.as_secs()
            ));
        }
        if self.canaries.skipped > 0 {
            lines.push(format!(
                "{} canaries were not sent: {MAX_PENDING_CANARIES} were already pending",
                self.canaries.skipped
            ));
        }
        if self.canaries.seen == 0 {
            lines.push("no canary of the measured window showed".to_owned());
        }
        if let Some(error) = &self.canaries.last_poll_error {
            lines.push(format!(
                "{} usage queries failed (last: {error})",
                self.canaries.poll_errors
            ));
        }
        let counted = self.catch_up.counted;
        if counted != Some(self.load.accepted_total) {
            // Requests that failed may have been written before they failed.
            let exact = self.load.failed_requests() == 0;
            if exact || counted.is_none_or(|count| count < self.load.accepted_total) {
                lines.push(format!(
                    "the meters counted {} of the {} acknowledged events{}",
                    counted.map_or_else(|| "none".to_owned(), grouped),
                    grouped(self.load.accepted_total),
                    if self.catch_up.after.is_none() {
                        format!(" within {} s", CATCH_UP_TIMEOUT.as_secs())
                    } else {
                        String::new()
                    }
                ));
            }
        }
        lines
    }

    /// Short reasons to fail the bench, if any.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let failed = self.load.failed_requests();
        if failed > 0 || self.load.acknowledged.rejected_events > 0 {
            problems.push(format!(
                "{failed} failed requests and {} rejected events",
                self.load.acknowledged.rejected_events
            ));
        }
        let failed_canaries = self.canaries.failures.total();
        if failed_canaries > 0 || self.canaries.lost > 0 || self.canaries.seen == 0 {
            problems.push(format!(
                "{} canaries measured, {} lost, {failed_canaries} failed",
                self.canaries.seen, self.canaries.lost
            ));
        }
        if self.catch_up.counted != Some(self.load.accepted_total) && failed == 0 {
            problems.push("the meters did not count exactly the acknowledged events".to_owned());
        }
        problems
    }
}

/// What the figures mean, printed after the table.
pub(super) fn footer(meter: &AggregatorConfig) -> String {
    format!(
        "ingest-to-queryable: from just before a canary's POST /v1/events until the end of the\n\
         first usage query (the one behind `tally usage` and the API) that shows it, polled by\n\
         {POLLERS} pollers every {} ms each. It includes ingest's wait for Kafka's acks and the\n\
         aggregator's pass that reads it: passes start at least meter.flush_interval_ms = {} ms\n\
         apart, each looks its events up and builds its rows while the previous one is written,\n\
         then writes its tables at once (passes, events and write time from the aggregator's\n\
         /metrics over the window). Events/s per aggregator core: events acknowledged in the window per\n\
         CPU-second of the aggregator in the window. The bench, both nodes, the broker, ClickHouse\n\
         and PostgreSQL share this machine's cores; the broker's and ClickHouse's CPU are read\n\
         when they listen on this machine (found by their ports), and \"other processes\" is the\n\
         rest (PostgreSQL, the system).",
        POLL_INTERVAL.as_millis(),
        meter.flush_interval_ms,
    )
}
