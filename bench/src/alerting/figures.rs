//! What `tally bench alerting` measured, the table it prints, and what makes its figures
//! untrustworthy.

use std::fmt::Write as _;

use tally_alerting::evaluate::Report;

use super::baseline::OneByOne;
use super::delivery::Delivery;
use super::load::Plan;
use crate::format::{Unit, divide, format_value, grouped};
use crate::report::median;

/// One evaluation pass over every due rule.
pub(super) struct Pass {
    /// Its duration, in seconds.
    pub(super) secs: f64,
    /// What it did.
    pub(super) report: Report,
}

/// The rules evaluated one by one.
pub(super) struct Baseline {
    /// Rules in the sample.
    pub(super) rules: u64,
    /// Its duration, in seconds.
    pub(super) secs: f64,
    /// What it did.
    pub(super) done: OneByOne,
}

/// What the bench measured.
pub(super) struct Figures {
    /// The sizes.
    pub(super) plan: Plan,
    /// `alerting.eval_interval_secs`.
    pub(super) interval_secs: f64,
    /// Seconds to create the tenants, meters and rules and write the rollups.
    pub(super) setup_secs: f64,
    /// The series each pass measures, and how many of them breach.
    pub(super) series: (u64, u64),
    /// The cold pass, then the steady ones.
    pub(super) passes: Vec<Pass>,
    /// The baseline.
    pub(super) baseline: Baseline,
    /// The delivery phase, unless `--latency-tenants` was 0.
    pub(super) delivery: Option<Delivery>,
}

impl Figures {
    /// The steady passes' median duration, in seconds.
    fn steady_secs(&self) -> Option<f64> {
        median(self.passes.iter().skip(1).map(|pass| Some(pass.secs)))
    }

    /// The table printed.
    pub(super) fn table(&self) -> String {
        let rules = self.plan.rules();
        let cold = &self.passes[0];
        let steady = &self.passes[1..];
        let steady_secs = self.steady_secs();
        let per_second = |count: u64, secs: Option<f64>| {
            format_value(
                secs.and_then(|secs| divide(count as f64, secs)),
                Unit::Count,
            )
        };
        let mut text = String::new();
        let _ = writeln!(
            text,
            "tally bench alerting: {} threshold rules ({} per tenant) over {} tenants × {} \
             subjects, evaluated every {} s\n",
            grouped(rules),
            self.plan.rules_per_tenant,
            grouped(u64::from(self.plan.tenants)),
            self.plan.subjects,
            self.interval_secs,
        );
        let _ = writeln!(
            text,
            "{:<44}{:>14}{:>14}",
            "",
            "cold pass",
            format!("steady ({})", steady.len())
        );
        let most = |figure: fn(&Pass) -> u64| steady.iter().map(figure).max().unwrap_or(0);
        let rows = [
            (
                "rules evaluated (steady: most)",
                grouped(cold.report.evaluated),
                grouped(most(|pass| pass.report.evaluated)),
            ),
            (
                "rules failed (steady: most)",
                cold.report.failed.len().to_string(),
                grouped(most(|pass| pass.report.failed.len() as u64)),
            ),
            (
                "time (s; steady: median)",
                format!("{:.2}", cold.secs),
                format_value(steady_secs, Unit::Decimal),
            ),
            (
                "rules/s",
                per_second(rules, Some(cold.secs)),
                per_second(rules, steady_secs),
            ),
            (
                "pass / eval interval",
                format_value(divide(cold.secs, self.interval_secs), Unit::Decimal),
                format_value(
                    steady_secs.and_then(|secs| divide(secs, self.interval_secs)),
                    Unit::Decimal,
                ),
            ),
        ];
        for (name, cold, steady) in rows {
            let _ = writeln!(text, "{name:<44}{cold:>14}{steady:>14}");
        }
        let list = |figure: &dyn Fn(&Pass) -> String| {
            steady.iter().map(figure).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            text,
            "{:<44}{}",
            "steady passes, time (s)",
            list(&|pass| format!("{:.2}", pass.secs))
        );
        let _ = writeln!(
            text,
            "{:<44}{:>14}  steady: {}",
            "transitions recorded",
            grouped(cold.report.transitions),
            list(&|pass| grouped(pass.report.transitions))
        );
        let (series, breaching) = self.series;
        let _ = writeln!(
            text,
            "{:<44}{:>14}",
            "series measured per pass",
            grouped(series)
        );
        let _ = writeln!(
            text,
            "{:<44}{:>14}",
            "series breaching per pass",
            grouped(breaching)
        );
        let _ = writeln!(
            text,
            "{:<44}{:>14.2}\n",
            "setup: tenants, rules, rollups (s)", self.setup_secs
        );

        let baseline = &self.baseline;
        let baseline_rate = divide(baseline.done.evaluated as f64, baseline.secs);
        let _ = writeln!(
            text,
            "one query and transaction per rule, as before batching, on {} rules",
            grouped(baseline.rules)
        );
        let _ = writeln!(
            text,
            "{:<44}{:>14}",
            "rules evaluated",
            grouped(baseline.done.evaluated)
        );
        let _ = writeln!(
            text,
            "{:<44}{:>14}",
            "transitions recorded",
            grouped(baseline.done.transitions)
        );
        let _ = writeln!(text, "{:<44}{:>14.2}", "time (s)", baseline.secs);
        let _ = writeln!(
            text,
            "{:<44}{:>14}",
            "rules/s",
            format_value(baseline_rate, Unit::Count)
        );
        let _ = writeln!(
            text,
            "{:<44}{:>14}",
            format!("a pass of {} rules at that rate (s)", grouped(rules)),
            format_value(
                baseline_rate.and_then(|rate| divide(rules as f64, rate)),
                Unit::Decimal
            )
        );
        let steady_rate = steady_secs.and_then(|secs| divide(rules as f64, secs));
        let _ = writeln!(
            text,
            "{:<44}{:>14}",
            "steady rules/s / one-by-one rules/s",
            format_value(
                steady_rate
                    .zip(baseline_rate)
                    .and_then(|(steady, one)| divide(steady, one)),
                Unit::Decimal
            )
        );
        if let Some(delivery) = &self.delivery {
            self.delivery_rows(&mut text, delivery);
        }
        let verdict = match steady_secs {
            Some(secs) if secs < self.interval_secs => "PASS",
            _ => "FAIL",
        };
        let _ = write!(
            text,
            "\ntarget: a steady pass of {} rules within the {} s interval: {} s  {verdict}",
            grouped(rules),
            self.interval_secs,
            format_value(steady_secs, Unit::Decimal),
        );
        if let Some(delivery) = &self.delivery {
            let p95 = delivery.percentile(0.95);
            let verdict = match p95 {
                Some(secs)
                    if secs < delivery.target_secs
                        && delivery.latencies.len() == delivery.tenants =>
                {
                    "PASS"
                }
                _ => "FAIL",
            };
            let _ = write!(
                text,
                "\ntarget: breach to notification p95 below the interval, group_wait and 2 s \
                 ({} s): {} s  {verdict}",
                delivery.target_secs,
                format_value(p95, Unit::Decimal),
            );
        }
        text
    }

