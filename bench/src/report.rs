//! The figures of a bench phase and the plain-text tables printed from them: one table per
//! run (baseline, ingest and their ratio), then the medians over runs and the targets.

use std::fmt::Write as _;

use crate::cpu::Snapshot;
use crate::format::{Unit, divide, format_value};
use crate::load::{RequestCounts, Window};

/// Events per second per core of ingest-node CPU that ingest must reach.
pub const TARGET_EVENTS_PER_CORE: f64 = 200_000.0;
/// Share of the baseline that ingest must reach.
pub const TARGET_BASELINE_RATIO: f64 = 0.5;

/// What one phase of one run measured.
#[derive(Debug, Clone)]
pub struct PhaseFigures {
    /// Length of the measured window, in seconds.
    pub seconds: f64,
    /// 2xx requests completed in the window.
    pub requests: u64,
    /// Events those requests accepted.
    pub events: u64,
    /// Events of 2xx requests that were not accepted.
    pub rejected_events: u64,
    /// Failed requests of the whole phase, warmup included.
    pub failed_requests: u64,
    /// Failures by kind: `kind ×count (first: example)`.
    pub failure_lines: Vec<String>,
    /// Median request latency, in milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile request latency, in milliseconds.
    pub p99_ms: Option<f64>,
    /// CPU time the ingest node used in the window, in seconds.
    pub node_cpu_secs: f64,
    /// CPU time the bench itself used in the window, in seconds.
    pub client_cpu_secs: f64,
    /// Busy time of all the machine's cores in the window, in seconds.
    pub machine_busy_secs: f64,
    /// Time between the two CPU snapshots, in seconds.
    pub cpu_window_secs: f64,
}

impl PhaseFigures {
    /// Combines what the senders counted with the CPU snapshots taken at the window's ends.
    pub fn new(
        counts: &RequestCounts,
        window: Window,
        before: &Snapshot,
        after: &Snapshot,
    ) -> Self {
        let seconds = |start: std::time::Duration, end: std::time::Duration| {
            end.saturating_sub(start).as_secs_f64()
        };
        Self {
            seconds: window.end.duration_since(window.start).as_secs_f64(),
            requests: counts.requests,
            events: counts.events,
            rejected_events: counts.rejected_events,
            failed_requests: counts.failed_requests(),
            failure_lines: counts.failures.lines().collect(),
            p50_ms: counts.latency.quantile_ms(0.50),
            p99_ms: counts.latency.quantile_ms(0.99),
            node_cpu_secs: seconds(before.process, after.process),
            client_cpu_secs: seconds(before.own, after.own),
            machine_busy_secs: seconds(before.machine_busy, after.machine_busy),
            cpu_window_secs: after.at.duration_since(before.at).as_secs_f64(),
        }
    }

    /// Accepted events per second.
    pub fn events_per_sec(&self) -> Option<f64> {
        divide(self.events as f64, self.seconds)
    }

    /// Events accepted per second of ingest-node CPU: events/s per core the node used.
    pub fn events_per_core(&self) -> Option<f64> {
        divide(self.events as f64, self.node_cpu_secs)
    }

    fn requests_per_sec(&self) -> Option<f64> {
        divide(self.requests as f64, self.seconds)
    }

    fn p50_ms(&self) -> Option<f64> {
        self.p50_ms
    }

    fn p99_ms(&self) -> Option<f64> {
        self.p99_ms
    }

    fn node_cpu_secs_per_million_events(&self) -> Option<f64> {
        divide(self.node_cpu_secs * 1_000_000.0, self.events as f64)
    }

    fn node_cores(&self) -> Option<f64> {
        divide(self.node_cpu_secs, self.cpu_window_secs)
    }

    fn client_cores(&self) -> Option<f64> {
        divide(self.client_cpu_secs, self.cpu_window_secs)
    }

    /// Cores busy with neither the node nor the bench: the broker, mostly.
    fn other_cores(&self) -> Option<f64> {
        let others = self.machine_busy_secs - self.node_cpu_secs - self.client_cpu_secs;
        divide(others.max(0.0), self.cpu_window_secs)
    }

