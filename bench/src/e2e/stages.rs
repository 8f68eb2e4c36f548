//! The stage breakdown of `tally bench e2e`: where a canary's ingest-to-queryable time goes,
//! stage by stage along its path, and whether the stages add up to the whole.
//!
//! The bench measures three stages itself, per canary: its request until ingest answered
//! (Kafka's acknowledgement included), the wait from its rows being written until a usage
//! query shows it (estimated, see [`visible_to_seen`]), and the whole. The others come from
//! the two nodes' `/metrics` over the measured window ([`StageMetrics`]): the ingest node's
//! produce→ack per request, the aggregator's waits per record and the steps of its passes per
//! pass. Their quantiles are interpolated within the Prometheus buckets, so they are coarse;
//! their means are exact.
//!
//! A canary cannot be followed into its pass from `/metrics`, so the check is on means, which
//! add: the sum of the stages' means along a canary's path (each step of a pass as its total
//! over the window's passes, divided by the passes) against the canaries' mean
//! ingest-to-queryable. The record's Kafka timestamp is taken when ingest hands it to the
//! producer, before the broker's acknowledgement, so ack→fetched is known by its mean only:
//! the mean produced→fetched minus the mean produce→ack.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tally_meter::aggregator::telemetry::{
    FETCHED_TO_PASS, PASS_TABLES, PRODUCED_TO_FETCHED, RECORD_WAIT, STAGE_DURATION, SUMS_TABLE,
    Stage, insert_stage,
};

use super::canary::CanaryFigures;
use super::stage_metrics::{Histogram, PRODUCE_ACK, StageMetrics};
use crate::format::{Unit, divide, format_value};
use crate::histogram::DurationHistogram;

/// How far the sum of the stages may be from the end-to-end mean before the breakdown is
/// flagged as doubtful.
pub(super) const SUM_TOLERANCE: f64 = 0.10;

/// Durations measured by the bench: their quantiles (HdrHistogram) and their exact mean.
#[derive(Debug, Clone)]
pub(super) struct Durations {
    histogram: DurationHistogram,
    total: Duration,
    count: u32,
}

impl Durations {
    /// None yet, holding durations up to `max`.
    pub(super) fn up_to(max: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            histogram: DurationHistogram::up_to(max)?,
            total: Duration::ZERO,
            count: 0,
        })
    }

    /// Records one duration.
    pub(super) fn record(&mut self, duration: Duration) {
        self.histogram.record(duration);
        self.total += duration;
        self.count += 1;
    }

    /// A quantile, in milliseconds; `None` when nothing was recorded.
    pub(super) fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        self.histogram.quantile_ms(quantile)
    }

    /// The mean, in milliseconds; `None` when nothing was recorded.
    pub(super) fn mean_ms(&self) -> Option<f64> {
        divide(self.total.as_secs_f64() * 1000.0, f64::from(self.count))
    }
}

/// A canary's wait from its rows being written to the end of the first usage query that shows
/// it. The rows became readable after the last query that started without seeing them (or the
/// canary's send, if later) and before the query that `asked` and saw them; the midpoint is
/// taken, so each estimate is within half the time between two queries.
pub(super) fn visible_to_seen(
    sent: Instant,
    previous_query: Option<Instant>,
    asked: Instant,
    seen: Instant,
) -> Duration {
    let after = previous_query
        .map_or(sent, |previous| previous.max(sent))
        .min(asked);
    let readable = after + asked.duration_since(after) / 2;
    seen.saturating_duration_since(readable)
}

/// How a row counts in the sum along a canary's path.
#[derive(Debug, Clone, Copy, PartialEq)]
enum OnPath {
    /// Its mean.
    Mean,
    /// Its total over the window's passes, per pass.
    PerPass,
    /// Not on the path: a figure behind another row, or a step after the canary is readable.
    No,
}

/// One line of the breakdown.
struct Row {
    label: String,
    /// What one observation is: canary, request, record, pass.
    per: &'static str,
    count: Option<f64>,
    quantiles: [Option<f64>; 3],
    mean: Option<f64>,
    on_path: OnPath,
    /// Its contribution to the sum along the path, in milliseconds.
    contribution: Option<f64>,
}

impl Row {
    fn measured(label: &str, durations: &Durations, on_path: OnPath) -> Self {
        let mean = durations.mean_ms();
        Self {
            label: label.to_owned(),
            per: "canary",
            count: Some(f64::from(durations.count)),
            quantiles: [0.50, 0.95, 0.99].map(|quantile| durations.quantile_ms(quantile)),
            mean,
            on_path,
            contribution: mean,
        }
    }