    /// The delivery phase's rows.
    fn delivery_rows(&self, text: &mut String, delivery: &Delivery) {
        let _ = writeln!(
            text,
            "\nbreach to webhook notification, alerting role running, {} more tenants \
             (group_wait {} s, eval interval {} s)",
            grouped(delivery.tenants as u64),
            delivery.group_wait_secs,
            self.interval_secs,
        );
        let latency = |share: f64| format_value(delivery.percentile(share), Unit::Decimal);
        let rows = [
            (
                "breaches notified",
                format!(
                    "{} of {}",
                    grouped(delivery.latencies.len() as u64),
                    grouped(delivery.tenants as u64)
                ),
            ),
            ("notifications repeated", grouped(delivery.repeats)),
            ("latency p50 (s)", latency(0.5)),
            ("latency p95 (s)", latency(0.95)),
            ("latency max (s)", latency(1.0)),
        ];
        for (name, value) in rows {
            let _ = writeln!(text, "{name:<44}{value:>14}");
        }
    }

    /// Why the figures do not describe the evaluation of every rule, if they do not.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let rules = self.plan.rules();
        for (number, pass) in self.passes.iter().enumerate() {
            let report = &pass.report;
            if let Some(first) = report.failed.first() {
                problems.push(format!(
                    "pass {}: {} rules failed, first {first}",
                    number + 1,
                    report.failed.len()
                ));
            }
            if report.evaluated != rules {
                problems.push(format!(
                    "pass {} evaluated {} rules, not {rules} (run it in a namespace of its own)",
                    number + 1,
                    report.evaluated
                ));
            }
        }
        let cold = self.passes[0].report.transitions;
        if cold != self.series.1 {
            problems.push(format!(
                "the cold pass recorded {cold} transitions, not one per breaching series ({})",
                self.series.1
            ));
        }
        if let Some(delivery) = &self.delivery
            && delivery.latencies.len() != delivery.tenants
        {
            problems.push(format!(
                "{} of the {} breaches of the delivery phase were not notified",
                delivery.tenants - delivery.latencies.len(),
                delivery.tenants
            ));
        }
        if self.baseline.done.evaluated != self.baseline.rules {
            problems.push(format!(
                "{} of the {} rules evaluated one by one were left alone",
                self.baseline.rules - self.baseline.done.evaluated.min(self.baseline.rules),
                self.baseline.rules
            ));
        }
        problems
    }
}
