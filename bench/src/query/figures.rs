//! The figures of `tally bench query` and what it prints from them: the load, then one table
//! with a column per query type (the `me` baseline, `lastHour`, `usage`, and both together),
//! the verdicts on the target and a footer saying what the figures mean; and the short
//! reasons that fail the bench.

use std::fmt::Write as _;

use super::TARGET_P99_MS;
use super::load::Loaded;
use super::workers::{Latency, PhaseMeasurements};
use crate::cli::BenchQueryArgs;
use crate::format::{Unit, divide, format_value, grouped};

/// Width of the label column.
const LABEL: usize = 40;
/// Width of a figure column.
const COLUMN: usize = 12;

/// Everything the bench measured.
pub(super) struct Figures {
    /// Tenants queried.
    tenants: u32,
    /// What loading the events measured.
    loaded: Loaded,
    /// The `me` phase.
    baseline: PhaseMeasurements,
    /// The `lastHour` and `usage` phase.
    queries: PhaseMeasurements,
    /// Both kinds of the queries phase together.
    both: Latency,
}

/// Figures of one query type: its latency, and the phase it ran in.
struct Column<'a> {
    latency: &'a Latency,
    phase: &'a PhaseMeasurements,
    /// Whether the phase's CPU figures go in this column.
    cpu: bool,
    /// Whether its p99 is compared with the baseline's.
    ratio: bool,
}

impl Column<'_> {
    fn queries(&self) -> f64 {
        self.latency.count() as f64
    }

    fn per_sec(&self) -> Option<f64> {
        divide(self.queries(), self.phase.seconds)
    }

    fn cores(&self, cpu_secs: f64) -> Option<Option<f64>> {
        self.cpu
            .then(|| divide(cpu_secs, self.phase.cpu_window_secs))
    }
}

impl Figures {
    /// Combines what the load and both phases measured.
    pub(super) fn new(
        args: &BenchQueryArgs,
        loaded: Loaded,
        baseline: PhaseMeasurements,
        queries: PhaseMeasurements,
    ) -> Self {
        let mut both = queries.last_hour.clone();
        // Both histograms have the same bounds, which always add.
        let _ = both.merge(&queries.usage);
        Self {
            tenants: args.tenants,
            loaded,
            baseline,
            queries,
            both,
        }
    }

