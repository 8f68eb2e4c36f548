//! What `tally bench slo` measured, the table it prints, and what makes its figures
//! untrustworthy.

use std::fmt::Write as _;

use tally_alerting::evaluate::Report;

use super::load::Plan;
use crate::format::{Unit, divide, format_value, grouped};
use crate::report::median;

/// One alert evaluation pass over every due rule.
pub(super) struct AlertPass {
    /// Its duration, in seconds.
    pub(super) secs: f64,
    /// What it did.
    pub(super) report: Report,
}

/// The SLOs measured one at a time.
pub(super) struct Baseline {
    /// SLOs in the sample.
    pub(super) slos: u64,
    /// Its duration, in seconds.
    pub(super) secs: f64,
}

/// How the counts `status()` read compare with those written.
#[derive(Default)]
pub(super) struct Exactness {
    /// SLOs checked.
    pub(super) slos: u64,
    /// Counts compared: each series' window so far and burn-rate windows.
    pub(super) counts: u64,
    /// The counts that differ, described.
    pub(super) differences: Vec<String>,
}

/// What the bench measured.
pub(super) struct Figures {
    /// The sizes.
    pub(super) plan: Plan,
    /// The series of all SLOs.
    pub(super) series: u64,
    /// The evaluation interval the passes are held against, in seconds.
    pub(super) interval_secs: f64,
    /// Rollup rows written.
    pub(super) rows: u64,
    /// Seconds to create the tenants, SLOs and rules and write the counts.
    pub(super) setup_secs: f64,
    /// Each pass of `status()` over every SLO at once, in seconds.
    pub(super) status_secs: Vec<f64>,
    /// The baseline.
    pub(super) baseline: Baseline,
    /// The first alert pass, when every series is new, then the steady ones.
    pub(super) alert_passes: Vec<AlertPass>,
    /// The counts checked.
    pub(super) exactness: Exactness,
}

impl Figures {
    /// The median `status()` pass, in seconds.
    fn status_median(&self) -> Option<f64> {
        median(self.status_secs.iter().map(|secs| Some(*secs)))
    }

    /// The steady alert passes' median, in seconds.
    fn alert_median(&self) -> Option<f64> {
        median(self.alert_passes.iter().skip(1).map(|pass| Some(pass.secs)))
    }

    /// The baseline's time, extrapolated to every SLO, in seconds.
    fn baseline_all_secs(&self) -> Option<f64> {
        divide(self.baseline.secs, self.baseline.slos as f64)
            .map(|per_slo| per_slo * self.plan.slos() as f64)
    }