    fn machine_cores(&self) -> Option<f64> {
        divide(self.machine_busy_secs, self.cpu_window_secs)
    }

    fn failed(&self) -> Option<f64> {
        Some(self.failed_requests as f64)
    }

    fn rejected(&self) -> Option<f64> {
        Some(self.rejected_events as f64)
    }
}

/// What one run (both phases) measured.
#[derive(Debug, Clone)]
pub struct RunFigures {
    /// `POST /v1/bench/baseline`: read and decode only.
    pub baseline: PhaseFigures,
    /// `POST /v1/events`: the whole ingest path, Kafka acknowledgement included.
    pub ingest: PhaseFigures,
}

impl RunFigures {
    /// Ingest's events/s over the baseline's, measured in this run.
    pub fn throughput_ratio(&self) -> Option<f64> {
        divide(
            self.ingest.events_per_sec()?,
            self.baseline.events_per_sec()?,
        )
    }

    /// Ingest's events per node CPU-second over the baseline's, measured in this run.
    pub fn efficiency_ratio(&self) -> Option<f64> {
        divide(
            self.ingest.events_per_core()?,
            self.baseline.events_per_core()?,
        )
    }

    fn rows(&self) -> Vec<Row> {
        ROWS.iter()
            .map(|(label, unit, figure, ratio)| Row {
                label,
                unit: *unit,
                values: [
                    figure(&self.baseline),
                    figure(&self.ingest),
                    ratio.and_then(|ratio| ratio(self)),
                ],
            })
            .collect()
    }

    /// Failed requests and rejected events of both phases.
    pub fn problems(&self) -> u64 {
        [&self.baseline, &self.ingest]
            .iter()
            .map(|phase| phase.failed_requests + phase.rejected_events)
            .sum()
    }
}

/// A figure of one phase.
type Figure = fn(&PhaseFigures) -> Option<f64>;
/// A ratio of ingest to baseline, measured in one run.
type Ratio = fn(&RunFigures) -> Option<f64>;

/// The rows of every table: label, unit, figure of each phase, ratio.
const ROWS: &[(&str, Unit, Figure, Option<Ratio>)] = &[
    (
        "events/s",
        Unit::Count,
        PhaseFigures::events_per_sec,
        Some(RunFigures::throughput_ratio),
    ),
    (
        "requests/s",
        Unit::Count,
        PhaseFigures::requests_per_sec,
        None,
    ),
    (
        "latency p50 (ms)",
        Unit::Decimal,
        PhaseFigures::p50_ms,
        None,
    ),
    (
        "latency p99 (ms)",
        Unit::Decimal,
        PhaseFigures::p99_ms,
        None,
    ),
    (
        "ingest-node CPU-s per M events",
        Unit::Decimal,
        PhaseFigures::node_cpu_secs_per_million_events,
        None,
    ),
    (
        "events/s per ingest-node core",
        Unit::Count,
        PhaseFigures::events_per_core,
        Some(RunFigures::efficiency_ratio),
    ),
    (
        "ingest-node CPU (cores)",
        Unit::Decimal,
        PhaseFigures::node_cores,
        None,
    ),
    (
        "bench client CPU (cores)",
        Unit::Decimal,
        PhaseFigures::client_cores,
        None,
    ),
    (
        "other processes CPU (cores)",
        Unit::Decimal,
        PhaseFigures::other_cores,
        None,
    ),
    (
        "machine CPU busy (cores)",
        Unit::Decimal,
        PhaseFigures::machine_cores,
        None,
    ),
    ("failed requests", Unit::Count, PhaseFigures::failed, None),
    ("rejected events", Unit::Count, PhaseFigures::rejected, None),
];

struct Row {
    label: &'static str,
    unit: Unit,
    values: [Option<f64>; 3],
}