    /// The load's table, then the queries' table and the verdicts.
    pub(super) fn table(&self) -> String {
        let loaded = &self.loaded;
        let mut text = format!("{:<LABEL$}{:>COLUMN$}\n", "load", "value");
        let rows: Vec<(&str, Option<f64>, Unit)> = vec![
            ("tenants", Some(f64::from(self.tenants)), Unit::Count),
            ("events sent", Some(loaded.events_sent as f64), Unit::Count),
            ("events accepted", Some(loaded.accepted as f64), Unit::Count),
            (
                "load time (s)",
                Some(loaded.load_time.as_secs_f64()),
                Unit::Decimal,
            ),
            (
                "events accepted/s",
                divide(loaded.accepted as f64, loaded.load_time.as_secs_f64()),
                Unit::Count,
            ),
            (
                "meters counted them after the load (s)",
                loaded.counted_after.map(|after| after.as_secs_f64()),
                Unit::Decimal,
            ),
            ("events counted", Some(loaded.counted as f64), Unit::Count),
        ];
        for (label, value, unit) in rows {
            let _ = writeln!(
                text,
                "{label:<LABEL$}{:>COLUMN$}",
                format_value(value, unit)
            );
        }

        let columns = [
            Column {
                latency: &self.baseline.me,
                phase: &self.baseline,
                cpu: true,
                ratio: false,
            },
            Column {
                latency: &self.queries.last_hour,
                phase: &self.queries,
                cpu: false,
                ratio: true,
            },
            Column {
                latency: &self.queries.usage,
                phase: &self.queries,
                cpu: false,
                ratio: true,
            },
            Column {
                latency: &self.both,
                phase: &self.queries,
                cpu: true,
                ratio: true,
            },
        ];
        let baseline_p99 = self.baseline.me.quantile_ms(0.99);
        type Figure = fn(&Column<'_>, Option<f64>) -> Option<Option<f64>>;
        let rows: [(&str, Unit, Figure); 15] = [
            ("queries", Unit::Count, |column, _| {
                Some(Some(column.queries()))
            }),
            ("queries/s", Unit::Count, |column, _| Some(column.per_sec())),
            ("latency p50 (ms)", Unit::Decimal, |column, _| {
                Some(column.latency.quantile_ms(0.50))
            }),
            ("latency p95 (ms)", Unit::Decimal, |column, _| {
                Some(column.latency.quantile_ms(0.95))
            }),
            ("latency p99 (ms)", Unit::Decimal, |column, _| {
                Some(column.latency.quantile_ms(0.99))
            }),
            ("latency max (ms)", Unit::Decimal, |column, _| {
                Some(column.latency.quantile_ms(1.0))
            }),
            ("p99 / baseline p99", Unit::Decimal, |column, baseline| {
                column
                    .ratio
                    .then(|| divide(column.latency.quantile_ms(0.99)?, baseline?))
            }),
            ("failed queries (whole phase)", Unit::Count, |column, _| {
                column
                    .cpu
                    .then_some(Some(column.phase.failures.total() as f64))
            }),
            ("API-node CPU (s)", Unit::Decimal, |column, _| {
                column.cpu.then_some(Some(column.phase.api_cpu_secs))
            }),
            ("API-node CPU (cores)", Unit::Decimal, |column, _| {
                column.cores(column.phase.api_cpu_secs)
            }),
            ("queries/s per API-node core", Unit::Count, |column, _| {
                column
                    .cpu
                    .then(|| divide(column.queries(), column.phase.api_cpu_secs))
            }),
            ("API-node CPU per query (ms)", Unit::Decimal, |column, _| {
                column
                    .cpu
                    .then(|| divide(column.phase.api_cpu_secs * 1000.0, column.queries()))
            }),
            ("bench client CPU (cores)", Unit::Decimal, |column, _| {
                column.cores(column.phase.client_cpu_secs)
            }),
            ("other processes CPU (cores)", Unit::Decimal, |column, _| {
                let phase = column.phase;
                column.cores(
                    (phase.machine_busy_secs - phase.api_cpu_secs - phase.client_cpu_secs).max(0.0),
                )
            }),
            ("machine CPU busy (cores)", Unit::Decimal, |column, _| {
                column.cores(column.phase.machine_busy_secs)
            }),
        ];
        let _ = writeln!(
            text,
            "\n{:<LABEL$}{:>COLUMN$}{:>COLUMN$}{:>COLUMN$}{:>COLUMN$}",
            format!("measured ({:.1} s per phase)", self.queries.seconds),
            "baseline",
            "lastHour",
            "usage",
            "both"
        );
        for (label, unit, figure) in rows {
            let mut line = format!("{label:<LABEL$}");
            for column in &columns {
                let cell = figure(column, baseline_p99)
                    .map_or_else(String::new, |value| format_value(value, unit));
                let _ = write!(line, "{cell:>COLUMN$}");
            }
            let _ = writeln!(text, "{}", line.trim_end());
        }
        for line in self.problem_lines() {
            let _ = writeln!(text, "!! {line}");
        }
        let _ = writeln!(
            text,
            "\n{:<LABEL$}{:>COLUMN$}{:>COLUMN$}",
            "target", "target", "measured"
        );
        let target = format!("< {}", format_value(Some(TARGET_P99_MS), Unit::Count));
        for (label, latency) in [
            ("lastHour p99 (ms)", &self.queries.last_hour),
            ("usage p99 (ms)", &self.queries.usage),
        ] {
            let p99 = latency.quantile_ms(0.99);
            let verdict = match p99 {
                Some(p99) if p99 < TARGET_P99_MS => "PASS",
                _ => "FAIL",
            };
            let _ = writeln!(
                text,
                "{label:<LABEL$}{target:>COLUMN$}{:>COLUMN$}  {verdict}",
                format_value(p99, Unit::Decimal)
            );
        }
        text
    }

    /// A line for everything that makes the figures doubtful.
    fn problem_lines(&self) -> Vec<String> {
        let loaded = &self.loaded;
        let mut lines = Vec::new();
        for line in loaded.failures.lines() {
            lines.push(format!("load: {line}"));
        }
        if loaded.accepted < loaded.events_sent {
            lines.push(format!(
                "load: ingest accepted {} of the {} events sent",
                grouped(loaded.accepted),
                grouped(loaded.events_sent)
            ));
        }
        if loaded.tenants_behind > 0 {
            lines.push(format!(
                "the meters of {} tenants had not counted every accepted event in time \
                 ({} of {} counted)",
                grouped(loaded.tenants_behind as u64),
                grouped(loaded.counted),
                grouped(loaded.accepted)
            ));
        }
        for (name, phase) in [("baseline", &self.baseline), ("queries", &self.queries)] {
            for line in phase.failures.lines() {
                lines.push(format!("{name}: {line}"));
            }
        }
        for (name, latency) in [
            ("baseline", &self.baseline.me),
            ("lastHour", &self.queries.last_hour),
            ("usage", &self.queries.usage),
        ] {
            if latency.count() == 0 {
                lines.push(format!(
                    "no {name} query was answered in the measured window"
                ));
            }
        }
        lines
    }

    /// Short reasons to fail the bench, if any.
    pub(super) fn problems(&self) -> Vec<String> {
        let loaded = &self.loaded;
        let mut problems = Vec::new();
        if loaded.failures.total() > 0 || loaded.accepted < loaded.events_sent {
            problems.push(format!(
                "{} failed load requests, {} of {} events accepted",
                loaded.failures.total(),
                loaded.accepted,
                loaded.events_sent
            ));
        }
        if loaded.tenants_behind > 0 {
            problems.push("the meters did not count every accepted event".to_owned());
        }
        let failed = self.baseline.failures.total() + self.queries.failures.total();
        if failed > 0 {
            problems.push(format!("{failed} failed queries"));
        }
        if [
            &self.baseline.me,
            &self.queries.last_hour,
            &self.queries.usage,
        ]
        .iter()
        .any(|latency| latency.count() == 0)
        {
            problems.push("a query type was never answered in the measured window".to_owned());
        }
        problems
    }
}

/// What the figures mean, printed after the tables.
pub(super) fn footer() -> String {
    "Latency: per POST /graphql, from just before the request to the end of its answer, on\n\
     keep-alive connections, one query at a time per worker; only queries started and answered\n\
     in the measured window count. baseline: `{ me { tenantId } }` (key lookup and one catalog\n\
     read, no ClickHouse), in a phase of its own before the queries phase, where each worker\n\
     alternates `lastHour` (60 minutes) and `usage` (last 24 h per hour, grouped by region) for a\n\
     random tenant and one of its two meters. Every query also looks the meter up in the catalog.\n\
     The bench, the API node, ClickHouse and PostgreSQL share this machine's cores (\"other\n\
     processes\" is mostly ClickHouse)."
        .to_owned()
}