    /// The table printed.
    pub(super) fn table(&self) -> String {
        let slos = self.plan.slos();
        let status = self.status_median();
        let baseline = self.baseline_all_secs();
        let decimal = |value: Option<f64>| format_value(value, Unit::Decimal);
        let share =
            |secs: Option<f64>| decimal(secs.and_then(|secs| divide(secs, self.interval_secs)));
        let mut text = String::new();
        let _ = writeln!(
            text,
            "tally bench slo: {} SLOs ({} per tenant) over {} tenants, {} series, every burn-rate \
             window and window so far, evaluated every {} s\n",
            grouped(slos),
            self.plan.slos_per_tenant,
            grouped(u64::from(self.plan.tenants)),
            grouped(self.series),
            self.interval_secs,
        );
        let extrapolated = if self.baseline.slos < slos {
            format!(" ({} measured, extrapolated)", grouped(self.baseline.slos))
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "{:<44}{:>14}{:>16}",
            "status() of every SLO", "all at once", "one at a time"
        );
        let rows = [
            (
                format!(
                    "time for {} SLOs (s; median of {})",
                    grouped(slos),
                    self.status_secs.len()
                ),
                decimal(status),
                decimal(baseline),
            ),
            (
                "SLOs/s".to_owned(),
                format_value(
                    status.and_then(|secs| divide(slos as f64, secs)),
                    Unit::Count,
                ),
                format_value(
                    baseline.and_then(|secs| divide(slos as f64, secs)),
                    Unit::Count,
                ),
            ),
            (
                "time / eval interval".to_owned(),
                share(status),
                share(baseline),
            ),
        ];
        for (name, at_once, one_at_a_time) in rows {
            let _ = writeln!(text, "{name:<44}{at_once:>14}{one_at_a_time:>16}");
        }
        let _ = writeln!(
            text,
            "{:<44}{}",
            "passes, all at once (s)",
            self.status_secs
                .iter()
                .map(|secs| format!("{secs:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            text,
            "{:<44}{:>14}{extrapolated}",
            "one at a time / all at once",
            decimal(baseline.zip(status).and_then(|(one, all)| divide(one, all))),
        );
        let exactness = &self.exactness;
        let _ = writeln!(
            text,
            "{:<44}{:>14}  of {} counts of {} SLOs differ",
            "exact counts: written vs status()",
            grouped(exactness.differences.len() as u64),
            grouped(exactness.counts),
            grouped(exactness.slos),
        );

        let cold = &self.alert_passes[0];
        let steady = &self.alert_passes[1..];
        let alert = self.alert_median();
        let _ = writeln!(
            text,
            "\n{:<44}{:>14}{:>16}",
            "alert evaluation of their rules",
            "first pass",
            format!("steady ({})", steady.len())
        );
        let most = |figure: fn(&AlertPass) -> u64| steady.iter().map(figure).max().unwrap_or(0);
        let rows = [
            (
                "rules evaluated (steady: most)",
                grouped(cold.report.evaluated),
                grouped(most(|pass| pass.report.evaluated)),
            ),
            (
                "rules failed (steady: most)",
                grouped(cold.report.failed.len() as u64),
                grouped(most(|pass| pass.report.failed.len() as u64)),
            ),
            (
                "transitions recorded (steady: most)",
                grouped(cold.report.transitions),
                grouped(most(|pass| pass.report.transitions)),
            ),
            (
                "time (s; steady: median)",
                format!("{:.2}", cold.secs),
                decimal(alert),
            ),
            ("pass / eval interval", share(Some(cold.secs)), share(alert)),
        ];
        for (name, first, steady) in rows {
            let _ = writeln!(text, "{name:<44}{first:>14}{steady:>16}");
        }
        let _ = writeln!(
            text,
            "\n{:<44}{:>14}",
            "rollup rows written",
            grouped(self.rows)
        );
        let _ = writeln!(
            text,
            "{:<44}{:>14.2}\n",
            "setup: tenants, SLOs, rules, counts (s)", self.setup_secs
        );
        let verdict = |secs: Option<f64>| match secs {
            Some(secs) if secs < self.interval_secs && self.problems().is_empty() => "PASS",
            _ => "FAIL",
        };
        let _ = writeln!(
            text,
            "target: burn rates of {} SLOs for all windows within the {} s interval: {} s  {}",
            grouped(slos),
            self.interval_secs,
            decimal(status),
            verdict(status),
        );
        let _ = write!(
            text,
            "target: a steady alert pass over their {} rules within the {} s interval: {} s  {}",
            grouped(slos),
            self.interval_secs,
            decimal(alert),
            verdict(alert),
        );
        text
    }

    /// Why the figures do not describe exact SLO measurements and full passes, if they do
    /// not.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let exactness = &self.exactness;
        if let Some(first) = exactness.differences.first() {
            problems.push(format!(
                "{} of {} counts differ from those written, first {first}",
                exactness.differences.len(),
                exactness.counts
            ));
        }
        let slos = self.plan.slos();
        for (number, pass) in self.alert_passes.iter().enumerate() {
            let report = &pass.report;
            if let Some(first) = report.failed.first() {
                problems.push(format!(
                    "alert pass {}: {} rules failed, first {first}",
                    number + 1,
                    report.failed.len()
                ));
            }
            if report.evaluated != slos {
                problems.push(format!(
                    "alert pass {} evaluated {} rules, not {slos} (run it in a namespace of its \
                     own)",
                    number + 1,
                    report.evaluated
                ));
            }
        }
        problems
    }
}