/// Renders one run's table, with a loud line for every kind of failure.
pub fn run_table(title: &str, run: &RunFigures) -> String {
    let mut text = table(title, &run.rows());
    for (name, phase) in [("baseline", &run.baseline), ("ingest", &run.ingest)] {
        for line in &phase.failure_lines {
            let _ = writeln!(text, "!! {name}: {line}");
        }
        if phase.rejected_events > 0 {
            let _ = writeln!(
                text,
                "!! {name}: {} events were not accepted",
                phase.rejected_events
            );
        }
    }
    text
}

/// Renders the medians over runs of every figure and ratio, and the targets.
pub fn summary(runs: &[RunFigures]) -> String {
    let per_run: Vec<Vec<Row>> = runs.iter().map(RunFigures::rows).collect();
    let rows: Vec<Row> = (0..per_run[0].len())
        .map(|index| {
            let first = &per_run[0][index];
            let column =
                |column: usize| median(per_run.iter().map(|rows| rows[index].values[column]));
            Row {
                label: first.label,
                unit: first.unit,
                values: [column(0), column(1), column(2)],
            }
        })
        .collect();
    let title = format!("median of {} run(s)", runs.len());
    let mut text = table(&title, &rows);

    let per_core = median(runs.iter().map(|run| run.ingest.events_per_core()));
    let throughput = median(runs.iter().map(RunFigures::throughput_ratio));
    let efficiency = median(runs.iter().map(RunFigures::efficiency_ratio));
    let _ = writeln!(
        text,
        "\n{:<44}{:>12}{:>12}",
        "targets (medians)", "target", "measured"
    );
    target_line(
        &mut text,
        "ingest events/s per ingest-node core",
        TARGET_EVENTS_PER_CORE,
        per_core,
        Unit::Count,
    );
    target_line(
        &mut text,
        "ingest/baseline, events/s",
        TARGET_BASELINE_RATIO,
        throughput,
        Unit::Decimal,
    );
    target_line(
        &mut text,
        "ingest/baseline, events per node CPU-s",
        TARGET_BASELINE_RATIO,
        efficiency,
        Unit::Decimal,
    );
    text
}

fn target_line(text: &mut String, label: &str, target: f64, measured: Option<f64>, unit: Unit) {
    let verdict = match measured {
        Some(value) if value >= target => "PASS",
        Some(_) => "MISS",
        None => "n/a",
    };
    let target = format!(">= {}", format_value(Some(target), unit));
    let _ = writeln!(
        text,
        "{label:<44}{target:>12}{:>12}  {verdict}",
        format_value(measured, unit)
    );
}

fn table(title: &str, rows: &[Row]) -> String {
    let mut text = format!(
        "{title:<32}{:>12}{:>12}{:>17}\n",
        "baseline", "ingest", "ingest/baseline"
    );
    for row in rows {
        let [baseline, ingest, ratio] = row.values;
        let ratio = ratio.map_or_else(String::new, |ratio| format!("{ratio:.2}"));
        let line = format!(
            "{:<32}{:>12}{:>12}{ratio:>17}",
            row.label,
            format_value(baseline, row.unit),
            format_value(ingest, row.unit)
        );
        let _ = writeln!(text, "{}", line.trim_end());
    }
    text
}

/// The median of the known values, `None` when there are none.
pub(crate) fn median(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut known: Vec<f64> = values.flatten().collect();
    if known.is_empty() {
        return None;
    }
    known.sort_by(f64::total_cmp);
    let middle = known.len() / 2;
    Some(if known.len().is_multiple_of(2) {
        (known[middle - 1] + known[middle]) / 2.0
    } else {
        known[middle]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_skip_unknown_values_and_average_the_middle_pair() {
        assert_eq!(
            median([Some(3.0), None, Some(1.0), Some(2.0)].into_iter()),
            Some(2.0)
        );
        assert_eq!(
            median([Some(4.0), Some(1.0), Some(2.0), Some(3.0)].into_iter()),
            Some(2.5)
        );
        assert_eq!(median([None, None].into_iter()), None);
    }
}