    /// A stage known only by its mean, on the path.
    fn derived(label: &str, per: &'static str, mean: Option<f64>) -> Self {
        Self {
            label: label.to_owned(),
            per,
            count: None,
            quantiles: [None; 3],
            mean,
            on_path: OnPath::Mean,
            contribution: mean,
        }
    }

    fn scraped(
        label: &str,
        per: &'static str,
        histogram: Option<&Histogram>,
        on_path: OnPath,
        passes: f64,
    ) -> Self {
        let empty = Histogram::default();
        let histogram = histogram.unwrap_or(&empty);
        let contribution = match on_path {
            // A step no pass took (no retries, no insert of that table) adds 0.
            OnPath::PerPass => divide(histogram.sum_ms(), passes),
            _ => histogram.mean_ms(),
        };
        Self {
            label: label.to_owned(),
            per,
            count: Some(histogram.count()),
            quantiles: [0.50, 0.95, 0.99].map(|quantile| histogram.quantile_ms(quantile)),
            mean: histogram.mean_ms(),
            on_path,
            contribution,
        }
    }
}

/// The breakdown of the window: every stage, the sum along a canary's path and the whole.
pub(super) struct Breakdown {
    /// The stages on a canary's path, in order.
    path: Vec<Row>,
    /// The steps of a pass off a canary's path: its other inserts, which run alongside the
    /// sums', its commit and its gathering.
    after: Vec<Row>,
    /// Ingest-to-queryable, per canary.
    whole: Row,
    /// Passes in the window.
    passes: f64,
}

impl Breakdown {
    /// The stages measured by the canaries and read from the nodes' `/metrics` over the window.
    pub(super) fn new(canaries: &CanaryFigures, metrics: &StageMetrics) -> Self {
        let passes = metrics.passes();
        let pass_step = |label: &str, stage: &str, on_path: OnPath| {
            Row::scraped(
                label,
                "pass",
                metrics.get(STAGE_DURATION, stage),
                on_path,
                passes,
            )
        };
        let produce_ack = metrics.get(PRODUCE_ACK, "");
        let produced_to_fetched = metrics.get(RECORD_WAIT, PRODUCED_TO_FETCHED);
        // The record's timestamp is taken when ingest hands it to the producer, before the ack.
        let ack_to_fetched = produced_to_fetched
            .and_then(Histogram::mean_ms)
            .zip(produce_ack.and_then(Histogram::mean_ms))
            .map(|(lag, ack)| lag - ack);
        let mut path = vec![
            Row::measured(
                "request → ack (ingest)",
                &canaries.acknowledgement,
                OnPath::Mean,
            ),
            Row::derived("ack → fetched (consumer lag)", "record", ack_to_fetched),
            Row::scraped(
                "  produced → fetched",
                "record",
                produced_to_fetched,
                OnPath::No,
                passes,
            ),
            Row::scraped(
                "  produce → ack",
                "request",
                produce_ack,
                OnPath::No,
                passes,
            ),
            Row::scraped(
                "fetched → pass starts (gather wait)",
                "record",
                metrics.get(RECORD_WAIT, FETCHED_TO_PASS),
                OnPath::Mean,
                passes,
            ),
        ];
        for (label, stage) in [
            ("meters reload", Stage::MetersReload),
            ("dedup lookup", Stage::DedupLookup),
            ("block resume reads", Stage::BlockResume),
            ("row building", Stage::RowBuilding),
            ("previous pass's write", Stage::PreviousWrite),
            ("write retries", Stage::WriteRetries),
        ] {
            path.push(pass_step(label, stage.name(), OnPath::PerPass));
        }
        // A pass's inserts run at once: its sums are readable when theirs is done.
        path.push(pass_step(
            &format!("insert {SUMS_TABLE}"),
            &insert_stage(SUMS_TABLE),
            OnPath::PerPass,
        ));
        path.push(Row::measured(
            "rows written → seen by a query",
            &canaries.visible_to_seen,
            OnPath::Mean,
        ));
        let mut after: Vec<Row> = PASS_TABLES
            .iter()
            .filter(|table| **table != SUMS_TABLE)
            .map(|table| pass_step(&format!("insert {table}"), &insert_stage(table), OnPath::No))
            .collect();
        after.push(pass_step("commit", Stage::Commit.name(), OnPath::No));
        after.push(pass_step(
            "gather (a pass's reading)",
            Stage::Gather.name(),
            OnPath::No,
        ));
        Self {
            path,
            after,
            whole: Row::measured("ingest-to-queryable", &canaries.latency, OnPath::No),
            passes,
        }
    }

    /// The sum of the stages' means along a canary's path, in milliseconds; `None` if one of
    /// them is unknown.
    pub(super) fn path_sum_ms(&self) -> Option<f64> {
        self.path
            .iter()
            .filter(|row| row.on_path != OnPath::No)
            .try_fold(0.0, |sum, row| Some(sum + row.contribution?))
    }

    /// The sum along the path over the canaries' mean ingest-to-queryable.
    pub(super) fn ratio(&self) -> Option<f64> {
        divide(self.path_sum_ms()?, self.whole.mean?)
    }

    /// The breakdown table, and a line if the stages do not add up.
    pub(super) fn table(&self) -> String {
        let mut text = format!(
            "{:<40}{:>8}{:>9}{:>10}{:>10}{:>10}{:>10}\n",
            "where the time goes (ms)", "per", "count", "p50", "p95", "p99", "mean"
        );
        let write_row = |text: &mut String, row: &Row| {
            let [p50, p95, p99] = row
                .quantiles
                .map(|value| format_value(value, Unit::Decimal));
            let _ = writeln!(
                text,
                "{:<40}{:>8}{:>9}{p50:>10}{p95:>10}{p99:>10}{:>10}",
                row.label,
                row.per,
                format_value(row.count, Unit::Count),
                format_value(row.mean, Unit::Decimal),
            );
        };
        for row in &self.path {
            write_row(&mut text, row);
        }
        write_row(&mut text, &self.whole);
        let sum_line = |text: &mut String, label: &str, value: Option<f64>| {
            let _ = writeln!(
                text,
                "{label:<86}{:>10}",
                format_value(value, Unit::Decimal)
            );
        };
        sum_line(&mut text, "sum of the stages (means)", self.path_sum_ms());
        sum_line(&mut text, "stages / ingest-to-queryable", self.ratio());
        let _ = writeln!(
            text,
            "off the path (the pass's other inserts run alongside its sums'):"
        );
        for row in &self.after {
            write_row(&mut text, row);
        }
        let _ = writeln!(
            text,
            "{:<40}{:>8}{:>9}",
            "passes",
            "",
            format_value(Some(self.passes), Unit::Count)
        );
        match self.ratio() {
            Some(ratio) if (ratio - 1.0).abs() <= SUM_TOLERANCE => {}
            ratio => {
                let _ = writeln!(
                    text,
                    "!! the stages add up to {} of the ingest-to-queryable mean, not within \
                     {:.0} % of it: a stage is missing or mismeasured",
                    format_value(ratio, Unit::Decimal),
                    SUM_TOLERANCE * 100.0
                );
            }
        }
        text
    }
}

/// What the breakdown means, printed after it.
pub(super) fn footer() -> String {
    format!(
        "where the time goes: the canary rows are the window's canaries, measured by the bench;\n\
         the others are read from the nodes' /metrics over the window: produce → ack per request\n\
         ({PRODUCE_ACK}), the waits per record ({RECORD_WAIT}) and\n\
         the steps per pass ({STAGE_DURATION}). Their quantiles are interpolated\n\
         within Prometheus buckets (coarse); their means are exact. The sum adds the means of the\n\
         stages on a canary's path, a pass's steps as their total over the passes; ack → fetched\n\
         is produced → fetched (from the record's Kafka timestamp, taken when ingest hands the\n\
         record to the producer) minus produce → ack; rows written → seen runs from the midpoint\n\
         between the last query that missed the canary and the one that showed it."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_becomes_readable_halfway_between_the_query_that_missed_it_and_the_one_that_saw_it()
    {
        let sent = Instant::now();
        let at = |millis| sent + Duration::from_millis(millis);
        let waited = visible_to_seen(sent, Some(at(900)), at(910), at(925));
        assert_eq!(waited, Duration::from_millis(20));
        // With no query before it, or one before its send, the send bounds it.
        assert_eq!(
            visible_to_seen(sent, None, at(10), at(12)),
            Duration::from_millis(7)
        );
        assert_eq!(
            visible_to_seen(sent, Some(sent - Duration::from_secs(1)), at(10), at(12)),
            Duration::from_millis(7)
        );
    }
}
